#!/usr/bin/env bash
# bench/cuda.sh — everything the cuda backend needs a GPU for, in one call, on a machine with an NVIDIA
# GPU and the CUDA toolkit (nvcc, cuBLASLt): a Release build with tests (build-gpu/), every CUDA test
# (the kernels against ref on random shapes, the device-queue runtime test), ONNX's node conformance
# suite and the reference models on the cuda backend, then bench/cuda_bench.py (the GNN cases on the CPU
# backends and on cuda: graph replay and launch-by-launch latency, aggregation bandwidth against the
# GPU's copy bandwidth), which writes bench/results/cuda_<date>.json and the table in bench/README.md.
#
#   bash bench/cuda.sh [--no-bench] [cuda_bench.py options...]
#
# Installs nothing beyond what scripts/main.sh's set-up installed (the build's apt packages, .venv with
# numpy / onnx / onnxruntime for the node tests; else a python3 with onnx). On a GPU machine without the
# build's packages and without a registry, set WEFT_DEPS_DEBS to a folder of the .deb files that
# `bash scripts/offline_deps.sh fetch DIR` downloaded elsewhere: they are unpacked under build-gpu-deps/
# (never installed) and the build uses them. Exits 1 at once, measuring nothing, without a GPU.
# The last line is "N passed, N failed" over the stages.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib.sh
build="${WEFT_GPU_BUILD:-build-gpu}"
jobs="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
bench=1
args=()
for a in "$@"; do
    if [ "$a" = --no-bench ]; then bench=0; else args+=("$a"); fi
done

if ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "bench/cuda.sh: no NVIDIA GPU here (nvidia-smi lists none): nothing built or measured" >&2
    exit 1
fi
nvidia-smi -L
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
if [ -n "${WEFT_DEPS_DEBS:-}" ]; then
    bash scripts/offline_deps.sh unpack "$WEFT_DEPS_DEBS" "$root/$build-deps" || exit 1
    eval "$(bash scripts/offline_deps.sh env "$root/$build-deps")"
fi

passed=0
failed=0
report=()
stage() {
    local name="$1" t0=$SECONDS
    shift
    echo "==> $name"
    if "$@"; then passed=$((passed + 1)); report+=("PASS  $name ($((SECONDS - t0)) s)")
    else failed=$((failed + 1)); report+=("FAIL  $name ($((SECONDS - t0)) s)"); fi
}

build_gpu() {
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=ON -DWEFT_WITH_CUDA=ON >"$build.cmake.log" 2>&1 &&
        cmake --build "$build" -j "$jobs" >"$build.build.log" 2>&1 || { tail -n 60 "$build.build.log" "$build.cmake.log"; return 1; }
    [ -z "$("$build/weft" --backends 2>/dev/null | tr ',' '\n' | grep -x cuda)" ] && { echo "the build cannot run cuda here:"; "$build/weft" --backends; return 1; }
    return 0
}
stage "build (Release, CUDA)" build_gpu
[ -x "$build/weft" ] || { printf '%s\n' "${report[@]}"; echo "$passed passed, $failed failed"; exit 1; }

unit() {
    local rc=0 t
    for t in "$build"/test_cuda_* "$build/test_backend_device"; do
        [ -x "$t" ] || continue
        echo "-- $(basename "$t")"
        "$t" || rc=1
    done
    return $rc
}
stage "CUDA unit tests (kernels against ref)" unit

PY="$root/.venv/bin/python"
[ -x "$PY" ] || PY=python3
conformance() {
    local node_dir
    node_dir="$(weft_onnx_node_dir "$PY")" || { echo "no ONNX node tests (pip install onnx into .venv)"; return 1; }
    "$build/weft" conformance "$node_dir" --backend cuda -j "$jobs" --expect tests/conformance/expected_pass.txt
}
stage "ONNX node conformance on cuda" conformance

models() {
    # the same check on onednn first: a model that misses its reference there (models/MANIFEST's
    # 'deviates' exports) is not cuda's to answer for
    "$build/weft" conformance models --backend onednn -j "$jobs" --rtol 1e-4 --atol 1e-5 >"$build/models-onednn.log" 2>&1
    "$build/weft" conformance models --backend cuda -j "$jobs" --rtol 1e-4 --atol 1e-5 >"$build/models-cuda.log" 2>&1
    tail -n 1 "$build/models-cuda.log"
    local new
    new="$(comm -13 <(grep -E '^(FAIL|ERROR)' "$build/models-onednn.log" | awk '{print $2}' | sort -u) \
                    <(grep -E '^(FAIL|ERROR)' "$build/models-cuda.log" | awk '{print $2}' | sort -u))"
    [ -z "$new" ] && return 0
    echo "models that pass on onednn but not on cuda:"
    echo "$new"
    return 1
}
stage "reference models on cuda (1e-4 relative + 1e-5 absolute)" models

if [ $bench -eq 1 ]; then
    stage "bench/cuda_bench.py" "$PY" bench/cuda_bench.py --weft "$build/weft" --probe "$build/cuda_probe" "${args[@]}"
fi
printf '%s\n' "${report[@]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
