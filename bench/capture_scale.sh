#!/usr/bin/env bash
# bench/capture_scale.sh — `weft flows` (and `weft flows | weft graph -`) on captures larger than memory:
# peak RSS and rates on a 400 MB and a 4 GB capture made of shifted copies of the shared captures
# (bench/make_big_capture.py), and the rate on the shared captures themselves. Reports; asserts nothing.
#
#   bench/capture_scale.sh [--keep] [--runs N] [--sizes "400M 4G"] [--no-graph]
#
#   --keep        keep the generated captures (and reuse them on the next run)
#   --runs N      runs of every measurement (default 3; the median is reported)
#   --sizes LIST  capture sizes, the first the reference of the RSS ratio (default "400M 4G")
#   --no-graph    leave out the `weft flows | weft graph -` pipeline
#
# Environment: WEFT_SCRATCH (where the captures go; default /tmp/weft-capture-scale, outside the
# repository), DATA_DIR (default ../shared/data), WEFT_BIN (a weft binary; otherwise weft is built,
# Release, into WEFT_BENCH_BUILD, default build-bench/, as bench/run_bench.sh does), WEFT_JOBS.
# Needs GNU time at /usr/bin/time (Debian: apt-get install time) and python3.
#
# Each measurement runs under `/usr/bin/time -v` (peak RSS: "Maximum resident set size"; wall and CPU
# seconds); the cases take turns, every case once per round, so a burst of load from elsewhere falls on
# one round of every case. Packets are the records `weft flows --json` read. Writes the table to stdout
# and bench/results/capture_scale-<date>.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
keep=0 runs=3 sizes="400M 4G" graph=1
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1 ;;
    --runs) runs="$2"; shift ;;
    --sizes) sizes="$2"; shift ;;
    --no-graph) graph=0 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "capture_scale.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
data="${DATA_DIR:-$root/../shared/data}"
scratch="${WEFT_SCRATCH:-/tmp/weft-capture-scale}"
build="${WEFT_BENCH_BUILD:-build-bench}"
jobs="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if [ ! -x /usr/bin/time ] || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "capture_scale.sh: needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2
    exit 1
fi
if [ -n "${WEFT_BIN:-}" ]; then
    weft="$WEFT_BIN"
else
    echo "==> building weft (Release) into $build/"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { tail -n 40 "$build/build.log"; exit 1; }
    weft="$root/$build/weft"
fi
[ -x "$weft" ] || { echo "capture_scale.sh: no weft binary at $weft" >&2; exit 1; }

shared=()
for f in "$data"/ndpi/pcap/*.pcap* "$data"/slips/*.pcap; do [ -f "$f" ] && shared+=("$f"); done
[ ${#shared[@]} -gt 0 ] || { echo "capture_scale.sh: no captures under $data/ndpi/pcap or $data/slips" >&2; exit 1; }

mkdir -p "$scratch"
scratch="$(cd "$scratch" && pwd)"
case "$scratch/" in "$root"/*) echo "capture_scale.sh: WEFT_SCRATCH must lie outside the repository" >&2; exit 1 ;; esac
need=0
for s in $sizes; do
    b=$(numfmt --from=iec "$s")
    [ -f "$scratch/capture-$s.pcap" ] || need=$((need + b))
done
avail=$(df -P -B1 "$scratch" | awk 'NR == 2 {print $4}')
if [ "$need" -gt 0 ] && [ $((need + (need / 10) + (512 << 20))) -gt "$avail" ]; then
    echo "capture_scale.sh: $scratch has $(numfmt --to=iec "$avail") free, the captures need $(numfmt --to=iec "$need") (use --sizes, or WEFT_SCRATCH elsewhere)" >&2
    exit 1
fi
runs_dir="$scratch/runs"
rm -rf "$runs_dir"
mkdir -p "$runs_dir"
cleanup() {
    rm -rf "$runs_dir" "$scratch/flows-ref.csv"
    if [ $keep -eq 0 ]; then
        for s in $sizes; do rm -f "$scratch/capture-$s.pcap"; done
        rm -f "$scratch/scaler.txt"
        rmdir "$scratch" 2>/dev/null || true
    fi
}
trap cleanup EXIT

manifest="$runs_dir/manifest.tsv"
: >"$manifest"
for s in $sizes; do
    cap="$scratch/capture-$s.pcap"
    if [ ! -f "$cap" ]; then
        echo "==> generating $cap"
        python3 bench/make_big_capture.py --size "$s" -o "$cap" --data "$data" --stats 2>"$runs_dir/gen-$s.json"
    fi
    printf '%s\t%s\t%s\n' "capture-$s" "$s" "$cap" >>"$manifest"
done

ref_size=${sizes%% *}
if [ $graph -eq 1 ]; then
    echo "==> fitting the graph scaler on the flows of capture-$ref_size"
    "$weft" flows "$scratch/capture-$ref_size.pcap" -o "$scratch/flows-ref.csv" 2>/dev/null
    "$weft" graph "$scratch/flows-ref.csv" --save-scaler "$scratch/scaler.txt" >/dev/null 2>&1
    rm -f "$scratch/flows-ref.csv"
fi

# The shared captures, every one of them, in one `weft flows` run; they hold about 90,000 packets,
# too few to time in one pass, so the list is given `rep` times (one process, one thread).
rep=20
shared_args=()
for ((i = 0; i < rep; i++)); do shared_args+=("${shared[@]}"); done

for ((r = 1; r <= runs; r++)); do
    echo "==> round $r of $runs"
    /usr/bin/time -v -o "$runs_dir/shared.$r.time" "$weft" flows "${shared_args[@]}" -o /dev/null --json \
        >"$runs_dir/shared.$r.json" 2>/dev/null || true
    while IFS=$'\t' read -r label size cap; do
        /usr/bin/time -v -o "$runs_dir/$label.flows.$r.time" "$weft" flows "$cap" -o /dev/null --json \
            >"$runs_dir/$label.flows.$r.json" 2>"$runs_dir/$label.flows.$r.err"
        if [ $graph -eq 1 ]; then
            /usr/bin/time -v -o "$runs_dir/$label.pflows.$r.time" "$weft" flows "$cap" -o - --json \
                2>"$runs_dir/$label.pflows.$r.json" |
                /usr/bin/time -v -o "$runs_dir/$label.graph.$r.time" "$weft" graph - --scaler "$scratch/scaler.txt" \
                    --json 2>"$runs_dir/$label.graph.$r.err" | tail -n 1 >"$runs_dir/$label.graph.$r.json" ||
                echo "    (weft flows | weft graph - on $label failed: $(tail -n 1 "$runs_dir/$label.graph.$r.err"))" >&2
        fi
    done <"$manifest"
done

mkdir -p bench/results
out_json="bench/results/capture_scale-$(date +%F).json"
python3 - "$runs_dir" "$runs" "$out_json" "$weft" "$rep" "${#shared[@]}" "$graph" <<'EOF'
import json, os, platform, re, statistics, subprocess, sys, time

runs_dir, runs, out_json, weft, rep, n_shared, graph = sys.argv[1:8]
runs, rep, n_shared, graph = int(runs), int(rep), int(n_shared), graph == "1"


def gnu_time(path):
    t = {}
    for line in open(path):
        k, _, v = line.strip().rpartition(": ")
        if k == "Maximum resident set size (kbytes)":
            t["rss_kib"] = int(v)
        elif k == "User time (seconds)":
            t["user_s"] = float(v)
        elif k == "System time (seconds)":
            t["sys_s"] = float(v)
        elif k.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in v.split(":")]
            s = 0.0
            for x in parts:
                s = s * 60 + x
            t["wall_s"] = s
        elif k == "Exit status":
            t["exit"] = int(v)
    return t


def summary(prefix):
    """Median over the rounds of one case's `weft flows --json` summary and GNU time figures."""
    rounds = []
    for r in range(1, runs + 1):
        t = gnu_time(f"{runs_dir}/{prefix}.{r}.time")
        j = json.loads(open(f"{runs_dir}/{prefix}.{r}.json").read().strip().splitlines()[-1])
        rounds.append({**t, "packets": j["read"]["records"], "flows": j["flows"], "skipped": j["read"]["skipped"]})
    med = lambda k: statistics.median(x[k] for x in rounds)
    return {"packets": rounds[0]["packets"], "flows": rounds[0]["flows"], "peak_rss_mib": med("rss_kib") / 1024,
            "wall_s": med("wall_s"), "cpu_s": statistics.median(x["user_s"] + x["sys_s"] for x in rounds),
            "rounds": rounds}


cases = [line.rstrip("\n").split("\t") for line in open(f"{runs_dir}/manifest.tsv")]
rows = []
sh = summary("shared")
rows.append({"capture": f"shared captures ({n_shared} files, list given {rep} times)", "bytes": None, **sh})
ref_rss = None
for label, size, cap in cases:
    s = summary(f"{label}.flows")
    s["bytes"] = os.path.getsize(cap)
    gen = f"{runs_dir}/gen-{size}.json"
    if os.path.exists(gen) and os.path.getsize(gen):
        s["generator"] = json.loads(open(gen).read().strip().splitlines()[-1])
    if ref_rss is None:
        ref_rss = s["peak_rss_mib"]
    s["rss_ratio"] = s["peak_rss_mib"] / ref_rss
    if graph:
        g_rounds = []
        for r in range(1, runs + 1):
            ft = gnu_time(f"{runs_dir}/{label}.pflows.{r}.time")
            gt = gnu_time(f"{runs_dir}/{label}.graph.{r}.time")
            line = open(f"{runs_dir}/{label}.graph.{r}.json").read().strip()
            tot = json.loads("{" + line)["totals"] if line.startswith('"totals"') else {}
            g_rounds.append({"flows_rss_kib": ft["rss_kib"], "graph_rss_kib": gt["rss_kib"],
                             "wall_s": max(ft["wall_s"], gt["wall_s"]), "graph_cpu_s": gt["user_s"] + gt["sys_s"],
                             "graph_exit": gt.get("exit"), "totals": tot})
        s["pipeline"] = {
            "flows_peak_rss_mib": statistics.median(x["flows_rss_kib"] for x in g_rounds) / 1024,
            "graph_peak_rss_mib": statistics.median(x["graph_rss_kib"] for x in g_rounds) / 1024,
            "wall_s": statistics.median(x["wall_s"] for x in g_rounds),
            "graph_cpu_s": statistics.median(x["graph_cpu_s"] for x in g_rounds),
            "graphs": g_rounds[0]["totals"].get("graphs"), "flows": g_rounds[0]["totals"].get("flows"),
            "peak_flows_held": g_rounds[0]["totals"].get("peak_flows_held"), "rounds": g_rounds}
    rows.append({"capture": label, **s})


def mib(b):
    return "" if b is None else f"{b / 2**20:,.0f} MiB"


print()
print("| capture | size | packets | flows | peak RSS MiB | RSS vs first | seconds | M packets/s | M packets/s (CPU time) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    ratio = f"{r['rss_ratio']:.2f}x" if "rss_ratio" in r else ""
    print(f"| {r['capture']} | {mib(r['bytes'])} | {r['packets']:,} | {r['flows']:,} | {r['peak_rss_mib']:.1f} | {ratio} "
          f"| {r['wall_s']:.2f} | {r['packets'] / r['wall_s'] / 1e6:.2f} | {r['packets'] / r['cpu_s'] / 1e6:.2f} |")
if graph:
    print()
    print("| capture | flows | graphs | weft flows peak RSS MiB | weft graph peak RSS MiB | graph RSS vs first | seconds | M flows/s (graph CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    g0 = None
    for r in rows:
        p = r.get("pipeline")
        if not p:
            continue
        g0 = g0 or p["graph_peak_rss_mib"]
        print(f"| {r['capture']} | {p['flows'] or 0:,} | {p['graphs'] or 0:,} | {p['flows_peak_rss_mib']:.1f} "
              f"| {p['graph_peak_rss_mib']:.1f} | {p['graph_peak_rss_mib'] / g0:.2f}x | {p['wall_s']:.2f} "
              f"| {(p['flows'] or 0) / p['graph_cpu_s'] / 1e6:.2f} |")

cpu = platform.processor() or platform.machine()
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = ""
doc = {"date": time.strftime("%Y-%m-%d"), "commit": commit, "weft": weft, "cpu": cpu, "cores": os.cpu_count(),
       "runs": runs, "shared_list_repeats": rep, "cases": rows}
with open(out_json, "w") as f:
    json.dump(doc, f, indent=1)
print(f"\n(written to {out_json})")
EOF
