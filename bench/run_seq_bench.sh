#!/usr/bin/env bash
# Builds weft (Release, build-cvr) and times the sequence and attention reference models (LSTM and GRU
# classifiers, nn.TransformerEncoder, ViT, tiny BERT and GPT-2) on weft's onednn backend and on ONNX Runtime
# at batch 1 and 8, sequence length 64, 1 and 2 threads (bench/cnn_bench.py --set seq). Needs bench/.venv
# (onnxruntime, onnx).
#   bash bench/run_seq_bench.sh [cnn_bench.py options, e.g. --seq 128]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-cvr -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-cvr -j2 --target weft_cli >/dev/null
exec bench/.venv/bin/python bench/cnn_bench.py --weft build-cvr/weft --set seq "$@"
