#!/usr/bin/env bash
# bench/run_bench.sh — weft against PyTorch + PyG (eager and torch.compile) and ONNX Runtime on the GNN
# cases of bench/gnn_bench.py, same model, inputs and thread count, in one run: sets up bench/.venv,
# builds weft (Release, build-bench/), runs everything, writes bench/results/<date>.json, the table in
# bench/README.md and bench/latency.svg.
#
#   bench/run_bench.sh [--threads T] [gnn_bench.py options...]
#   bench/run_bench.sh --quick     one small SAGE model: `weft bench` on every backend of the build and
#                                  ONNX Runtime (the project's .venv, no torch); prints the table only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
build="${WEFT_BENCH_BUILD:-build-bench}"
jobs="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if [ $quick -eq 1 ]; then
    # scripts/main.sh's build and venv: no torch
    weft="${WEFT_BIN:-$root/build/weft}"
    py="$root/.venv/bin/python"
    [ -x "$py" ] || py="$root/bench/.venv/bin/python"
    if [ ! -x "$weft" ]; then
        echo "run_bench.sh --quick: no weft binary at $weft (build it, or set WEFT_BIN)" >&2
        exit 1
    fi
    if ! "$py" -c 'import numpy, onnxruntime' 2>/dev/null; then
        bench/setup_peers.sh --no-torch
        py="$root/bench/.venv/bin/python"
    fi
    exec "$py" bench/gnn_bench.py --weft "$weft" --min-iters 5 --min-ms 500 --warmup-ms 200 "$@"
fi

bench/setup_peers.sh
echo "==> building weft (Release) into $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { tail -n 40 "$build/build.log"; exit 1; }
exec bench/.venv/bin/python bench/gnn_bench.py --weft "$build/weft" "$@"
