#!/usr/bin/env python3
"""Times the CNN reference models (models/*_small_ts17: ResNet-, MobileNet- and SqueezeNet-style, 64x64
images) on weft's onednn backend (`weft bench`, which also checks the outputs against ref) and on ONNX
Runtime (CPUExecutionProvider, sequential execution, intra-op threads = the thread count), at batch 1
and 8 and 1 and 2 threads, in one run. Prints a markdown table (median latency in ms per batch) and
writes the raw numbers as JSON.

    bench/.venv/bin/python bench/cnn_bench.py --weft build-cvr/weft [--batches 1,8] [--threads 1,2]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["resnet_small_ts17", "mobilenet_small_ts17", "squeezenet_small_ts17"]


def weft_ms(args, model, batch, threads):
    cmd = [args.weft, "bench", model, "--backends", "onednn", "--dim", f"batch={batch}", "--threads", str(threads),
           "--json", "--min-ms", str(args.min_ms), "--warmup-ms", str(args.warmup_ms), "--min-iters", "20"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    res = json.loads(r.stdout)["results"][0]
    assert res["status"] == "ok" and res["matches_ref"], res
    return res["p50_ms"], res["mean_ms"]


def ort_ms(args, model, batch, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) else d for d in inp.shape]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    feed = {inp.name: x}
    t_end = time.perf_counter() + args.warmup_ms / 1000
    while time.perf_counter() < t_end:
        sess.run(None, feed)
    times = []
    t_end = time.perf_counter() + args.min_ms / 1000
    while time.perf_counter() < t_end or len(times) < 20:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times)), float(np.mean(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(REPO, "build-cvr", "weft"))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-ms", type=float, default=1500)
    ap.add_argument("--warmup-ms", type=float, default=300)
    ap.add_argument("--json-out", default=os.path.join(REPO, "bench", "results", "cnn_bench.json"))
    args = ap.parse_args()
    rows = []
    for name in MODELS:
        model = os.path.join(REPO, "models", name, "model.onnx")
        for batch in [int(b) for b in args.batches.split(",")]:
            for threads in [int(t) for t in args.threads.split(",")]:
                w50, wmean = weft_ms(args, model, batch, threads)
                o50, omean = ort_ms(args, model, batch, threads)
                rows.append({"model": name, "batch": batch, "threads": threads, "weft_onednn_p50_ms": w50,
                             "weft_onednn_mean_ms": wmean, "ort_p50_ms": o50, "ort_mean_ms": omean})
                print(f"{name} batch {batch} threads {threads}: weft onednn {w50:.3f} ms, ONNX Runtime {o50:.3f} ms",
                      file=sys.stderr)
    os.makedirs(os.path.dirname(args.json_out), exist_ok=True)
    with open(args.json_out, "w") as f:
        json.dump({"onnxruntime": ort.__version__, "rows": rows}, f, indent=1)
    print("| model (64x64 input) | batch | threads | weft onednn p50 ms | ONNX Runtime p50 ms | weft / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['threads']} | {r['weft_onednn_p50_ms']:.3f} | {r['ort_p50_ms']:.3f} | "
              f"{r['weft_onednn_p50_ms'] / r['ort_p50_ms']:.2f} |")


if __name__ == "__main__":
    main()
