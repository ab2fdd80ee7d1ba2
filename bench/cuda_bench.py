#!/usr/bin/env python3
"""The cuda backend beside the CPU backends, on a machine with an NVIDIA GPU, in one run.

Cases (the models are bench/models/*, exported by bench/gnn_bench.py's build_model + export: PyG
TorchScript exports, opset 18, fixed-seed weights; the traffic encoder is models/traffic_encoder_ts18):
  - GraphSAGE-mean, 3 layers 32 -> 128 -> 128 -> 128, at 20k nodes / 100k edges, 1M / 10M and 10M / 100M
    (the last when the GPU has the memory);
  - GCN and GAT (2 layers) at 20k / 100k and 1M / 10M;
  - the spatio-temporal model of models/gru_temporal_ts18 (a GCN per snapshot, a GRU across 3 snapshots)
    at 20k / 100k and 1M / 10M edges per snapshot;
  - the paper's traffic encoder on a 10,000-flow graph (`weft bench`'s synthetic inputs).
Each case runs `weft bench --json` (its own processes, outputs compared with ref's) on the CPU backends
and on cuda; cuda's row gives both the CUDA Graph replay latency and the launch-by-launch latency. A
profiled cuda run gives each aggregation step's time, and with the bytes it must move (E gathered rows
of F floats, N written rows, the CSR's indices) its achieved bandwidth, read against the copy bandwidth
the same GPU reaches in the same run (`cuda_probe`, a plain device-to-device copy kernel).

Writes bench/results/cuda_<date>.json and the table between the cuda-bench markers of bench/README.md.
Nothing here runs without a GPU: measured numbers only.

    python3 bench/cuda_bench.py --weft build-gpu/weft --probe build-gpu/cuda_probe [--cases sage3] [--threads T]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BEGIN, END = "<!-- cuda-bench:begin -->", "<!-- cuda-bench:end -->"
AGG_OPS = {"CsrReduce", "CsrGatherReduce", "SegmentReduce", "CsrEdgeSoftmax"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cases():
    sage = os.path.join(HERE, "models", "sage3", "model.onnx")
    gcn = os.path.join(HERE, "models", "gcn", "model.onnx")
    gat = os.path.join(HERE, "models", "gat", "model.onnx")
    traffic = os.path.join(ROOT, "models", "traffic_encoder_ts18", "model.onnx")
    out = []
    for n, e, tag, cpu in [(20_000, 100_000, "20k", "ref,onednn"), (1_000_000, 10_000_000, "1M", "onednn"),
                           (10_000_000, 100_000_000, "10M", "")]:
        out.append({"name": f"sage3_{tag}", "model": sage, "nodes": n, "edges": e, "cpu": cpu, "feat": [32, 128, 128]})
    for fam, path in [("gcn", gcn), ("gat", gat)]:
        for n, e, tag, cpu in [(20_000, 100_000, "20k", "ref,onednn"), (1_000_000, 10_000_000, "1M", "onednn")]:
            out.append({"name": f"{fam}_{tag}", "model": path, "nodes": n, "edges": e, "cpu": cpu, "feat": []})
    # spatio-temporal: a GCN per snapshot (3 snapshots, E edges each) feeding a GRU over the snapshots
    temporal = os.path.join(ROOT, "models", "gru_temporal_ts18", "model.onnx")
    for n, e, tag, cpu in [(20_000, 100_000, "20k", "ref,onednn"), (1_000_000, 10_000_000, "1M", "onednn")]:
        out.append({"name": f"gru_temporal_{tag}", "model": temporal, "nodes": n, "edges": e, "cpu": cpu, "feat": []})
    out.append({"name": "traffic_10k_flows", "model": traffic, "nodes": None, "edges": None, "cpu": "ref,onednn",
                "feat": []})
    return out


def weft_bench(weft, case, backends, threads, profile, extra):
    cmd = [weft, "bench", case["model"], "--backends", backends, "--threads", str(threads), "--json",
           "--min-iters", "10", "--min-ms", "1000", "--warmup-ms", "200"] + extra
    if case["nodes"]:
        cmd += ["--nodes", str(case["nodes"]), "--edges", str(case["edges"])]
    if profile:
        cmd.append("--profile")
    log("  $", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0 and not r.stdout.strip():
        return {"error": r.stderr.strip()[-600:]}
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"error": (r.stdout + r.stderr).strip()[-600:]}


def agg_bytes(case, layer_feats):
    """Bytes a mean aggregation must move per layer: E gathered rows of F floats, N written rows, the CSR's
    column and offset indices (int64)."""
    n, e = case["nodes"], case["edges"]
    return [e * f * 4 + n * f * 4 + e * 8 + (n + 1) * 8 for f in layer_feats]


def probe(path):
    r = subprocess.run([path, "--mib", "2048"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-300:]}
    return json.loads(r.stdout)


def table(results, copy):
    lines = [f"GPU: {copy.get('device', '?')}; copy kernel {copy.get('copy_gbps', float('nan')):.0f} GB/s "
             f"(read + write) in the same run. p50 latency in ms (`weft bench`, outputs checked against ref).", "",
             "| case | nodes / edges | CPU backend (threads) p50 | cuda graph replay p50 | cuda launch by launch p50 "
             "| speed-up vs CPU | aggregation bandwidth (fraction of copy) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        cpu = r.get("cpu_best")
        cu = r.get("cuda", {})
        sz = f"{r['nodes']:,} / {r['edges']:,}" if r.get("nodes") else "10,000 flows (synthetic)"
        bw = r.get("agg_gbps")
        bw_s = f"{bw:.0f} GB/s ({bw / copy['copy_gbps']:.0%})" if bw and copy.get("copy_gbps") else "-"
        cpu_s = f"{cpu['p50_ms']:.3f} ({cpu['backend']})" if cpu else "-"
        g = cu.get("p50_ms")
        ll = cu.get("launch_by_launch_p50_ms")
        speed = f"{cpu['p50_ms'] / g:.1f}x" if cpu and g else "-"
        status = "" if cu.get("status") == "ok" else f" ({cu.get('status', 'failed')}: {cu.get('message', '')[:80]})"
        lines.append(f"| {r['name']} | {sz} | {cpu_s} | {g if g is None else f'{g:.3f}'}{status} | "
                     f"{ll if ll is None else f'{ll:.3f}'} | {speed} | {bw_s} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build-gpu", "weft"))
    ap.add_argument("--probe", default=os.path.join(ROOT, "build-gpu", "cuda_probe"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cases", help="comma-separated substrings of the case names to keep")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    copy = probe(args.probe)
    if "error" in copy:
        log("cuda_probe failed:", copy["error"])
        return 1
    log(f"device: {copy.get('device')}, copy {copy.get('copy_gbps'):.0f} GB/s")
    usable = subprocess.run([args.weft, "--backends"], capture_output=True, text=True).stdout.strip().split(",")
    results = []
    for c in cases():
        if args.cases and not any(s in c["name"] for s in args.cases.split(",")):
            continue
        need = (c["nodes"] or 0) * 128 * 4 * 6 + (c["edges"] or 0) * 8 * 4
        if need > copy.get("free_bytes", 0):
            log(f"{c['name']}: needs about {need / 2**30:.1f} GiB, the GPU has {copy.get('free_bytes', 0) / 2**30:.1f} free: skipped")
            continue
        log(f"== {c['name']}")
        row = {"name": c["name"], "nodes": c["nodes"], "edges": c["edges"]}
        # From 1M nodes ref's one thread would take minutes for the reference outputs: onednn (checked
        # against ref at 20k here and by the conformance suites) gives them instead.
        ref = ["--reference", "onednn"] if (c["nodes"] or 0) >= 1_000_000 and "onednn" in usable else []
        row["reference"] = ref[1] if ref else "ref"
        if c["cpu"]:
            cpu = weft_bench(args.weft, c, c["cpu"], args.threads, False, ref)
            row["cpu_raw"] = cpu
            best = None
            for r in cpu.get("results", []):
                if r.get("status") == "ok" and r.get("p50_ms") and (best is None or r["p50_ms"] < best["p50_ms"]):
                    best = {"backend": f"{r['backend']} ({args.threads})", "p50_ms": r["p50_ms"]}
            row["cpu_best"] = best
        cu = weft_bench(args.weft, c, "cuda", args.threads, True, ref)
        row["cuda_raw"] = cu
        for r in cu.get("results", []):
            if r.get("backend", "").startswith("cuda"):
                row["cuda"] = r
        prof = (row.get("cuda") or {}).get("profile") or {}
        agg = [s for s in prof.get("top_steps", []) if s.get("op_type") in AGG_OPS]
        if agg and c["feat"] and c["nodes"]:
            ms = sum(s["ms_per_run"] for s in agg)
            row["agg_ms"] = ms
            row["agg_gbps"] = sum(agg_bytes(c, c["feat"])) / (ms * 1e-3) / 1e9 if ms > 0 else None
        results.append(row)
        log(table([row], copy))

    print(table(results, copy))
    if args.no_write:
        return 0
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    with open(os.path.join(HERE, "results", f"cuda_{stamp}.json"), "w") as f:
        json.dump({"probe": copy, "results": results}, f, indent=1)
    readme = os.path.join(HERE, "README.md")
    text = open(readme).read()
    block = f"{BEGIN}\n{table(results, copy)}\n\nCommand: `bash bench/cuda.sh` ({stamp}).\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += "\n## The cuda backend on a GPU\n\n" + block + "\n"
    with open(readme, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
