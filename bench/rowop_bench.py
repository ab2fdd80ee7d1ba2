#!/usr/bin/env python3
"""Times the row operators of attention blocks in isolation: one-node ONNX models (Softmax over the last
axis of attention probabilities [8, 4, 64, 64], LayerNormalization over the last axis of [8, 64, 64],
the exact GELU chain Div / Erf / Add / Mul / Mul on [8, 64, 512]) run by `weft bench` on the given
backends and by ONNX Runtime, one thread each, several repeats: medians of each repeat's p50 and
minimum latencies (the minimum is the steadier figure on a shared machine).

    .venv/bin/python bench/rowop_bench.py --weft build/weft [--backends onednn,ref] [--repeats 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def softmax_model(shape):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    node = helper.make_node("Softmax", ["x"], ["y"], axis=-1)
    return helper.make_model(helper.make_graph([node], "softmax", [x], [y]),
                             opset_imports=[helper.make_opsetid("", 17)])


def layernorm_model(shape):
    n = shape[-1]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "scale"),
             numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "bias")]
    node = helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], axis=-1, epsilon=1e-12)
    return helper.make_model(helper.make_graph([node], "layernorm", [x], [y], inits),
                             opset_imports=[helper.make_opsetid("", 17)])


def gelu_model(shape):
    """The exact GELU as the TorchScript exporter writes it: x * 0.5 * (1 + erf(x / sqrt(2)))."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
    inits = [c("sqrt2", 1.4142135381698608), c("one", 1.0), c("half", 0.5)]
    nodes = [helper.make_node("Div", ["x", "sqrt2"], ["t0"]),
             helper.make_node("Erf", ["t0"], ["t1"]),
             helper.make_node("Add", ["t1", "one"], ["t2"]),
             helper.make_node("Mul", ["x", "t2"], ["t3"]),
             helper.make_node("Mul", ["t3", "half"], ["y"])]
    return helper.make_model(helper.make_graph(nodes, "gelu", [x], [y], inits),
                             opset_imports=[helper.make_opsetid("", 17)])


CASES = {
    "softmax_8x4x64x64": (softmax_model, [8, 4, 64, 64], 3.0),
    "layernorm_8x64x64": (layernorm_model, [8, 64, 64], 1.0),
    "gelu_8x64x512": (gelu_model, [8, 64, 512], 1.0),
}


def ort_p50(path, x, repeats_ms=1000):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {"x": x}
    t_end = time.perf_counter() + 0.2
    while time.perf_counter() < t_end:
        sess.run(None, feed)
    times = []
    t_end = time.perf_counter() + repeats_ms / 1000
    while time.perf_counter() < t_end or len(times) < 10:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def weft_p50(weft, path, xpath, backends):
    out = subprocess.run([weft, "bench", path, "--backends", backends, "--input", f"x={xpath}", "--threads", "1",
                          "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"weft bench failed:\n{out.stdout}\n{out.stderr}")
    doc = json.loads(out.stdout)
    return {b["backend"]: (b["p50_ms"], b["min_ms"]) for b in doc["results"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default="build/weft")
    ap.add_argument("--backends", default="onednn,ref")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="weft_rowop_")
    for name in args.cases.split(","):
        make, shape, scale = CASES[name]
        path = os.path.join(tmp, name + ".onnx")
        onnx.save(make(shape), path)
        x = (np.random.default_rng(1).standard_normal(shape) * scale).astype(np.float32)
        xpath = os.path.join(tmp, name + "_x.npy")
        np.save(xpath, x)
        runs = {}
        for _ in range(args.repeats):
            for b, v in weft_p50(args.weft, path, xpath, args.backends).items():
                runs.setdefault("weft " + b, []).append(v)
            runs.setdefault("onnxruntime", []).append(ort_p50(path, x))
        print(f"{name}: medians over {args.repeats} repeats of each run's p50 and min latency (ms), 1 thread")
        for k, v in runs.items():
            p50s, mins = [t[0] for t in v], [t[1] for t in v]
            print(f"  {k:16s} p50 {statistics.median(p50s):8.4f}  min {statistics.median(mins):8.4f}"
                  f"   (p50s: {', '.join(f'{t:.4f}' for t in p50s)})")


if __name__ == "__main__":
    main()
