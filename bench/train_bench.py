"""A training step — forward, loss, backward, Adam — weft against PyTorch eager in one run, the same
threads, the same inputs and the same starting weights. Two cases:

- sage: GraphSAGE-mean 3 layers 32 -> 128 -> 128 -> 128 at 20k nodes / 100k edges (the same model as
  bench/gnn_bench.py's sage3), PyTorch + PyG. The loss is mean(out * w) with w a fixed N(0, 1) tensor of
  out's shape, so every output element has a gradient.
- traffic: the seed paper's traffic encoder (models/traffic_models.py TrafficEncoder: per edge type a
  SAGEConv(mean, normalize=True), HeteroConv sums, LeakyReLU after each of the temporal and spatial steps;
  hidden 128, 3 layers, 712,448 parameters) pretrained by link prediction as `weft pretrain` does
  (runtime/linkpred.c): each edge type's edges shuffled, 20 % become supervision edges and the rest
  message edges (the encoder's input), each supervision edge gets one negative with the same source and
  a random destination; the logit of a pair is the dot product of its endpoint embeddings; the loss is
  binary cross-entropy with logits averaged over the pairs of all types. The graph: the first 10,000
  flows of a real capture (default ../shared/data/ustc-tfc2016/Malware_Neris_TCP.csv) through
  `weft flows` and `weft graph` with the reference configuration (5 slices, flow memory 20) except the
  window length, made the flows' time span / 5 so that the 10,000 flows make one graph.

weft trains the ONNX export of "model + loss" (TorchScript exporter, opset 17, output "loss") through
weft_trainer (bench/bench_train.c); PyTorch runs the module itself. The first step's losses must agree
within 1e-4 (relative). Each system: 3 warm-up steps, then the median of --steps steps. Each side runs in
its own process, the export in a third, so the peak RSS of each is its own training's.

    bench/run_train_bench.sh [--case sage|traffic|all] [--threads T] [--steps N] [--nodes N --edges E]
                             [--flows N] [--traffic-data PATH] [--layers L] [--profile TOP]
"""
import argparse
import csv
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gnn_bench  # noqa: E402  (the same SAGE3 model)

MODELS = os.path.join(ROOT, "models")
DEFAULT_TRAFFIC = os.path.join(ROOT, "..", "shared", "data", "ustc-tfc2016", "Malware_Neris_TCP.csv")
WARMUP = 3


# ------------------------------------------------------------------------------------------------
# The modules: model + loss, one scalar output.

def sage_module():
    import torch
    model = gnn_bench.build_model("sage3").train()

    class WithLoss(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, edge_index, w):
            return (self.m(x, edge_index) * w).mean()

    return WithLoss(model)


def traffic_module(layers):
    sys.path.insert(0, MODELS)
    import torch
    import torch.nn.functional as F
    import traffic_models
    from common import EDGE_TYPES, edge_triple, seed_all

    seed_all(1234)

    class LinkPredLoss(torch.nn.Module):
        """The encoder, the dot-product decoder on the supervision pairs of every edge type and binary
        cross-entropy with logits averaged over all pairs (weft_linkpred_model's objective)."""

        def __init__(self):
            super().__init__()
            self.encoder = traffic_models.TrafficEncoder(layers=layers)

        def forward(self, x_con, x_ip, *rest):
            n = len(EDGE_TYPES)
            edges, sups, labels = rest[:n], rest[n:2 * n], rest[2 * n:3 * n]
            h_con, h_ip = self.encoder.encode(x_con, x_ip, edges)
            h = {"con": h_con, "ip": h_ip}
            losses = []
            for t, p, y in zip(EDGE_TYPES, sups, labels):
                s, _, d = edge_triple(t)
                logit = (h[s][p[0]] * h[d][p[1]]).sum(dim=-1)
                # per type, then the mean over all pairs: each type's logits and labels have one length
                losses.append(F.binary_cross_entropy_with_logits(logit, y, reduction="none"))
            return torch.cat(losses).mean()

    return LinkPredLoss().train()


def traffic_names():
    sys.path.insert(0, MODELS)
    from common import EDGE_TYPES
    return (["x_con", "x_ip"] + ["edge_index__" + t for t in EDGE_TYPES] + ["sup__" + t for t in EDGE_TYPES]
            + ["label__" + t for t in EDGE_TYPES])


# ------------------------------------------------------------------------------------------------
# Inputs.

def weft_graph_of_flows(args, work):
    """The first --flows flows of --traffic-data as one traffic graph (tensors as `weft graph --out-dir`
    writes them) and a description of it."""
    flows = os.path.join(work, "flows.csv")
    subprocess.run([args.weft, "flows", args.traffic_data, "-o", flows], check=True, capture_output=True)
    first = os.path.join(work, f"flows_{args.flows}.csv")
    with open(flows) as f, open(first, "w") as g:
        rows = 0
        for i, line in enumerate(f):
            if i > args.flows:
                break
            g.write(line)
            rows = i
    if rows < args.flows:
        sys.exit(f"{args.traffic_data}: {rows} flows, fewer than --flows {args.flows}")
    with open(first) as f:
        starts = [float(r["start"]) for r in csv.DictReader(f)]
    # the reference configuration but for the window: long enough that 5 slices hold every flow's start
    window = math.ceil((max(starts) - min(starts)) / 5) + 1
    for _ in range(20):
        out = os.path.join(work, "graphs")
        shutil.rmtree(out, ignore_errors=True)
        r = subprocess.run([args.weft, "graph", first, "--window", str(window), "--window-memory", "5",
                            "--flow-memory", "20", "--max-flows", "0", "--out-dir", out, "--json"],
                           check=True, capture_output=True, text=True)
        info = json.loads(r.stdout)
        best = max(info["graphs"], key=lambda g: g["nodes"]["con"])
        d = os.path.join(out, "graph_%05d" % best["graph"])
        if len(np.unique(np.load(os.path.join(d, "con_flow.npy")))) == args.flows:
            return d, {"data": os.path.relpath(os.path.abspath(args.traffic_data), ROOT), "flows": args.flows,
                       "window_s": window, "slices": 5, "flow_memory": 20, "nodes": best["nodes"],
                       "edges": best["edges"]}
        window = math.ceil(window * 1.05)  # windows are aligned: a longer one moves the boundaries
    sys.exit("could not put the flows into one graph")


def traffic_inputs(args, work):
    """x_con, x_ip, message edges, supervision pairs and labels of every edge type (the split of
    weft_linkpred_make_batch: 20 % supervision, one negative per supervision edge, same source)."""
    sys.path.insert(0, MODELS)
    from common import EDGE_TYPES, edge_triple
    gdir, info = weft_graph_of_flows(args, work)
    rng = np.random.default_rng(11)
    feats = {"x_con": np.load(os.path.join(gdir, "x_con.npy")), "x_ip": np.load(os.path.join(gdir, "x_ip.npy"))}
    n = {"con": feats["x_con"].shape[0], "ip": feats["x_ip"].shape[0]}
    inp = dict(feats)
    sup, lab = {}, {}
    pairs = 0
    for t in EDGE_TYPES:
        e = np.load(os.path.join(gdir, f"edge_index__{t}.npy")).astype(np.int64)
        E = e.shape[1]
        perm = rng.permutation(E)
        S = min(max(int(E * args.sup_fraction + 0.5), 1 if E >= 2 else 0), E - 1 if E >= 2 else 0)
        pos = e[:, perm[:S]]
        neg = np.stack([pos[0], rng.integers(0, n[edge_triple(t)[2]], S)])
        inp["edge_index__" + t] = np.ascontiguousarray(e[:, perm[S:]])
        sup["sup__" + t] = np.ascontiguousarray(np.concatenate([pos, neg], 1))
        lab["label__" + t] = np.concatenate([np.ones(S, np.float32), np.zeros(S, np.float32)])
        pairs += 2 * S
    inp.update(sup)
    inp.update(lab)
    info["supervision_pairs"] = pairs
    return inp, info


def case_label(args, info):
    if args.case_name == "sage":
        return f"sage3 {args.nodes // 1000}k/{args.edges // 1000}k"
    e = sum(info["edges"].values())
    return (f"traffic linkpred {args.layers}L, {args.flows // 1000}k flows ({info['nodes']['con']} con + "
            f"{info['nodes']['ip']} ip, {e / 1000:.0f}k edges)")


# ------------------------------------------------------------------------------------------------
# Stages, each its own process.

def stage_prepare(args, work):
    """The inputs (.npy), the starting weights (.pt) and the ONNX export of model + loss."""
    import torch
    if args.case_name == "sage":
        mod = sage_module()
        g = gnn_bench.random_graph(args.nodes, args.edges, 7)
        w = np.random.default_rng(8).standard_normal((args.nodes, 128)).astype(np.float32)
        inp = {"x": g["x"], "edge_index": g["edge_index"], "w": w}
        dyn = {"x": {0: "num_nodes"}, "edge_index": {1: "num_edges"}, "w": {0: "num_nodes"}}
        info = {}
    else:
        mod = traffic_module(args.layers)
        inp, info = traffic_inputs(args, work)
        dyn = {"x_con": {0: "num_con"}, "x_ip": {0: "num_ip"}}
        for k in inp:
            if k.startswith(("edge_index__", "sup__")):
                dyn[k] = {1: "num_" + k}
            elif k.startswith("label__"):
                dyn[k] = {0: "num_sup__" + k[7:]}
                dyn["sup__" + k[7:]] = {1: "num_sup__" + k[7:]}
    names = list(inp)
    for k, v in inp.items():
        np.save(os.path.join(work, k + ".npy"), v)
    torch.save(mod.state_dict(), os.path.join(work, "init.pt"))
    path = os.path.join(work, "model_loss.onnx")
    ts = tuple(torch.from_numpy(inp[k]) for k in names)
    torch.onnx.export(mod, ts, path, opset_version=17, dynamo=False, input_names=names, output_names=["loss"],
                      dynamic_axes=dyn)
    info.update({"model": path, "inputs": names, "params": sum(p.numel() for p in mod.parameters()),
                 "case": case_label(args, info)})
    with open(os.path.join(work, "case.json"), "w") as f:
        json.dump(info, f, indent=1)


def stage_torch(args, work):
    """PyTorch eager: the module, the saved inputs and starting weights, Adam lr 1e-3."""
    import torch
    torch.set_num_threads(args.threads)
    with open(os.path.join(work, "case.json")) as f:
        info = json.load(f)
    mod = sage_module() if args.case_name == "sage" else traffic_module(args.layers)
    mod.load_state_dict(torch.load(os.path.join(work, "init.pt")))
    ts = tuple(torch.from_numpy(np.load(os.path.join(work, k + ".npy"))) for k in info["inputs"])
    opt = torch.optim.Adam(mod.parameters(), lr=1e-3)
    times, losses = [], []
    for s in range(WARMUP + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = mod(*ts)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        losses.append(float(loss.detach()))
        if s >= WARMUP:
            times.append((t1 - t0) * 1e3)
    times.sort()
    print(json.dumps({"median_ms": times[len(times) // 2], "p10_ms": times[len(times) // 10],
                      "p90_ms": times[(len(times) * 9) // 10], "first_loss": losses[0], "last_loss": losses[-1],
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(args, stage, case):
    """This script as a child process running one stage of one case."""
    cmd = [sys.executable, os.path.abspath(__file__), "--stage", stage, "--case", case]
    for k in ("threads", "steps", "nodes", "edges", "flows", "layers", "sup_fraction", "work", "weft",
              "traffic_data"):
        cmd += ["--" + k.replace("_", "-"), str(getattr(args, k))]
    cmd += ["--bench-train", args.bench_train]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{case} {stage} failed:\n{r.stderr}")
    return r.stdout


PROFILE_LINE = re.compile(r"^\s*([0-9.]+) ms\s+([0-9.]+)%\s+(\S+)\s+(\S+)\s+(.*)$")


def profile_summary(stderr, top):
    """bench_train --profile's lines (every step of the plan, ms per training step) summed by op type and by
    pass (a step whose name has grad_ or Adam belongs to the backward pass / update), and the top steps."""
    steps = []
    for line in stderr.splitlines():
        m = PROFILE_LINE.match(line)
        if m:
            steps.append((float(m.group(1)), m.group(3), m.group(4), m.group(5)))
    total = sum(ms for ms, *_ in steps) or 1.0
    by_op, by_pass = {}, {}
    for ms, op, _, name in steps:
        a = by_op.setdefault(op, [0.0, 0])
        a[0] += ms
        a[1] += 1
        kind = "backward" if "grad" in name.lower() else "update" if "adam" in (op + name).lower() else "forward"
        by_pass[kind] = by_pass.get(kind, 0.0) + ms
    ops = sorted(by_op.items(), key=lambda kv: -kv[1][0])
    text = [f"{len(steps)} plan steps, {total:.1f} ms per training step; by pass: " +
            ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f}%)" for k, v in sorted(by_pass.items(), key=lambda kv: -kv[1])),
            "by op type (ms per training step, share, steps):"]
    text += [f"  {v[0]:9.2f} ms {100 * v[0] / total:5.1f}%  {v[1]:5d}  {k}" for k, v in ops[:top]]
    text += [f"the {min(top, len(steps))} slowest steps:"]
    text += [f"  {ms:9.3f} ms {100 * ms / total:5.1f}%  {op:<20} {be:<8} {name}" for ms, op, be, name in steps[:top]]
    return {"total_ms": total, "steps": len(steps), "by_pass_ms": by_pass,
            "by_op_ms": {k: v[0] for k, v in ops}, "text": "\n".join(text) + "\n"}


def run_case(args, case):
    work = os.path.join(args.work, case)
    os.makedirs(work, exist_ok=True)
    child(args, "prepare", case)
    with open(os.path.join(work, "case.json")) as f:
        info = json.load(f)
    pt = json.loads(child(args, "torch", case).strip().splitlines()[-1])
    cmd = [args.bench_train, info["model"], "--loss", "loss", "--threads", str(args.threads),
           "--steps", str(args.steps), "--warmup", str(WARMUP)]
    for k in info["inputs"]:
        cmd += ["--input", f"{k}={os.path.join(work, k + '.npy')}"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_train failed on {case}: {r.stderr}")
    wf = json.loads(r.stdout)
    # the first step's loss is the same function of the same weights and inputs
    if abs(wf["first_loss"] - pt["first_loss"]) > 1e-4 * max(1.0, abs(pt["first_loss"])):
        sys.exit(f"{case}: first-step losses differ: weft {wf['first_loss']!r}, PyTorch {pt['first_loss']!r}")
    prof = None
    if args.profile:
        # a separate run: timing every step of the plan costs time of its own
        r = subprocess.run(cmd[:cmd.index("--steps")] + ["--steps", "5", "--warmup", "1", "--profile",
                                                          "1000000"] + cmd[cmd.index("--input"):],
                           capture_output=True, text=True, env=env)
        prof = profile_summary(r.stderr, args.profile)
        sys.stderr.write(f"weft profile, {case}:\n{prof['text']}")
    return {"case": info["case"], "threads": args.threads, "params": info["params"], "weft": wf, "pytorch": pt,
            "speedup": pt["median_ms"] / wf["median_ms"],
            "graph": {k: v for k, v in info.items() if k not in ("model", "inputs", "case", "params")},
            "weft_profile": prof and {k: v for k, v in prof.items() if k != "text"}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-train", required=True, help="the bench_train binary")
    ap.add_argument("--weft", default=os.path.join(ROOT, "build-bench", "weft"), help="the weft CLI (traffic graph)")
    ap.add_argument("--case", default="all", choices=["sage", "traffic", "all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=20000, help="sage: nodes")
    ap.add_argument("--edges", type=int, default=100000, help="sage: edges")
    ap.add_argument("--flows", type=int, default=10000, help="traffic: flows in the graph")
    ap.add_argument("--traffic-data", default=DEFAULT_TRAFFIC, help="traffic: a capture or flow log")
    ap.add_argument("--layers", type=int, default=3, help="traffic: encoder layers")
    ap.add_argument("--sup-fraction", type=float, default=0.2, help="traffic: share of supervision edges")
    ap.add_argument("--profile", type=int, default=0, help="print the TOP slowest steps of weft's plan")
    ap.add_argument("--work", default="/tmp/weft_train_bench")
    ap.add_argument("--json", default=None)
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        args.case_name = args.case
        work = os.path.join(args.work, args.case)
        {"prepare": stage_prepare, "torch": stage_torch}[args.stage](args, work)
        return
    cases = ["sage", "traffic"] if args.case == "all" else [args.case]
    res = [run_case(args, c) for c in cases]
    print("| case | threads | weft step ms (p10-p90) | PyTorch step ms (p10-p90) | weft vs PyTorch | "
          "peak RSS MiB weft / PyTorch |")
    print("|---|---|---|---|---|---|")
    for r in res:
        wf, pt = r["weft"], r["pytorch"]
        print(f"| {r['case']} | {r['threads']} | {wf['median_ms']:.1f} ({wf['p10_ms']:.1f}-{wf['p90_ms']:.1f}) | "
              f"{pt['median_ms']:.1f} ({pt['p10_ms']:.1f}-{pt['p90_ms']:.1f}) | {r['speedup']:.2f}x | "
              f"{wf['peak_rss_mib']:.0f} / {pt['peak_rss_mib']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
