#!/usr/bin/env bash
# tests/fuzz/make_corpus.sh OUT_DIR — gathers the seed corpus of every libFuzzer harness into
# OUT_DIR/<harness>/ from the project's own files (tests/data, models/, the Python fuzzers' regression
# models), the datasets in ../shared/data when they are there (small captures, the heads of flow logs,
# nDPI label files) and the few hand-made seeds committed in tests/fuzz/corpus/<harness>/. Seeds are
# copied, never committed from here, so the repository stays small. Idempotent: OUT_DIR is rebuilt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: make_corpus.sh OUT_DIR}"
DATA="${WEFT_SHARED_DATA:-$ROOT/../shared/data}"
rm -rf "$OUT"
mkdir -p "$OUT"

# seed HARNESS FILE [NAME]: copies FILE into the harness's folder (name flattened from the path)
seed() {
    local h="$1" f="$2" name="${3:-}"
    [ -f "$f" ] || return 0
    [ -n "$name" ] || name="$(echo "${f#"$ROOT"/}" | tr '/ ' '__')"
    mkdir -p "$OUT/$h"
    cp "$f" "$OUT/$h/$name"
}
# head_seed HARNESS FILE LINES: the first LINES lines of a (large) log
head_seed() {
    [ -f "$2" ] || return 0
    mkdir -p "$OUT/$1"
    head -n "$3" "$2" >"$OUT/$1/$(basename "$2").head$3"
}

# committed hand-made seeds
for d in "$ROOT"/tests/fuzz/corpus/*/; do
    [ -d "$d" ] || continue
    h="$(basename "$d")"
    mkdir -p "$OUT/$h"
    cp "$d"* "$OUT/$h/" 2>/dev/null || true
done

# ONNX models: the importer's test files, the small models, the Python fuzzers' regressions
for f in "$ROOT"/tests/data/import/*.onnx "$ROOT"/tests/fuzz/regressions/*/model.onnx; do seed fuzz_onnx "$f"; done
while IFS= read -r f; do seed fuzz_onnx "$f"; done < <(find "$ROOT/models" -name '*.onnx' -size -64k | sort)

# tensors: small .npy and TensorProto .pb files
while IFS= read -r f; do seed fuzz_tensor "$f"; done < <(find "$ROOT/tests" "$ROOT/models" \( -name '*.npy' -o -name '*.pb' \) -size -8k | sort | head -n 120)

# captures: the small ones (whole files, pcap and pcapng)
if [ -d "$DATA" ]; then
    while IFS= read -r f; do
        seed fuzz_pcap "$f" "$(basename "$f")"
        seed fuzz_export_pcap "$f" "$(basename "$f")"
    done < <(find "$DATA" \( -name '*.pcap' -o -name '*.pcapng' \) -size -6k | sort)
fi

# single frames for fuzz_frame: byte 0 the link type's index in fuzz_frame.c's table, byte 1 0 (open
# tunnels), then the frame, cut from the classic pcap files above
python3 - "$OUT/fuzz_pcap" "$OUT/fuzz_frame" <<'PY'
import os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
# link-layer header type in the file -> index in fuzz_frame.c's link_types[]
index = {1: 0, 113: 1, 276: 2, 101: 5, 228: 6, 229: 7, 9: 8, 50: 9, 104: 10, 0: 11, 108: 12, 105: 13}
os.makedirs(dst, exist_ok=True)
n = 0
for name in sorted(os.listdir(src)) if os.path.isdir(src) else []:
    b = open(os.path.join(src, name), "rb").read()
    if len(b) < 24: continue
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"): e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"): e = ">"
    else: continue
    link = struct.unpack(e + "I", b[20:24])[0] & 0xffff
    if link not in index: continue
    off, k = 24, 0
    while off + 16 <= len(b) and k < 6:
        incl = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        frame = b[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) != incl: break
        with open(os.path.join(dst, f"{name}.{k}"), "wb") as f:
            f.write(bytes([index[link], 0]) + frame)
        k += 1; n += 1
PY

# flow logs: the heads of the shared datasets' logs
if [ -d "$DATA" ]; then
    for f in "$DATA"/stratosphere/*conn.log* "$DATA"/slips/*conn.log*; do head_seed fuzz_zeek "$f" 40; done
    for f in "$DATA"/slips/*.binetflow; do head_seed fuzz_binetflow "$f" 30; done
    for f in "$DATA"/ustc-tfc2016/*.csv; do head_seed fuzz_wireshark "$f" 20; done
    # nDPI label files: the small ones
    while IFS= read -r f; do seed fuzz_labels "$f" "$(basename "$f")"; done < <(find "$DATA/ndpi/labels" -name '*.out' -size -3k | sort | head -n 80)
fi

# generic CSV (first line: the column map): a Wireshark conversation and a binetflow under a map
if [ -d "$DATA" ]; then
    mkdir -p "$OUT/fuzz_csv"
    f="$(ls "$DATA"/ustc-tfc2016/*.csv 2>/dev/null | head -n 1)"
    if [ -n "$f" ]; then
        { echo 'src=Address A,dst=Address B,sport=Port A,dport=Port B,packets=Packets,bytes=Bytes,start=Rel Start,duration=Duration'
          head -n 20 "$f"; } >"$OUT/fuzz_csv/wireshark.map"
    fi
    f="$(ls "$DATA"/slips/*.binetflow 2>/dev/null | head -n 1)"
    if [ -n "$f" ]; then
        { echo 'src=SrcAddr,dst=DstAddr,sport=Sport,dport=Dport,proto=Proto,start=StartTime,duration=Dur,packets=TotPkts,bytes=TotBytes,fwd_bytes=SrcBytes,label=Label'
          head -n 20 "$f"; } >"$OUT/fuzz_csv/binetflow.map"
    fi
fi

# the graph builder: 10 parameter bytes (fuzz_graph.c) before each flow CSV
mkdir -p "$OUT/fuzz_graph"
for f in "$OUT"/fuzz_flowcsv/*; do
    [ -f "$f" ] || continue
    b="$(basename "$f")"
    # window 5 s (19), stride = window, default origin, 5 slices, graph stride 0, 20 flow memory,
    # no flow cap, 512 windows per flow; then 1 s windows with stride 0.5 s, 3 slices, a cap of 4
    { printf '\x13\x00\x00\x05\x00\x14\x00\x00\x02\x00'; cat "$f"; } >"$OUT/fuzz_graph/$b.w5"
    { printf '\x03\x02\x00\x03\x01\x02\x04\x10\x00\x00'; cat "$f"; } >"$OUT/fuzz_graph/$b.w1"
done

# compressed inputs: the readers take gzip and zstd files (told by their magic number), so one seed of
# each file reader also comes compressed
for h in fuzz_pcap fuzz_zeek fuzz_binetflow fuzz_flowcsv fuzz_labels fuzz_export_pcap; do
    f="$(ls "$OUT/$h" 2>/dev/null | head -n 1)"
    [ -n "$f" ] || continue
    gzip -9 -c "$OUT/$h/$f" >"$OUT/$h/$f.gz"
    if command -v zstd >/dev/null 2>&1; then zstd -q -19 -c "$OUT/$h/$f" >"$OUT/$h/$f.zst"; fi
done

for d in "$OUT"/*/; do printf '%-22s %4d seeds\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
