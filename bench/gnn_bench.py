#!/usr/bin/env python3
"""weft against what users run instead, in one run, on the same model, inputs and thread count:
PyTorch + PyG eager, torch.compile (where it works here), ONNX Runtime, and `weft bench` on every
backend of the build.

Cases: GraphSAGE-mean, 3 layers 32->128->128->128 at 20k nodes / 100k edges and 100k / 500k; GCN and
GAT (2 layers, models/gnn_models.py) at 20k / 100k; the seed paper's traffic encoder
(models/traffic_models.py) on the largest real traffic graphs `weft flows` + `weft graph` make from
../shared/data, and on a synthetic one of 10,000 flows (models/common.py's generator scaled up).
Each model gets fixed-seed random weights and is exported once to ONNX (TorchScript exporter,
opset 18, dynamic axes, as models/export_all.py does); the inputs are made once and saved as .npy
under --work. Every system runs in its own process (its peak RSS is its own) on those files;
outputs are compared with PyG eager's (max absolute difference reported).

Writes bench/results/<date>.json, the table between the gnn-bench markers of bench/README.md and
bench/latency.svg (p50 latency against edges, log-log).

    bench/.venv/bin/python bench/gnn_bench.py --weft build-e/weft             # everything
    .venv/bin/python bench/gnn_bench.py --weft build/weft --quick             # no torch: one small
                                                                              # SAGE, weft + ORT
"""
import argparse
import datetime
import glob
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = os.path.join(ROOT, "models")
BEGIN, END = "<!-- gnn-bench:begin -->", "<!-- gnn-bench:end -->"
EDGE_TYPES = ["ip__src__con", "con__dst__ip", "con__rev_src__ip", "ip__rev_dst__con",
              "ip__next__ip", "con__next_src__con", "con__next_dst__con", "con__repeat__con"]
PEERS = ["pyg", "torch_compile", "onnxruntime"]
LABEL = {"pyg": "PyG eager", "torch_compile": "torch.compile", "onnxruntime": "ONNX Runtime"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def peak_rss():
    """This process image's peak resident set: VmHWM, which starts afresh at exec. (ru_maxrss would
    also count the parent's memory at the fork that preceded the exec.)"""
    try:
        with open("/proc/self/status") as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ------------------------------------------------------------------------------------------------
# Timing, shared by every Python system: one first run (its outputs are kept), warm-up, then at
# least min_iters runs lasting at least min_ms.

def time_loop(fn, warmup_ms, min_iters, min_ms):
    first = fn()
    t0 = time.perf_counter()
    while (time.perf_counter() - t0) * 1e3 < warmup_ms:
        fn()
    lat = []
    start = time.perf_counter()
    while len(lat) < min_iters or (time.perf_counter() - start) * 1e3 < min_ms:
        a = time.perf_counter()
        fn()
        lat.append((time.perf_counter() - a) * 1e3)
    lat.sort()
    q = lambda p: float(np.percentile(lat, p))  # noqa: E731
    return first, {"p50_ms": q(50), "p90_ms": q(90), "p99_ms": q(99), "mean_ms": float(np.mean(lat)),
                   "min_ms": lat[0], "iterations": len(lat)}


# ------------------------------------------------------------------------------------------------
# Models (need torch and torch_geometric).

def build_model(family):
    sys.path.insert(0, MODELS)
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import SAGEConv
    from common import seed_all

    seed_all(1234)
    if family == "sage3":
        class SAGE3(torch.nn.Module):
            """GraphSAGE, mean aggregation, 32 -> 128 -> 128 -> 128, ReLU between layers."""

            def __init__(self):
                super().__init__()
                self.convs = torch.nn.ModuleList(
                    [SAGEConv(32, 128, aggr="mean"), SAGEConv(128, 128, aggr="mean"),
                     SAGEConv(128, 128, aggr="mean")])

            def forward(self, x, edge_index):
                for i, conv in enumerate(self.convs):
                    x = conv(x, edge_index)
                    if i < len(self.convs) - 1:
                        x = F.relu(x)
                return x
        return SAGE3().eval()
    import gnn_models
    if family == "gcn":
        return gnn_models.FAMILIES["gcn"][0]().eval()
    if family == "gat":
        return gnn_models.GAT().eval()
    if family == "traffic":
        import traffic_models
        return traffic_models.TrafficEncoder().eval()
    raise ValueError(family)


def io_spec(family):
    if family == "traffic":
        names = ["x_con", "x_ip"] + ["edge_index__" + t for t in EDGE_TYPES]
        dyn = {"x_con": {0: "num_con"}, "x_ip": {0: "num_ip"}, "h_con": {0: "num_con"}, "h_ip": {0: "num_ip"}}
        for t in EDGE_TYPES:
            dyn["edge_index__" + t] = {1: "num_edges_" + t}
        return names, ["h_con", "h_ip"], dyn
    return (["x", "edge_index"], ["out"],
            {"x": {0: "num_nodes"}, "edge_index": {1: "num_edges"}, "out": {0: "num_nodes"}})


def export(family, case_dir, example):
    """ONNX (TorchScript exporter, opset 18, dynamic axes) and the weights, once per family."""
    import torch
    sys.path.insert(0, MODELS)
    from common import _export
    mdir = os.path.join(os.path.dirname(case_dir), "_models", family)
    path = os.path.join(mdir, "model.onnx")
    if not os.path.exists(path):
        os.makedirs(mdir, exist_ok=True)
        model = build_model(family)
        names, outs, dyn = io_spec(family)
        _export(model, example, path + ".tmp", False, 18, names, outs, dyn)
        torch.save(model.state_dict(), os.path.join(mdir, "weights.pt"))
        os.replace(path + ".tmp", path)
    return path


# ------------------------------------------------------------------------------------------------
# Inputs.

def random_graph(n, e, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 32)).astype(np.float32)
    ei = rng.integers(0, n, (2, e)).astype(np.int64)  # uniform multigraph: duplicates, isolated nodes
    return {"x": x, "edge_index": ei}


def synthetic_traffic(flows, seed):
    sys.path.insert(0, MODELS)
    from common import traffic_graph
    rng = np.random.default_rng(seed)
    # models/common.py's generator scaled up: 5 slices of flows/5 flows, hosts in proportion
    return traffic_graph(rng, flows // 5, max(30, flows // 10), slices=5)


def real_traffic_graphs(weft, data, work, count):
    """The `count` largest graphs (by edges) that `weft flows` + `weft graph` (reference
    configuration) make from each collection of the data folder."""
    gdir = os.path.join(work, "_real_graphs")
    if not os.path.isdir(gdir):
        os.makedirs(gdir + ".tmp", exist_ok=True)
        sets = {"ustc": glob.glob(os.path.join(data, "ustc-tfc2016", "*.csv")),
                "stratosphere": glob.glob(os.path.join(data, "stratosphere", "*")),
                "slips": [p for p in glob.glob(os.path.join(data, "slips", "*")) if not p.endswith(".pcap")],
                "ndpi": glob.glob(os.path.join(data, "ndpi", "pcap", "*.pcap*"))}
        for name, files in sets.items():
            if not files:
                continue
            flows = os.path.join(gdir + ".tmp", name + ".csv")
            r = subprocess.run([weft, "flows", *sorted(files), "-o", flows], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"  weft flows on {name}: {r.stderr.strip()[-300:]}")
                continue
            subprocess.run([weft, "graph", flows, "--out-dir", os.path.join(gdir + ".tmp", name)],
                           check=True, capture_output=True)
        os.replace(gdir + ".tmp", gdir)
    sizes = []
    for g in glob.glob(os.path.join(gdir, "*", "graph_*")):
        e = sum(np.load(os.path.join(g, f"edge_index__{t}.npy"), mmap_mode="r").shape[1] for t in EDGE_TYPES)
        sizes.append((e, g))
    sizes.sort(reverse=True)
    return [g for _, g in sizes[:count]]


def make_cases(args):
    small = args.quick
    cases = []
    if small:
        return [{"name": "sage2_small", "family": "sage_mean_ts18", "nodes": 5000, "edges": 25000}]
    for n, e in ((20000, 100000), (100000, 500000)):
        cases.append({"name": f"sage3_{n // 1000}k", "family": "sage3", "nodes": n, "edges": e})
    cases.append({"name": "gcn_20k", "family": "gcn", "nodes": 20000, "edges": 100000})
    cases.append({"name": "gat_20k", "family": "gat", "nodes": 20000, "edges": 100000})
    cases.append({"name": "traffic_synth_10k_flows", "family": "traffic", "synthetic_flows": 10000})
    if os.path.isdir(args.data):
        for g in real_traffic_graphs(args.weft, args.data, args.work, 2):
            cases.append({"name": "traffic_real_" + os.path.basename(os.path.dirname(g)) + "_" +
                          os.path.basename(g).replace("graph_", "g"), "family": "traffic", "graph_dir": g})
    else:
        log(f"no data folder {args.data}: real traffic graphs left out")
    if args.cases:
        keep = args.cases.split(",")
        cases = [c for c in cases if any(k in c["name"] for k in keep)]
    return cases


def prepare(case, args):
    """Writes the case folder: inputs as .npy, meta.json (model path, input names). Returns it."""
    d = os.path.join(args.work, case["name"])
    meta_path = os.path.join(d, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            return json.load(f)
    os.makedirs(d, exist_ok=True)
    fam = case["family"]
    if fam == "sage_mean_ts18":  # --quick: the repository's export, no torch needed
        inputs = random_graph(case["nodes"], case["edges"], 7)
        model = os.path.join(MODELS, "sage_mean_ts18", "model.onnx")
    else:
        if fam == "traffic" and "graph_dir" in case:
            g = case["graph_dir"]
            inputs = {"x_con": np.load(os.path.join(g, "x_con.npy")), "x_ip": np.load(os.path.join(g, "x_ip.npy"))}
            for t in EDGE_TYPES:
                inputs["edge_index__" + t] = np.load(os.path.join(g, f"edge_index__{t}.npy"))
        elif fam == "traffic":
            inputs = synthetic_traffic(case["synthetic_flows"], 2025)
        else:
            inputs = random_graph(case["nodes"], case["edges"], 7)
        model = export(fam, d, inputs)
    files = {}
    for k, v in inputs.items():
        files[k] = os.path.join(d, k + ".npy")
        np.save(files[k], np.ascontiguousarray(v))
    nodes = sum(v.shape[0] for k, v in inputs.items() if k.startswith("x"))
    edges = sum(v.shape[1] for k, v in inputs.items() if k.startswith("edge_index"))
    meta = {"name": case["name"], "family": fam, "model": model, "inputs": files, "nodes": int(nodes),
            "edges": int(edges), "shapes": {k: list(v.shape) for k, v in inputs.items()}}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return meta


# ------------------------------------------------------------------------------------------------
# Workers: one system on one case, in this process; prints one JSON line.

def worker(args):
    with open(os.path.join(args.case_dir, "meta.json")) as f:
        meta = json.load(f)
    inputs = {k: np.load(p) for k, p in meta["inputs"].items()}
    out_dir = os.path.join(args.case_dir, "out_" + args.worker)
    os.makedirs(out_dir, exist_ok=True)
    res = {"system": args.worker}
    if args.worker == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        t0 = time.perf_counter()
        sess = ort.InferenceSession(meta["model"], so, providers=["CPUExecutionProvider"])
        res["setup_ms"] = (time.perf_counter() - t0) * 1e3
        feed = {i.name: inputs[i.name] for i in sess.get_inputs()}
        outs, stats = time_loop(lambda: sess.run(None, feed), args.warmup_ms, args.min_iters, args.min_ms)
        res["version"] = ort.__version__
    else:
        import torch
        torch.set_num_threads(args.threads)
        model = build_model(meta["family"])
        wpath = os.path.join(os.path.dirname(meta["model"]), "weights.pt")
        model.load_state_dict(torch.load(wpath))
        names, _, _ = io_spec(meta["family"])
        targs = [torch.from_numpy(inputs[n]) for n in names]
        res["version"] = torch.__version__
        if args.worker == "torch_compile":
            try:
                t0 = time.perf_counter()
                cmodel = torch.compile(model)
                with torch.inference_mode():
                    cmodel(*targs)
                res["setup_ms"] = (time.perf_counter() - t0) * 1e3
            except Exception as e:  # a failure here is a finding: reported, the system skipped
                msg = str(e).strip().splitlines()
                res["skipped"] = f"{type(e).__name__}: {msg[0][:200] if msg else ''}"
                res["peak_rss_bytes"] = peak_rss()
                print(json.dumps(res))
                return
            model = cmodel

        def run():
            with torch.inference_mode():
                o = model(*targs)
            return o if isinstance(o, tuple) else (o,)
        outs, stats = time_loop(run, args.warmup_ms, args.min_iters, args.min_ms)
        outs = [o.numpy() for o in outs]
    for k, o in enumerate(outs):
        np.save(os.path.join(out_dir, f"out_{k}.npy"), o)
    res.update(stats)
    res["peak_rss_bytes"] = peak_rss()
    print(json.dumps(res))


def run_worker(system, case_dir, args, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", system, "--case-dir", case_dir,
           "--threads", str(args.threads), "--min-iters", str(args.min_iters), "--min-ms", str(args.min_ms),
           "--warmup-ms", str(args.warmup_ms)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"system": system, "skipped": f"did not finish within {timeout} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        return {"system": system, "skipped": f"failed (exit {r.returncode}): {tail[:200]}"}
    return json.loads(lines[-1])


def run_weft(meta, args):
    """weft bench on every backend; then each backend's outputs (weft run) for the comparison."""
    ins = [a for k, p in meta["inputs"].items() for a in ("--input", f"{k}={p}")]
    cmd = [args.weft, "bench", meta["model"], "--json", "--threads", str(args.threads),
           "--min-iters", str(args.min_iters), "--min-ms", str(args.min_ms), "--warmup-ms", str(args.warmup_ms), *ins]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if not r.stdout.strip():
        return {}, [{"system": "weft", "skipped": r.stderr.strip()[-300:]}]
    doc = json.loads(r.stdout)
    out = []
    for res in doc["results"]:
        b = res["backend"]
        item = {"system": "weft-" + b}
        if res["status"] != "ok":
            item["skipped"] = res.get("error", res["status"])
        else:
            item.update({k: res[k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "iterations",
                                             "peak_rss_bytes", "arena_bytes", "compile_ms", "setup_ms")})
            odir = os.path.join(os.path.dirname(meta["inputs"][next(iter(meta["inputs"]))]), "out_weft-" + b)
            shutil.rmtree(odir, ignore_errors=True)
            rr = subprocess.run([args.weft, "run", meta["model"], "--backend", b, "--output-dir", odir, *ins],
                                capture_output=True, text=True, timeout=3600)
            if rr.returncode != 0:
                item["note"] = "weft run failed: " + rr.stderr.strip()[-200:]
        out.append(item)
    return doc, out


def merge_rounds(rs):
    """One system's rounds as one result: the round whose median is the median of the rounds' medians
    (its other fields with it), and every round's median."""
    timed = [r for r in rs if "p50_ms" in r]
    if not timed:
        return rs[-1]
    timed.sort(key=lambda r: r["p50_ms"])
    r = dict(timed[(len(timed) - 1) // 2])
    r["p50_rounds_ms"] = [t["p50_ms"] for t in timed]
    r["min_ms"] = min(t["min_ms"] for t in timed)
    r["iterations"] = sum(t["iterations"] for t in timed)
    return r


def load_outputs(case_dir, system, names):
    d = os.path.join(case_dir, "out_" + system)
    if system.startswith("weft-"):
        files = [os.path.join(d, n + ".npy") for n in names]
    else:
        files = [os.path.join(d, f"out_{k}.npy") for k in range(len(names))]
    if not all(os.path.exists(f) for f in files):
        return None
    return [np.load(f) for f in files]


def max_diff(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    worst = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return float("inf")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return worst


# ------------------------------------------------------------------------------------------------
# Floors: memory bandwidth and oneDNN's own sgemm on SAGE's dense shapes.

def floors(args):
    exe = os.path.join(args.work, "floors")
    src = os.path.join(HERE, "floors.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cc = os.environ.get("CC", "cc")
        ok = subprocess.run([cc, "-std=gnu11", "-O2", "-march=native", "-DFLOORS_DNNL", src, "-o", exe, "-ldnnl",
                             "-lpthread"], capture_output=True).returncode == 0
        if not ok:
            subprocess.run([cc, "-std=gnu11", "-O2", "-march=native", src, "-o", exe, "-lpthread"], check=True)
    gemms = []
    if not args.quick:
        # SAGE's two linears as one GEMM over [aggregate | root]: K = 2 x in-features
        for n in (20000, 100000):
            gemms += [f"{n}x64x128", f"{n}x256x128"]
    r = subprocess.run([exe, "--threads", str(args.threads), "--mib", "256",
                        *[a for g in gemms for a in ("--gemm", g)]],
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    return json.loads(r.stdout)


def sage_floor_ms(fl, n, e, layers=((32, 128), (128, 128), (128, 128))):
    """The memory-traffic floor of SAGE's mean aggregations: per layer, E gathered rows of F floats,
    E column indices (int64), N+1 offsets, N written rows; divided by the triad bandwidth. And the
    dense floor: oneDNN's sgemm of each layer's [N, 2F] x [2F, 128]."""
    bw = fl["triad_gb_per_s"] * 1e9
    agg = sum((e * fin * 4 + e * 8 + (n + 1) * 8 + n * fin * 4) for fin, _ in layers) / bw * 1e3
    g = {s["shape"]: s["ms"] for s in fl.get("sgemm", [])}
    dense = [g.get(f"{n}x{2 * fin}x{fout}") for fin, fout in layers]
    return agg, (sum(dense) if all(d is not None for d in dense) else None)


# ------------------------------------------------------------------------------------------------
# Reports.

def systems_of(results):
    names = []
    for c in results["cases"]:
        for s in c["systems"]:
            if s["system"] not in names:
                names.append(s["system"])
    order = PEERS + sorted(n for n in names if n.startswith("weft-"))
    return [n for n in order if n in names]


def fmt_ms(v):
    return "—" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}")


def table(results):
    sysn = systems_of(results)
    lab = lambda s: LABEL.get(s, s)  # noqa: E731
    lines = [f"Run of {results['date']} on {results['machine']}, {results['threads']} threads each; weft "
             f"backends of this build: {results['weft_backends']}. Median (p50) latency in ms (every system "
             f"measured {results['settings'].get('rounds', 1)} times in turn, the median round shown); "
             "ratio = peer's median / best weft backend's median (> 1: weft is faster); max |diff| is the "
             f"largest absolute difference of any system's outputs from {results['diff_reference']}'s.", ""]
    lines.append("| case | nodes | edges | " + " | ".join(lab(s) for s in sysn) +
                 " | best weft vs " + " | vs ".join(lab(s) for s in PEERS if s in sysn) + " | max \\|diff\\| |")
    lines.append("|---" * (4 + len(sysn) + len([s for s in PEERS if s in sysn])) + "|")
    for c in results["cases"]:
        by = {s["system"]: s for s in c["systems"]}
        row = [c["name"], f"{c['nodes']:,}", f"{c['edges']:,}"]
        for s in sysn:
            r = by.get(s, {})
            row.append(fmt_ms(r.get("p50_ms")) if "p50_ms" in r else "skipped" if r else "—")
        best = min((by[s]["p50_ms"] for s in by if s.startswith("weft-") and "p50_ms" in by[s]), default=None)
        for s in PEERS:
            if s in sysn:
                r = by.get(s, {})
                row.append(f"{r['p50_ms'] / best:.2f}x" if best and "p50_ms" in r else "—")
        diffs = [v for s in by for k, v in by[s].items() if k.startswith("max_abs_diff_vs") and v is not None]
        row.append(f"{max(diffs):.1e}" if diffs else "—")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Peak resident memory of each system's process (MiB; Python processes include the "
              "interpreter and libraries):", ""]
    lines.append("| case | " + " | ".join(lab(s) for s in sysn) + " |")
    lines.append("|---" * (1 + len(sysn)) + "|")
    for c in results["cases"]:
        by = {s["system"]: s for s in c["systems"]}
        lines.append("| " + c["name"] + " | " + " | ".join(
            f"{by[s]['peak_rss_bytes'] / 2**20:.0f}" if s in by and by[s].get("peak_rss_bytes") else "—"
            for s in sysn) + " |")
    fl = results.get("floors")
    if fl:
        lines += ["", f"Floors (same {fl['threads']} threads): memory bandwidth {fl['copy_gb_per_s']:.1f} GB/s "
                  f"copy, {fl['triad_gb_per_s']:.1f} GB/s triad ({fl['array_mib']} MiB arrays)."]
        rows = [c for c in results["cases"] if c.get("floor_aggregate_ms") is not None]
        if rows:
            lines += ["", "| case | aggregation floor (bytes / triad bandwidth) | oneDNN sgemm of the dense "
                      "layers | best weft p50 |", "|---|---|---|---|"]
            for c in rows:
                by = {s["system"]: s for s in c["systems"]}
                best = min((by[s]["p50_ms"] for s in by if s.startswith("weft-") and "p50_ms" in by[s]),
                           default=None)
                lines.append(f"| {c['name']} | {fmt_ms(c['floor_aggregate_ms'])} ms | "
                             f"{fmt_ms(c.get('floor_dense_ms'))} ms | {fmt_ms(best)} ms |")
    notes = [f"{c['name']}: {LABEL.get(s['system'], s['system'])}: {s['skipped']}"
             for c in results["cases"] for s in c["systems"] if "skipped" in s]
    if notes:
        lines += ["", "Skipped:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def write_readme(path, text):
    with open(path) as f:
        doc = f.read()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(doc)
    os.replace(path + ".tmp", path)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sysn = systems_of(results)
    fams = [("homogeneous GNNs: SAGE-3 (o, 20k and 100k nodes), GCN (s), GAT (^)", lambda c: c["family"] != "traffic"),
            ("traffic encoder: real (D) and synthetic (v) graphs", lambda c: c["family"] == "traffic")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    markers = {"sage3": "o", "gcn": "s", "gat": "^", "sage_mean_ts18": "o"}
    for ax, (title, keep) in zip(axes, fams):
        cases = sorted([c for c in results["cases"] if keep(c)], key=lambda c: c["edges"])
        for i, s in enumerate(sysn):
            labelled = False
            groups = sorted({c["family"] for c in cases}) if keep is fams[0][1] else ["real", "synthetic"]
            for grp in groups:
                sel = [c for c in cases if (c["family"] == grp if keep is fams[0][1] else
                                            ("synth" in c["name"]) == (grp == "synthetic"))]
                pts = [(c["edges"], next(x["p50_ms"] for x in c["systems"] if x["system"] == s))
                       for c in sel if any(x["system"] == s and "p50_ms" in x for x in c["systems"])]
                if not pts:
                    continue
                xs, ys = zip(*pts)
                mk = markers.get(grp, "D" if grp == "real" else "v")
                ax.plot(xs, ys, marker=mk, color=f"C{i}", linestyle="-" if keep is fams[0][1] else "none",
                        label=None if labelled else LABEL.get(s, s))
                labelled = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges")
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"latency against graph size, {results['threads']} threads ({results['date']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one small SAGE: weft (every backend) + ONNX Runtime, "
                    "no torch; prints the table only")
    ap.add_argument("--cases", help="comma-separated substrings of the case names to keep")
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--min-ms", type=float, default=2000)
    ap.add_argument("--warmup-ms", type=float, default=500)
    ap.add_argument("--rounds", type=int, default=3,
                    help="every system this many times, in turn; each reports the median round (default 3)")
    ap.add_argument("--no-torch-compile", action="store_true")
    ap.add_argument("--compile-timeout", type=int, default=600)
    ap.add_argument("--no-write", action="store_true", help="print the table; write no results, README or plot")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--case-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.rounds = 1
    args.weft = os.path.abspath(args.weft)
    args.work = os.path.abspath(args.work) + ("_quick" if args.quick else "")
    os.makedirs(args.work, exist_ok=True)
    peers = ["onnxruntime"] if args.quick else PEERS
    if args.no_torch_compile and "torch_compile" in peers:
        peers.remove("torch_compile")
    results = {"date": datetime.date.today().isoformat(), "machine": machine(), "threads": args.threads,
               "weft_backends": subprocess.run([args.weft, "--backends"], capture_output=True,
                                               text=True).stdout.strip() or "?",
               "settings": {"min_iters": args.min_iters, "min_ms": args.min_ms, "warmup_ms": args.warmup_ms,
                            "rounds": args.rounds},
               "diff_reference": "PyG eager", "cases": []}
    log(f"weft backends: {results['weft_backends']}; {args.threads} threads")
    fl = floors(args)
    results["floors"] = fl
    log(f"floors: {json.dumps(fl)}")
    for case in make_cases(args):
        log(f"== {case['name']}: preparing")
        meta = prepare(case, args)
        case_dir = os.path.join(args.work, case["name"])
        entry = {"name": case["name"], "family": meta["family"], "nodes": meta["nodes"], "edges": meta["edges"],
                 "shapes": meta["shapes"], "systems": []}
        # Every system once per round, the rounds one after another: a burst of load from elsewhere on a
        # shared machine then falls on one round of every system rather than on all runs of one system.
        rounds, doc = {}, None
        for rnd in range(args.rounds):
            for s in peers:
                log(f"   {s} (round {rnd + 1} of {args.rounds})")
                r = run_worker(s, case_dir, args, args.compile_timeout if s == "torch_compile" else 3600)
                rounds.setdefault(r["system"], []).append(r)
            log(f"   weft bench (round {rnd + 1} of {args.rounds})")
            d, wres = run_weft(meta, args)
            doc = doc or d
            for r in wres:
                rounds.setdefault(r["system"], []).append(r)
        entry["systems"] = [merge_rounds(rs) for rs in rounds.values()]
        if doc:
            entry["weft_index_ranges"] = doc.get("index_ranges")
        _, outs, _ = io_spec(meta["family"]) if meta["family"] != "sage_mean_ts18" else (None, ["out"], None)
        ref_sys = "pyg" if "pyg" in peers else "onnxruntime"
        results["diff_reference"] = LABEL[ref_sys]
        ref = load_outputs(case_dir, ref_sys, outs)
        for r in entry["systems"]:
            if "p50_ms" in r:
                d = max_diff(load_outputs(case_dir, r["system"], outs), ref)
                r["max_abs_diff_vs_" + ("pyg" if ref_sys == "pyg" else "ort")] = d
        if meta["family"] == "sage3":
            entry["floor_aggregate_ms"], entry["floor_dense_ms"] = sage_floor_ms(fl, meta["nodes"], meta["edges"])
        for r in entry["systems"]:
            log(f"   {r['system']:>16}: " + (f"p50 {r['p50_ms']:.3f} ms, peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB"
                                            if "p50_ms" in r else f"skipped: {r.get('skipped')}"))
        results["cases"].append(entry)
    text = table(results)
    print(text)
    if args.quick or args.no_write:
        return 0
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", results["date"] + ".json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    write_readme(os.path.join(HERE, "README.md"), text)
    plot(results, os.path.join(HERE, "latency.svg"))
    log(f"wrote {out}, bench/README.md (table), bench/latency.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
