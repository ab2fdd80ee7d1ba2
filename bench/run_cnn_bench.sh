#!/usr/bin/env bash
# Builds weft (Release, build-cvr) and times the CNN reference models on weft's onednn backend and on
# ONNX Runtime at batch 1 and 8, 1 and 2 threads (bench/cnn_bench.py). Needs bench/.venv (onnxruntime).
#   bash bench/run_cnn_bench.sh [cnn_bench.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-cvr -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-cvr -j2 --target weft_cli >/dev/null
exec bench/.venv/bin/python bench/cnn_bench.py --weft build-cvr/weft "$@"
