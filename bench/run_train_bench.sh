#!/usr/bin/env bash
# bench/run_train_bench.sh — one training step of SAGE-mean 3 layers at 20k/100k, weft against PyTorch +
# PyG eager in one run (bench/train_bench.py): builds bench_train (Release, build-bench/), uses
# bench/.venv (bench/setup_peers.sh) or $WEFT_BENCH_PY, writes bench/results/train-<date>.json.
#   bench/run_train_bench.sh [--threads T] [--steps N] [--nodes N --edges E]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${WEFT_BENCH_BUILD:-build-bench}"
py="${WEFT_BENCH_PY:-$root/bench/.venv/bin/python}"
[ -x "$py" ] || bash bench/setup_peers.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_train >/dev/null
mkdir -p bench/results
exec "$py" bench/train_bench.py --bench-train "$build/bench_train" --json "bench/results/train-$(date +%F).json" "$@"
