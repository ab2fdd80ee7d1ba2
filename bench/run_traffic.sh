#!/bin/sh
# bench/run_traffic.sh — traffic pipeline throughput on one core, next to Wireshark's tshark on the same
# captures in the same run. Reports numbers; asserts nothing.
#
#   bench/run_traffic.sh [DATA_DIR]      (default: ../shared/data relative to the repository root)
#
# Needs gcc, libpcap; tshark and mergecap (Debian: apt-get install tshark) for the comparison.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-${DATA_DIR:-$root/../shared/data}}
work=$(mktemp -d /tmp/weft_bench_traffic.XXXXXX)
trap 'rm -rf "$work"' EXIT

cc=${CC:-cc}
"$cc" -std=gnu11 -O2 -DNDEBUG -I"$root" "$root"/bench/bench_traffic.c "$root"/traffic/*.c -lpcap -lz -lzstd -lm \
    -o "$work/bench_traffic"

echo "== weft: every capture of $data/ndpi/pcap and $data/slips, the flow logs, the ustc CSVs"
"$work/bench_traffic" --data "$data"

if ! command -v tshark >/dev/null 2>&1 || ! command -v mergecap >/dev/null 2>&1; then
    echo "(tshark / mergecap not installed: no comparison)"
    exit 0
fi
# One file holding every Ethernet capture (pcap allows one link type per file; libpcap cannot read a
# pcapng whose interfaces differ), so neither tool pays a start-up cost per file. Captures capinfos
# cannot read to the end are left out: mergecap stops at them.
ls "$data"/ndpi/pcap/*.pcap* "$data"/slips/*.pcap >"$work/files.txt"
capinfos -T -r -E $(cat "$work/files.txt") 2>/dev/null | awk -F'\t' '$2 == "ether" {print $1}' >"$work/eth.txt"
mergecap -a -s 65535 -F pcap -w "$work/all.pcap" $(cat "$work/eth.txt") 2>"$work/mergecap.err" || true
packets=$(capinfos -c -M "$work/all.pcap" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
echo
echo "== the $(wc -l <"$work/eth.txt") Ethernet captures merged into one pcap ($packets packets)"
"$work/bench_traffic" --data "$data" --no-graphs "$work/all.pcap"
runs=5
echo
echo "== tshark -q -z conv,tcp -z conv,udp on that file, $runs runs (CPU seconds, user + system)"
total=0
i=0
while [ $i -lt $runs ]; do
    /usr/bin/time -f "%U %S" -o "$work/time" tshark -q -z conv,tcp -z conv,udp -r "$work/all.pcap" >"$work/conv.txt" 2>/dev/null || true
    t=$(awk '{print $1 + $2}' "$work/time")
    total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
    i=$((i + 1))
done
awk -v t="$total" -v n="$runs" -v p="$packets" \
    'BEGIN {printf "tshark conv (tcp+udp)                    %12.0f packets /s  (%d runs, %.2f CPU s each)\n", p * n / t, n, t / n}'
conv=$(grep -c '<->' "$work/conv.txt" || true)
echo "    $conv tcp+udp conversations reported by tshark"
