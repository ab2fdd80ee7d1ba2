#!/usr/bin/env bash
# scripts/main.sh — set up, build weft (Release, in build/), and run the main job: inspect and run
# every bundled model (models/*/model.onnx, models/patterns/*/model.onnx) on the fastest backends of
# the build and print what it computed, check them with `weft conformance` on every backend, the
# traffic path on real captures from ../shared/data (flows -> graphs -> the paper's encoder on one of
# those graphs), then a short cross-backend benchmark next to ONNX Runtime. Safe to run again: it
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
# the backends that can run here (once: a built backend that cannot, cuda without a GPU, says so here)
BACKENDS="$("$WEFT" --backends)"

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
    log "$name: weft run (every backend of the build, fastest first: $BACKENDS)"
    "$WEFT" run "$model" "${args[@]}" --output-dir "out/$name" || status=1
done

log "weft conformance models/patterns (outputs checked against ONNX Runtime's)"
"$WEFT" conformance models/patterns || status=1

# The reference exports are checked against PyTorch eager (test_data_set_*/output_N.pb), except those
# models/MANIFEST marks 'deviates' with reference 'onnxruntime': such an export computes something else
# than eager (the manifest's deviation column says what), so weft is checked against ONNX Runtime's
# outputs instead (onnx_output_N.pb, or ONNX Runtime run now where a set lacks them). conformance reads
# a folder of links that puts those outputs where it looks for the expected ones.
manifest_field() { # manifest_field NAME COLUMN: the column of NAME's row in models/MANIFEST
    awk -F'\t' -v name="$1" -v col="$2" '
        /^#/ { next }
        !header { for (i = 1; i <= NF; i++) at[$i] = i; header = 1; next }
        $1 == name && (col in at) { print $(at[col]); exit }' models/MANIFEST
}
ORT_PY="$WEFT_ROOT/.venv/bin/python"
[ -x "$ORT_PY" ] || ORT_PY=python3
# ONNX Runtime's outputs of one test set, written as onnx_output_N.pb into OUT: ort_outputs MODEL SET OUT
ort_outputs() {
    "$ORT_PY" - "$@" <<'PY'
import glob, os, sys
import onnx, onnxruntime as ort
from onnx import numpy_helper
model, set_dir, out = sys.argv[1:]
so = ort.SessionOptions()
so.log_severity_level = 3  # errors only: the exports' declared shapes make it warn on every run
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feeds = {}
for i, inp in enumerate(sess.get_inputs()):
    t = onnx.TensorProto()
    with open(os.path.join(set_dir, f"input_{i}.pb"), "rb") as f:
        t.ParseFromString(f.read())
    feeds[inp.name] = numpy_helper.to_array(t)
for j, (o, v) in enumerate(zip(sess.get_outputs(), sess.run(None, feeds))):
    with open(os.path.join(out, f"onnx_output_{j}.pb"), "wb") as f:
        f.write(numpy_helper.from_array(v, o.name).SerializeToString())
PY
}
check_dir=out/conformance-models
rm -rf "$check_dir" && mkdir -p "$check_dir"
by_ort=()
for model in models/*/model.onnx; do
    [ -e "$model" ] || continue
    dir="$(dirname "$model")"
    name="${dir#models/}"
    if [ "$(manifest_field "$name" status)" = deviates ] && [ "$(manifest_field "$name" reference)" = onnxruntime ]; then
        mkdir -p "$check_dir/$name"
        ln -s "$WEFT_ROOT/$model" "$check_dir/$name/model.onnx"
        ok=1
        for set in "$dir"/test_data_set_*; do
            dst="$check_dir/$name/$(basename "$set")"
            mkdir -p "$dst"
            for f in "$set"/input_*.pb; do ln -s "$WEFT_ROOT/$f" "$dst/"; done
            if ! ls "$set"/onnx_output_*.pb >/dev/null 2>&1; then
                echo "$name $(basename "$set"): no onnx_output_*.pb, running ONNX Runtime for them"
                ort_outputs "$model" "$set" "$dst" || { ok=0; break; }
                for f in "$dst"/onnx_output_*.pb; do mv "$f" "$dst/${f##*/onnx_}"; done
            else
                for f in "$set"/onnx_output_*.pb; do ln -s "$WEFT_ROOT/$f" "$dst/${f##*/onnx_}"; done
            fi
        done
        if [ $ok -eq 1 ]; then
            by_ort+=("$name")
        else
            echo "$name: not checked (no ONNX Runtime outputs and ONNX Runtime could not run it)"
            rm -rf "${check_dir:?}/$name"
            status=1
        fi
    else
        ln -s "$WEFT_ROOT/$dir" "$check_dir/$name"
    fi
done
log "weft conformance models (outputs checked against PyTorch eager; see models/MANIFEST)"
for name in "${by_ort[@]}"; do
    echo "$name: checked against ONNX Runtime's outputs, not eager's: MANIFEST marks the export 'deviates'"
    echo "  ($(manifest_field "$name" deviation | sed 's/ -- cause: .*//'))"
done
for b in ${BACKENDS//,/ }; do
    log "weft conformance models on backend $b"
    # the models' tolerance (models/MANIFEST, tests/models): 1e-4 relative + 1e-5 absolute, not the node
    # tests' 1e-3 + 1e-7 (a layer norm's near-zero outputs are off by float rounding of its row)
    "$WEFT" conformance "$check_dir" --backend "$b" -j "$WEFT_JOBS" --rtol 1e-4 --atol 1e-5 || status=1
done

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
    # the traffic model's life cycle on a labelled Argus log: self-supervised pretraining (link
    # prediction), few-shot finetuning of the flow classifier on the pretrained encoder, prediction,
    # and an inference model for ONNX Runtime
    argus="$DATA/slips/test5-mixed.binetflow"
    if [ -f "$argus" ]; then
        log "traffic: weft pretrain (link prediction, 3 epochs) on $argus"
        "$WEFT" pretrain --model models/traffic_encoder_ts17/model.onnx --data "$argus" -o out/traffic/base.onnx \
            --epochs 3 --seed 1 --json out/traffic/pretrain.json || status=1
        log "traffic: weft finetune (flow classifier, 20 shots per class) on the pretrained encoder"
        "$WEFT" finetune --base out/traffic/base.onnx --data "$argus" -o out/traffic/task.onnx --shots 20 \
            --epochs 10 --seed 1 --json out/traffic/finetune.json 2>&1 | tail -n 12 || status=1
        log "traffic: weft predict and weft export"
        "$WEFT" predict --model out/traffic/task.onnx --data "$argus" -o out/traffic/predictions.csv 2>&1 |
            tail -n 3 || status=1
        "$WEFT" export out/traffic/task.onnx -o out/traffic/classifier.onnx || status=1
    fi
else
    log "traffic: skipped ($DATA not found; set WEFT_DATA_DIR)"
fi

log "benchmark: weft bench on every backend and ONNX Runtime (bench/run_bench.sh --quick)"
WEFT_BIN="$WEFT" bench/run_bench.sh --quick || status=1

if [ $status -eq 0 ]; then log "main job: done"; else log "main job: FAILED (see above)"; fi
exit $status
