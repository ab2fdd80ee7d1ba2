#!/usr/bin/env bash
# scripts/main.sh — set up, build weft (Release, in build/), and run the main job on the bundled
# models: inspect and run every models/patterns/*/model.onnx on the ref backend, print what it
# computed, then check them all with `weft conformance`. Safe to run again: it installs and rebuilds
# only what is missing or stale.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WEFT_ROOT"

weft_install_packages || exit 1

log "building Release into build/"
weft_build build Release -DWEFT_BUILD_TESTS=OFF || { echo "error: build failed" >&2; exit 1; }

WEFT=build/weft
if [ ! -x "$WEFT" ]; then
    echo "error: $WEFT was not built (the command-line tool is missing from this checkout)" >&2
    exit 1
fi

status=0
for model in models/patterns/*/model.onnx; do
    [ -e "$model" ] || { echo "no bundled models under models/patterns/"; break; }
    dir="$(dirname "$model")"
    name="$(basename "$dir")"
    log "$name: weft inspect"
    "$WEFT" inspect "$model" || status=1

    # inputs.txt lists the graph inputs in order; test_data_set_0/input_K.pb holds input K.
    args=()
    k=0
    while read -r input; do
        [ -n "$input" ] || continue
        args+=(--input "$input=$dir/test_data_set_0/input_$k.pb")
        k=$((k + 1))
    done <"$dir/inputs.txt"
    log "$name: weft run (ref backend)"
    "$WEFT" run "$model" "${args[@]}" --backend ref --output-dir "out/$name" || status=1
done

log "weft conformance models/patterns (outputs checked against ONNX Runtime's)"
"$WEFT" conformance models/patterns --backend ref || status=1

if [ $status -eq 0 ]; then log "main job: done"; else log "main job: FAILED (see above)"; fi
exit $status
