#!/usr/bin/env bash
# scripts/test.sh — the whole test suite: set-up, a Debug build with tests (build-test/), CUnit tests,
# ONNX's node conformance suite on every backend (WEFT_BACKENDS, default: every backend of the build),
# the Python tests (cross-checks against ONNX Runtime, hostile inputs,
# command-line tests), then all of it again on an ASan+UBSan build (build-asan/), then clang's
# ASan+UBSan build (build-clang/) on the unit tests, hostile inputs and traffic, and a short slice of the
# libFuzzer harnesses (scripts/fuzz.sh --ci, build-fuzz/). Idempotent. Exits
# non-zero if any stage failed; the last line is "N passed, N failed" over the stages.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WEFT_ROOT"

VENV="$WEFT_ROOT/.venv"
PY="$VENV/bin/python"
EXPECTED="tests/conformance/expected_pass.txt"
passed=0
failed=0
report=()
start_all=$SECONDS

# stage NAME COMMAND... : runs a stage, times it, records the result.
stage() {
    local name="$1" t0=$SECONDS rc
    shift
    log "stage: $name"
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        report+=("PASS  $name ($((SECONDS - t0)) s)")
    else
        failed=$((failed + 1))
        report+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s)")
    fi
    return 0
}

setup_venv() {
    if [ -x "$PY" ] && "$PY" -c 'import numpy, onnxruntime, onnx, pytest' 2>/dev/null; then
        echo "virtualenv .venv: ready"
        return 0
    fi
    [ -x "$PY" ] || python3 -m venv "$VENV" || return 1
    "$PY" -m pip install -q --upgrade pip &&
        "$PY" -m pip install -q numpy onnxruntime "onnx<1.23" pytest
}

# Python test folders that hold pytest files.
# Every tests/<suite>/ with test_*.py files is a pytest suite, except tests/cli (a standalone script,
# run below), so a new suite runs without touching this file.
py_test_dirs() {
    local d
    for d in tests/*/; do
        d="${d%/}"
        [ "$d" = tests/cli ] && continue
        compgen -G "$d/test_*.py" >/dev/null && echo "$d"
    done
}

run_ctest() { ctest --test-dir "$1" --output-on-failure -j "$WEFT_JOBS" --timeout 900; }

# The backends the suite checks: WEFT_BACKENDS (comma-separated), else every backend of the build.
suite_backends() {
    local b="${WEFT_BACKENDS:-}"
    [ -n "$b" ] || b="$("$1/weft" --backends)" || return 1
    echo "${b//,/ }"
}

# run_conformance BUILD_DIR BACKEND: the node tests on one backend (steps it does not take run on ref).
run_conformance() {
    local weft="$1/weft" backend="$2" node_dir log="$1/conformance-$2.log" rc
    [ -x "$weft" ] || { echo "error: $weft was not built" >&2; return 1; }
    node_dir="$(weft_onnx_node_dir "$PY")" || return 1
    if [ -f "$EXPECTED" ]; then
        "$weft" conformance "$node_dir" --backend "$backend" -j "$WEFT_JOBS" --expect "$EXPECTED" >"$log" 2>&1
        rc=$?
    else
        # No expected list yet: run and report; only a crash of the runner itself fails the stage.
        echo "($EXPECTED does not exist yet: reporting only)"
        "$weft" conformance "$node_dir" --backend "$backend" -j "$WEFT_JOBS" >"$log" 2>&1
        rc=$?
        [ $rc -le 1 ] && rc=0
    fi
    grep -E '^(FAIL|REGRESSION)' "$log" | head -n 100
    tail -n 1 "$log"
    echo "(full list: $log)"
    return $rc
}

run_python_tests() {
    local weft="$1/weft" dirs rc=0
    [ -x "$weft" ] || { echo "error: $weft was not built" >&2; return 1; }
    mapfile -t dirs < <(py_test_dirs)
    if [ ${#dirs[@]} -gt 0 ]; then
        WEFT_BACKENDS="$(suite_backends "$1" | tr ' ' ',')" WEFT_BIN="$WEFT_ROOT/$weft" PYTHON="$PY" \
            "$PY" -m pytest -q -p no:cacheprovider "${dirs[@]}" || rc=1
    fi
    # The command-line tests are a standalone script that takes the binary as its argument.
    if [ -f tests/cli/test_cli.py ]; then
        WEFT="$WEFT_ROOT/$weft" "$PY" tests/cli/test_cli.py "$WEFT_ROOT/$weft" || rc=1
    elif [ -f tests/cli/test_cli.sh ]; then
        WEFT="$WEFT_ROOT/$weft" PYTHON="$PY" bash tests/cli/test_cli.sh "$WEFT_ROOT/$weft" || rc=1
    fi
    return $rc
}

# The same three stages on one build folder.
suite() {
    local dir="$1" label="$2" b
    stage "$label: ctest" run_ctest "$dir"
    for b in $(suite_backends "$dir"); do
        stage "$label: ONNX node conformance ($b)" run_conformance "$dir" "$b"
    done
    stage "$label: python tests" run_python_tests "$dir"
}

# clang: the second sanitizer build and the libFuzzer harnesses; libclang-rt-14-dev holds clang's
# sanitizer and libFuzzer runtimes, which Debian 12's clang only recommends
WEFT_APT_PACKAGES+=(clang libclang-rt-14-dev)
stage "system packages" weft_install_packages
stage "python virtualenv" setup_venv

stage "build Debug (build-test/)" weft_build build-test Debug -DWEFT_BUILD_TESTS=ON
suite build-test "debug"

# Sanitizers: leaks are findings; a finding aborts the process, which every stage reports as a failure.
# allocator_may_return_null: an absurd allocation must come back as NULL (weft reports it), not abort.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
stage "build ASan+UBSan (build-asan/)" weft_build build-asan Debug -DWEFT_SANITIZE=ON -DWEFT_BUILD_TESTS=ON
suite build-asan "asan"

# The same sanitizers under clang, whose checks are not gcc's (pointer arithmetic on NULL, ...): the
# unit tests and the Python suites that feed weft hostile and real traffic input. clang emits OpenMP
# code only for its own runtime and the process keeps GNU's (oneDNN's), so here the kernels run on one
# thread; the gcc builds above cover the threaded paths.
run_clang_python_tests() {
    WEFT_BIN="$WEFT_ROOT/build-clang/weft" "$PY" -m pytest -q -p no:cacheprovider tests/hostile tests/traffic
}
stage "build clang ASan+UBSan (build-clang/)" weft_build build-clang Debug -DCMAKE_C_COMPILER=clang \
    -DWEFT_SANITIZE=ON -DWEFT_BUILD_TESTS=ON -DOpenMP_C_FLAGS=-fopenmp=libgomp -DOpenMP_C_LIB_NAMES=gomp \
    -DOpenMP_gomp_LIBRARY="$(gcc -print-file-name=libgomp.so)"
stage "clang: ctest" run_ctest build-clang
stage "clang: python tests (hostile inputs, traffic)" run_clang_python_tests

# Coverage-guided fuzzing (tests/fuzz/, libFuzzer under ASan+UBSan, build-fuzz/): every harness once over
# its committed findings, then a fixed-seed slice of a few seconds each; any finding fails the stage.
stage "fuzz: libFuzzer slice (build-fuzz/)" bash scripts/fuzz.sh --ci

log "summary ($((SECONDS - start_all)) s)"
printf '  %s\n' "${report[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
