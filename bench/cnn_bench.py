#!/usr/bin/env python3
"""Times reference models of models/ on weft's onednn backend (`weft bench`, which also checks the outputs
against ref) and on ONNX Runtime (CPUExecutionProvider, sequential execution, intra-op threads = the thread
count), at each batch size and thread count, in one run. Prints a markdown table (median latency in ms per
batch) and writes the raw numbers as JSON.

Model sets (--set):
  cnn  the CNNs (models/*_small_ts17: ResNet-, MobileNet-, SqueezeNet-, EfficientNet- and ShuffleNetV2-style,
       64x64 images)
  seq  the sequence and attention models (LSTM and GRU classifiers, nn.TransformerEncoder, ViT on 32x32
       images, tiny BERT and GPT-2), each its TorchScript opset-17 export, or the dynamo opset-18 one where
       the former failed (models/MANIFEST); sequence length --seq
  all  both

Both runtimes get the same inputs, synthesised from the model's graph inputs: the symbolic axes `batch`
and `seq` are --batches and --seq, float inputs are N(0, 1), int64 inputs named *mask* are all ones, other
int64 inputs are token ids uniform in [0, vocabulary) (the vocabulary is the row count of the embedding
table the ids gather from). weft reads them through `weft bench --input NAME=FILE.npy`.

    bench/.venv/bin/python bench/cnn_bench.py --weft build-cvr/weft [--set cnn|seq|all] [--batches 1,8]
                                              [--threads 1,2] [--seq 64]
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_MODELS = ["resnet_small_ts17", "mobilenet_small_ts17", "squeezenet_small_ts17", "efficientnet_small_ts17",
              "shufflenet_small_ts17"]
# transformer_encoder: its TorchScript export bakes the example's sequence length in (models/MANIFEST).
SEQ_MODELS = ["lstm_classifier_ts17", "gru_classifier_ts17", "transformer_encoder_dynamo18", "vit_small_ts17",
              "bert_small_ts17", "gpt2_small_ts17"]
SETS = {"cnn": CNN_MODELS, "seq": SEQ_MODELS, "all": CNN_MODELS + SEQ_MODELS}


def vocabulary(model, name):
    """The row count of the initializer a Gather reads with the ids `name` (following Cast/Unsqueeze/
    Reshape), or None."""
    inits = {i.name: i for i in model.graph.initializer}
    names, seen = {name}, set()
    while names - seen:
        n = (names - seen).pop()
        seen.add(n)
        for node in model.graph.node:
            if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == n and node.input[0] in inits:
                return int(inits[node.input[0]].dims[0])
            if node.op_type in ("Cast", "Unsqueeze", "Reshape", "Identity") and node.input and node.input[0] == n:
                names.update(node.output)
    return None


def synth_inputs(path, batch, seq, seed=1):
    """name -> array for every graph input of the model at `path`."""
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(seed)
    sizes = {"batch": batch, "seq": seq}
    feed = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        shape = []
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.dim_param in sizes:
                shape.append(sizes[d.dim_param])
            else:
                raise SystemExit(f"{path}: input {vi.name} has the axis {d.dim_param!r}, neither batch nor seq")
        elem = vi.type.tensor_type.elem_type
        if elem == onnx.TensorProto.FLOAT:
            feed[vi.name] = rng.standard_normal(shape).astype(np.float32)
        elif elem == onnx.TensorProto.INT64 and "mask" in vi.name:
            feed[vi.name] = np.ones(shape, np.int64)
        elif elem == onnx.TensorProto.INT64:
            vocab = vocabulary(m, vi.name)
            if vocab is None:
                raise SystemExit(f"{path}: no embedding table found for the int64 input {vi.name}")
            feed[vi.name] = rng.integers(0, vocab, shape).astype(np.int64)
        else:
            raise SystemExit(f"{path}: input {vi.name} has element type {elem}, not synthesised")
    return feed


def weft_ms(args, model, files, threads):
    cmd = [args.weft, "bench", model, "--backends", "onednn", "--threads", str(threads), "--json",
           "--min-ms", str(args.min_ms), "--warmup-ms", str(args.warmup_ms), "--min-iters", "20"]
    for name, f in files.items():
        cmd += ["--input", f"{name}={f}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    res = json.loads(r.stdout)["results"][0]
    assert res["status"] == "ok" and res["matches_ref"], res
    return res["p50_ms"], res["mean_ms"]


def ort_ms(args, model, feed, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
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


def describe(feed):
    return " ".join(f"{n}[{','.join(map(str, a.shape))}]" for n, a in feed.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(REPO, "build-cvr", "weft"))
    ap.add_argument("--set", choices=sorted(SETS), default="cnn")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seq", type=int, default=64, help="sequence length of the sequence models")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-ms", type=float, default=1500)
    ap.add_argument("--warmup-ms", type=float, default=300)
    ap.add_argument("--json-out", default=None,
                    help="default: bench/results/cnn_bench.json (--set cnn), else bench/results/<set>_bench.json")
    args = ap.parse_args()
    json_out = args.json_out or os.path.join(REPO, "bench", "results", f"{args.set}_bench.json")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in SETS[args.set]:
            model = os.path.join(REPO, "models", name, "model.onnx")
            for batch in [int(b) for b in args.batches.split(",")]:
                feed = synth_inputs(model, batch, args.seq)
                files = {}
                for i, (n, a) in enumerate(feed.items()):
                    files[n] = os.path.join(tmp, f"{name}_{batch}_{i}.npy")
                    np.save(files[n], a)
                for threads in [int(t) for t in args.threads.split(",")]:
                    w50, wmean = weft_ms(args, model, files, threads)
                    o50, omean = ort_ms(args, model, feed, threads)
                    rows.append({"model": name, "inputs": describe(feed), "batch": batch, "threads": threads,
                                 "weft_onednn_p50_ms": w50, "weft_onednn_mean_ms": wmean, "ort_p50_ms": o50,
                                 "ort_mean_ms": omean})
                    print(f"{name} {describe(feed)} threads {threads}: weft onednn {w50:.3f} ms, "
                          f"ONNX Runtime {o50:.3f} ms", file=sys.stderr)
    os.makedirs(os.path.dirname(json_out), exist_ok=True)
    with open(json_out, "w") as f:
        json.dump({"onnxruntime": ort.__version__, "set": args.set, "seq": args.seq, "rows": rows}, f, indent=1)
    print("| model | inputs | threads | weft onednn p50 ms | ONNX Runtime p50 ms | weft / ORT |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['inputs']} | {r['threads']} | {r['weft_onednn_p50_ms']:.3f} | "
              f"{r['ort_p50_ms']:.3f} | {r['weft_onednn_p50_ms'] / r['ort_p50_ms']:.2f} |")


if __name__ == "__main__":
    main()
