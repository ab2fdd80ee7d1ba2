#!/usr/bin/env bash
# scripts/fuzz.sh — coverage-guided fuzzing of weft's parsers with the libFuzzer harnesses of tests/fuzz/.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [HARNESS...]   run each harness N seconds (default 60), J at a time
#   scripts/fuzz.sh --ci                                     the CI slice: every harness once over its
#                                                            regression inputs, then a short fixed-seed run
#   scripts/fuzz.sh --list                                   the harnesses
#   --no-build                                               run the harnesses as last built
#
# Builds build-fuzz/ (clang, -fsanitize=fuzzer,address,undefined; WEFT_FUZZ=ON), gathers the seed corpora
# (tests/fuzz/make_corpus.sh → build-fuzz/corpus-seed/), and runs the harnesses. Long runs grow
# build-fuzz/corpus-run/<harness>/, kept between runs (outside the repository), and go on after a finding:
# each finding ends one libFuzzer process, whose input is kept in build-fuzz/findings/<harness>/, and a new
# one starts on the grown corpus until the time is up. Prints one row per harness: libFuzzer processes
# run, executions, coverage (cov: edges, ft: features, from libFuzzer's final stats) and findings.
# Exits non-zero when any harness found something (or, with --ci, when a regression input fails).
#
# A finding is reproduced by running the harness on it: build-fuzz/fuzz_onnx build-fuzz/findings/fuzz_onnx/crash-...
# (ASAN_OPTIONS=fast_unwind_on_malloc=0 gives leak reports whole stacks through uninstrumented libraries).
# Once fixed, copy it to tests/fuzz/regressions/<harness>/ so the CI slice keeps checking it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WEFT_ROOT"

BUILD="$WEFT_ROOT/build-fuzz"
HARNESSES=(fuzz_onnx fuzz_tensor fuzz_plan fuzz_pcap fuzz_frame fuzz_zeek fuzz_binetflow fuzz_wireshark
           fuzz_netflow fuzz_csv fuzz_cic fuzz_unsw fuzz_nfdump fuzz_export_pcap fuzz_flowcsv fuzz_labels
           fuzz_graph fuzz_scaler)
CI_SECONDS=12      # per harness in --ci: 18 harnesses, two at a time, about two minutes
CI_SEED=20240601   # a fixed seed, so a CI failure reproduces
MAX_RESTARTS=20    # findings per harness before a long run gives up on it

seconds=60
jobs=1
ci=0
build=1
selected=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --jobs | -j) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    --ci) ci=1; shift ;;
    --no-build) build=0; shift ;;
    --list) printf '%s\n' "${HARNESSES[@]}"; exit 0 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) selected+=("$1"); shift ;;
    esac
done
if [ ${#selected[@]} -eq 0 ]; then
    selected=("${HARNESSES[@]}")
else
    for h in "${selected[@]}"; do
        [[ " ${HARNESSES[*]} " == *" $h "* ]] || { echo "fuzz.sh: no harness '$h' (see --list)" >&2; exit 2; }
    done
fi
if [ $ci -eq 1 ]; then
    seconds=$CI_SECONDS
    [ "$jobs" -gt 1 ] || jobs=2
fi

# --- build: clang with libgomp, as scripts/test.sh's build-clang/ (clang's OpenMP code runs on one thread
# --- there; the harnesses ask for one anyway) ---
if [ $build -eq 1 ]; then
    log "build build-fuzz/ (clang, libFuzzer, ASan+UBSan)"
    cmake -S "$WEFT_ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON \
        -DWEFT_BUILD_TESTS=OFF -DOpenMP_C_FLAGS=-fopenmp=libgomp -DOpenMP_C_LIB_NAMES=gomp \
        -DOpenMP_gomp_LIBRARY="$(gcc -print-file-name=libgomp.so)" >/dev/null || exit 1
    cmake --build "$BUILD" -j "$WEFT_JOBS" --target fuzz_all || exit 1
fi
for h in "${selected[@]}"; do
    [ -x "$BUILD/$h" ] || { echo "fuzz.sh: $BUILD/$h was not built" >&2; exit 1; }
done

log "seed corpora"
bash "$WEFT_ROOT/tests/fuzz/make_corpus.sh" "$BUILD/corpus-seed" >"$BUILD/corpus-seed.log" || {
    cat "$BUILD/corpus-seed.log"
    exit 1
}

# libFuzzer's options for every run. Sanitizer options are baked into the harnesses (fuzz_common.c).
common_opts=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2560 -close_fd_mask=1)

# regressions HARNESS: each committed finding once; returns non-zero if any still fails
regressions() {
    local h="$1" dir="$WEFT_ROOT/tests/fuzz/regressions/$1" files=()
    [ -d "$dir" ] || return 0
    mapfile -t files < <(find "$dir" -maxdepth 1 -type f ! -name 'README*' | sort)
    [ ${#files[@]} -gt 0 ] || return 0
    "$BUILD/$h" "${common_opts[@]}" "${files[@]}" >"$BUILD/logs/$h.regressions.log" 2>&1
}

# fuzz_one HARNESS SECONDS: runs libFuzzer until the time is up (restarting after each finding, unless
# --ci) and writes the summary row to logs/HARNESS.row
fuzz_one() {
    local h="$1" secs="$2" out runs=0 execs=0 cov=0 ft=0 left start=$SECONDS e before after findings
    local fdir="$BUILD/findings/$h" log="$BUILD/logs/$h.log" extra=()
    mkdir -p "$fdir"
    if [ $ci -eq 1 ]; then
        out="$BUILD/corpus-ci/$h" # fresh each time: the slice depends on the seeds only
        rm -rf "$out"
        extra=(-seed=$CI_SEED)
    else
        out="$BUILD/corpus-run/$h"
    fi
    mkdir -p "$out"
    before=$(find "$fdir" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    : >"$log"
    local reg="ok"
    regressions "$h" || reg="FAIL"
    while :; do
        left=$((secs - (SECONDS - start)))
        [ $left -ge 1 ] || break
        runs=$((runs + 1))
        "$BUILD/$h" "${common_opts[@]}" "${extra[@]}" -max_total_time=$left -artifact_prefix="$fdir/" \
            "$out" "$BUILD/corpus-seed/$h" >>"$log.run" 2>&1
        e=$(grep -a 'stat::number_of_executed_units' "$log.run" | tail -n 1 | awk '{print $2}')
        execs=$((execs + ${e:-0}))
        local last
        last=$(grep -aE '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log.run" | tail -n 1)
        if [ -n "$last" ]; then
            cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$last")
            ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$last")
        fi
        cat "$log.run" >>"$log"
        rm -f "$log.run"
        after=$(find "$fdir" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
        # --ci stops at the first finding; a long run goes on, up to MAX_RESTARTS findings
        [ $ci -eq 0 ] && [ $((after - before)) -lt $MAX_RESTARTS ] || break
    done
    after=$(find "$fdir" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    findings=$((after - before))
    printf '%-18s %5d %12d %7d %8d %7d %9d %11s %6d\n' "$h" "$runs" "$execs" "$cov" "$ft" \
        "$(find "$out" -type f | wc -l)" "$findings" "$reg" "$((SECONDS - start))" >"$BUILD/logs/$h.row"
}

mkdir -p "$BUILD/logs" "$BUILD/findings"
log "fuzzing ${#selected[@]} harnesses, $seconds s each, $jobs at a time$([ $ci -eq 1 ] && echo ", seed $CI_SEED")"
t0=$SECONDS
running=0
for h in "${selected[@]}"; do
    rm -f "$BUILD/logs/$h.row"
    if [ "$jobs" -le 1 ]; then
        fuzz_one "$h" "$seconds"
    else
        fuzz_one "$h" "$seconds" &
        running=$((running + 1))
        if [ $running -ge "$jobs" ]; then
            wait -n
            running=$((running - 1))
        fi
    fi
done
wait

printf '\n%-18s %5s %12s %7s %8s %7s %9s %11s %6s\n' harness runs executions cov ft corpus findings regressions secs
status=0
for h in "${selected[@]}"; do
    row="$BUILD/logs/$h.row"
    if [ ! -f "$row" ]; then
        printf '%-18s (no result: see %s)\n' "$h" "build-fuzz/logs/$h.log"
        status=1
        continue
    fi
    cat "$row"
    read -r _ _ _ _ _ _ f r _ <"$row"
    [ "$f" -eq 0 ] && [ "$r" = ok ] || status=1
done
echo "total $((SECONDS - t0)) s; logs: build-fuzz/logs/, findings: build-fuzz/findings/"
if [ $status -ne 0 ]; then
    echo "findings (reproduce: build-fuzz/<harness> FILE):"
    for h in "${selected[@]}"; do
        grep -aE '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$BUILD/logs/$h.log" "$BUILD/logs/$h.regressions.log" 2>/dev/null |
            sort -u | head -n 5 | sed "s|^|  $h: |"
    done
fi
exit $status
