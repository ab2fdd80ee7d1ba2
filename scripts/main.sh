#!/usr/bin/env bash
# scripts/main.sh — set up, build weft (Release, in build/), and run the main job on the bundled
# models: inspect and run every models/patterns/*/model.onnx on the ref backend, print what it
# computed, then check them all with `weft conformance`. Safe to run again: it installs and rebuilds
# only what is missing or stale.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WEFT_ROOT"

weft_install_packages || exit 1

log "building Release into build/ (compiler output: build/build.log)"
mkdir -p build
if ! weft_build build Release -DWEFT_BUILD_TESTS=OFF >build/build.log 2>&1; then
    tail -n 60 build/build.log
    echo "error: build failed (full output in build/build.log)" >&2
    exit 1
fi
echo "built build/weft (compiler output in build/build.log)"

WEFT=build/weft
if [ ! -x "$WEFT" ]; then
    echo "error: $WEFT was not built (the command-line tool is missing from this checkout)" >&2
    exit 1
fi

# Graph input names of a model, in order: from inputs.txt where a folder has one, else from
# `weft inspect --json`.
input_names() {
    local dir="$1"
    if [ -f "$dir/inputs.txt" ]; then
        cat "$dir/inputs.txt"
    else
        "$WEFT" inspect --json "$dir/model.onnx" |
            python3 -c 'import json, sys; print("\n".join(i["name"] for i in json.load(sys.stdin)["inputs"]))'
    fi
}

status=0
models=(models/*/model.onnx models/patterns/*/model.onnx)
for model in "${models[@]}"; do
    [ -e "$model" ] || continue
    dir="$(dirname "$model")"
    name="${dir#models/}"
    log "$name: weft inspect"
    "$WEFT" inspect "$model" || { status=1; continue; }

    # test_data_set_0/input_K.pb holds graph input K.
    args=()
    k=0
    while read -r input; do
        [ -n "$input" ] || continue
        args+=(--input "$input=$dir/test_data_set_0/input_$k.pb")
        k=$((k + 1))
    done < <(input_names "$dir")
    log "$name: weft run (ref backend)"
    "$WEFT" run "$model" "${args[@]}" --backend ref --output-dir "out/$name" || status=1
done

log "weft conformance models/patterns (outputs checked against ONNX Runtime's)"
"$WEFT" conformance models/patterns --backend ref || status=1

# The reference exports are checked against PyTorch eager; exports that MANIFEST marks 'deviates'
# (ONNX Runtime disagrees with eager too) fail here by design, so this table is a report.
log "weft conformance models (outputs checked against PyTorch eager; see models/MANIFEST)"
"$WEFT" conformance models --backend ref -j "$WEFT_JOBS" || true

if [ $status -eq 0 ]; then log "main job: done"; else log "main job: FAILED (see above)"; fi
exit $status
