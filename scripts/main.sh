#!/usr/bin/env bash
# scripts/main.sh — set up, build weft (Release, in build/), and run the main job: inspect and run
# every bundled model (models/*/model.onnx, models/patterns/*/model.onnx) on the ref backend and print
# what it computed, check them with `weft conformance`, then the traffic path on real captures from
# ../shared/data: flows -> graphs -> the paper's encoder on one of those graphs. Safe to run again: it
# installs and rebuilds only what is missing or stale.
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

# Traffic: a labelled flow log and an nDPI capture -> flows -> graphs -> embeddings.
DATA="${WEFT_DATA_DIR:-$WEFT_ROOT/../shared/data}"
if [ -d "$DATA" ]; then
    rm -rf out/traffic && mkdir -p out/traffic
    log "traffic: weft flows (Argus flow log + nDPI capture with its labels)"
    "$WEFT" flows "$DATA/slips/test5-mixed.binetflow" "$DATA/ndpi/pcap/443-chrome.pcap" \
        --labels "$DATA/ndpi/labels" -o out/traffic/flows.csv || status=1
    log "traffic: weft graph (5 s windows, 5 per graph, flow memory 20)"
    "$WEFT" graph out/traffic/flows.csv --stats --out-dir out/traffic/graphs | tail -n 12 || status=1
    # the largest graph, through the paper's encoder
    g="$(ls -S out/traffic/graphs/*/x_con.npy 2>/dev/null | head -n 1)"
    if [ -n "$g" ]; then
        g="$(dirname "$g")"
        args=()
        for f in "$g"/*.npy; do
            n="$(basename "$f" .npy)"
            [ "$n" = con_flow ] || args+=(--input "$n=$f")
        done
        log "traffic: the encoder (models/traffic_encoder_ts17) on $g"
        "$WEFT" run models/traffic_encoder_ts17/model.onnx "${args[@]}" --output-dir out/traffic/embeddings || status=1
    fi
else
    log "traffic: skipped ($DATA not found; set WEFT_DATA_DIR)"
fi

if [ $status -eq 0 ]; then log "main job: done"; else log "main job: FAILED (see above)"; fi
exit $status
