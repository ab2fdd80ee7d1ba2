"""A training step — forward, loss, backward, Adam — of GraphSAGE-mean 3 layers 32 -> 128 -> 128 -> 128
at 20k nodes / 100k edges (the same model as bench/gnn_bench.py's sage3), weft against PyTorch + PyG
eager in one run, the same threads, the same inputs and the same starting weights.

The loss is mean(out * w) with w a fixed N(0, 1) tensor of out's shape, so every output element has a
gradient. weft trains the ONNX export of the model with the loss (TorchScript exporter, opset 17) through
weft_trainer (bench/bench_train.c); PyTorch runs the module itself. Each system: 3 warm-up steps, then
the median of --steps steps. Peak RSS of each process.

    bench/run_train_bench.sh [--threads T] [--steps N] [--nodes N --edges E]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gnn_bench  # noqa: E402  (the same SAGE3 model)


def torch_side(args, work):
    import torch
    torch.set_num_threads(args.threads)
    model = gnn_bench.build_model("sage3").train()

    class WithLoss(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, edge_index, w):
            return (self.m(x, edge_index) * w).mean()

    wl = WithLoss(model)
    g = gnn_bench.random_graph(args.nodes, args.edges, 7)
    rng = np.random.default_rng(8)
    w = rng.standard_normal((args.nodes, 128)).astype(np.float32)
    for k, v in (("x", g["x"]), ("edge_index", g["edge_index"]), ("w", w)):
        np.save(os.path.join(work, k + ".npy"), v)
    x, ei, wt = torch.from_numpy(g["x"]), torch.from_numpy(g["edge_index"]), torch.from_numpy(w)
    path = os.path.join(work, "sage3_loss.onnx")
    torch.onnx.export(wl, (x, ei, wt), path, opset_version=17, dynamo=False, input_names=["x", "edge_index", "w"],
                      output_names=["loss"], dynamic_axes={"x": {0: "num_nodes"}, "edge_index": {1: "num_edges"},
                                                           "w": {0: "num_nodes"}})
    opt = torch.optim.Adam(wl.parameters(), lr=1e-3)
    times, losses = [], []
    for s in range(3 + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = wl(x, ei, wt)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        losses.append(float(loss.detach()))
        if s >= 3:
            times.append((t1 - t0) * 1e3)
    times.sort()
    return path, {"median_ms": times[len(times) // 2], "p10_ms": times[len(times) // 10],
                  "p90_ms": times[(len(times) * 9) // 10], "first_loss": losses[0], "last_loss": losses[-1],
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-train", required=True, help="the bench_train binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=20000)
    ap.add_argument("--edges", type=int, default=100000)
    ap.add_argument("--work", default="/tmp/weft_train_bench")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    path, pt = torch_side(args, args.work)
    cmd = [args.bench_train, path, "--loss", "loss", "--threads", str(args.threads), "--steps", str(args.steps)]
    for k in ("x", "edge_index", "w"):
        cmd += ["--input", f"{k}={os.path.join(args.work, k + '.npy')}"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_train failed: {r.stderr}")
    wf = json.loads(r.stdout)
    # the first step's loss is the same function of the same weights and inputs
    assert abs(wf["first_loss"] - pt["first_loss"]) <= 1e-4 * max(1.0, abs(pt["first_loss"])), (wf, pt)
    res = {"case": f"sage3 {args.nodes // 1000}k/{args.edges // 1000}k", "threads": args.threads, "weft": wf,
           "pytorch_pyg": pt, "speedup": pt["median_ms"] / wf["median_ms"]}
    print("| case | threads | weft step ms (p10-p90) | PyTorch+PyG step ms (p10-p90) | weft vs PyTorch | "
          "peak RSS MiB weft / PyTorch |")
    print("|---|---|---|---|---|---|")
    print(f"| {res['case']} | {args.threads} | {wf['median_ms']:.1f} ({wf['p10_ms']:.1f}-{wf['p90_ms']:.1f}) | "
          f"{pt['median_ms']:.1f} ({pt['p10_ms']:.1f}-{pt['p90_ms']:.1f}) | {res['speedup']:.2f}x | "
          f"{wf['peak_rss_mib']:.0f} / {pt['peak_rss_mib']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
