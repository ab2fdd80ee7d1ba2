#!/usr/bin/env bash
# bench/run_train_bench.sh — one training step, weft against PyTorch eager in one run
# (bench/train_bench.py): SAGE-mean 3 layers at 20k/100k (PyTorch + PyG), then the traffic model's
# link-prediction step on a 10,000-flow graph. Builds bench_train and weft (Release, build-bench/), uses
# bench/.venv (bench/setup_peers.sh) or $WEFT_BENCH_PY, writes bench/results/train-<date>.json.
#   bench/run_train_bench.sh [--case sage|traffic|all] [--threads T] [--steps N] [--nodes N --edges E]
#                            [--flows N] [--traffic-data PATH] [--layers L] [--profile TOP]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${WEFT_BENCH_BUILD:-build-bench}"
py="${WEFT_BENCH_PY:-$root/bench/.venv/bin/python}"
[ -x "$py" ] || bash bench/setup_peers.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_train >/dev/null
# the traffic case builds its graph with `weft flows` / `weft graph`: an existing CLI will do when it does not build
cmake --build "$build" -j"$(nproc)" --target weft_cli >/dev/null 2>&1 || { [ -x "$build/weft" ] &&
    echo "run_train_bench: weft_cli did not build; using the existing $build/weft" >&2; }
mkdir -p bench/results
exec "$py" bench/train_bench.py --bench-train "$build/bench_train" --weft "$build/weft" --json "bench/results/train-$(date +%F).json" "$@"
