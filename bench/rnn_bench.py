#!/usr/bin/env python3
"""Times single recurrent layers on weft (`weft bench`: the onednn backend, whose LSTM and GRU are oneDNN RNN
primitives, and ref, after checking onednn's outputs against ref's) and on ONNX Runtime (CPUExecutionProvider,
sequential execution, intra-op threads = the thread count), at 1 and 2 threads. Prints a markdown table of
median latencies and writes the raw numbers as JSON.

The models are made here with onnx's helper, weights as initializers (so weft packs them once), fixed sizes:
  lstm_bidir  LSTM, bidirectional, hidden 64, X [seq 64, batch 8, input 32], B and zero initial states
  gru_lbr     GRU, forward, linear_before_reset 1 (PyTorch's), the same sizes
  gru         GRU, forward, linear_before_reset 0
  lstm_fwd    LSTM, forward
  lstm_bf     LSTM, forward, layout 1 (batch first: X [batch, seq, input]); ONNX Runtime's CPU provider
              does not run layout 1, so weft only
Outputs: Y and Y_h (and Y_c for LSTM).

With 2 threads on a machine whose cores other processes also use, OpenMP's barriers make single runs of
these sub-millisecond steps stall now and then; the median is reported.

    bench/.venv/bin/python bench/rnn_bench.py --weft build-gr-rel/weft [--threads 1,2] [--seq 64]
                                              [--batch 8] [--hidden 64] [--input 32]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_model(kind, seq, batch, inp, hidden, seed=0):
    """(ModelProto, feed) for one recurrent layer of `kind`."""
    rng = np.random.default_rng(seed)
    lstm = kind.startswith("lstm")
    dirs = 2 if kind == "lstm_bidir" else 1
    layout = 1 if kind == "lstm_bf" else 0
    gates = 4 if lstm else 3
    scale = 1.0 / np.sqrt(hidden)
    w = (rng.uniform(-scale, scale, (dirs, gates * hidden, inp))).astype(np.float32)
    r = (rng.uniform(-scale, scale, (dirs, gates * hidden, hidden))).astype(np.float32)
    b = (rng.uniform(-scale, scale, (dirs, 2 * gates * hidden))).astype(np.float32)
    xshape = [batch, seq, inp] if layout else [seq, batch, inp]
    sshape = [batch, dirs, hidden] if layout else [dirs, batch, hidden]
    yshape = [batch, seq, dirs, hidden] if layout else [seq, dirs, batch, hidden]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B"),
             numpy_helper.from_array(np.zeros(sshape, np.float32), "h0")]
    inputs = ["X", "W", "R", "B", "", "h0"]
    outputs = ["Y", "Y_h"]
    attrs = {"hidden_size": hidden}
    if dirs == 2:
        attrs["direction"] = "bidirectional"
    if layout:
        attrs["layout"] = 1
    if lstm:
        inits.append(numpy_helper.from_array(np.zeros(sshape, np.float32), "c0"))
        inputs.append("c0")
        outputs.append("Y_c")
    else:
        attrs["linear_before_reset"] = 1 if kind == "gru_lbr" else 0
    node = helper.make_node("LSTM" if lstm else "GRU", inputs, outputs, name=kind, **attrs)
    outs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, yshape),
            helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, sshape)]
    if lstm:
        outs.append(helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, sshape))
    graph = helper.make_graph([node], kind, [helper.make_tensor_value_info("X", TensorProto.FLOAT, xshape)], outs,
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    feed = {"X": rng.standard_normal(xshape).astype(np.float32)}
    return model, feed


def weft_ms(args, model, xfile, threads):
    """{backend: p50 ms} from `weft bench` (which compares onednn's outputs with ref's first)."""
    cmd = [args.weft, "bench", model, "--backends", "onednn,ref", "--threads", str(threads), "--json",
           "--min-ms", str(args.min_ms), "--warmup-ms", str(args.warmup_ms), "--min-iters", "20",
           "--input", f"X={xfile}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    out = {}
    for res in json.loads(r.stdout)["results"]:
        assert res["status"] == "ok" and res.get("matches_ref", True), res
        out[res["backend"]] = res["p50_ms"]
    return out


def ort_ms(args, model, feed, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # layout 1: not run by ONNX Runtime's CPU provider
        print(f"ONNX Runtime declines {model}: {str(e).splitlines()[0][:160]}", file=sys.stderr)
        return None
    t_end = time.perf_counter() + args.warmup_ms / 1000
    while time.perf_counter() < t_end:
        sess.run(None, feed)
    times = []
    t_end = time.perf_counter() + args.min_ms / 1000
    while time.perf_counter() < t_end or len(times) < 20:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def fmt(ms):
    return "-" if ms is None else f"{ms:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(REPO, "build-gr-rel", "weft"))
    ap.add_argument("--models", default="lstm_bidir,gru_lbr,gru,lstm_fwd,lstm_bf")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--input", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--min-ms", type=float, default=1500)
    ap.add_argument("--warmup-ms", type=float, default=300)
    ap.add_argument("--json-out", default=os.path.join(REPO, "bench", "results", "rnn_bench.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            model, feed = make_model(kind, args.seq, args.batch, args.input, args.hidden)
            path = os.path.join(tmp, f"{kind}.onnx")
            onnx.save(model, path)
            xfile = os.path.join(tmp, f"{kind}_x.npy")
            np.save(xfile, feed["X"])
            for threads in [int(t) for t in args.threads.split(",")]:
                w = weft_ms(args, path, xfile, threads)
                o = ort_ms(args, path, feed, threads)
                row = {"model": kind, "x": list(feed["X"].shape), "hidden": args.hidden, "threads": threads,
                       "weft_onednn_p50_ms": w["onednn"], "weft_ref_p50_ms": w["ref"], "ort_p50_ms": o}
                rows.append(row)
                print(f"{kind} X{list(feed['X'].shape)} threads {threads}: weft onednn {w['onednn']:.3f} ms, "
                      f"weft ref {w['ref']:.3f} ms, ONNX Runtime {fmt(o)} ms", file=sys.stderr)
    os.makedirs(os.path.dirname(args.json_out), exist_ok=True)
    with open(args.json_out, "w") as f:
        json.dump({"onnxruntime": ort.__version__, "rows": rows}, f, indent=1)
    print("| model | X | threads | weft onednn p50 ms | weft ref p50 ms | ONNX Runtime p50 ms | onednn / ORT |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        o = r["ort_p50_ms"]
        ratio = f"{r['weft_onednn_p50_ms'] / o:.2f}" if o else "-"
        print(f"| {r['model']} | {r['x']} | {r['threads']} | {r['weft_onednn_p50_ms']:.3f} | {r['weft_ref_p50_ms']:.3f} | "
              f"{fmt(o)} | {ratio} |")


if __name__ == "__main__":
    main()
