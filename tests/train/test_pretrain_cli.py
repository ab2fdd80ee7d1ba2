"""`weft pretrain` end to end: real flows (a slice of a shared Argus log) → graphs → link prediction with
the paper's traffic encoder → the encoder with trained weights as ONNX, which ONNX Runtime runs with the
outputs weft gives; metrics per epoch as JSON; bad command lines are clear.

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import json
import os

import numpy as np

from traincli import ENCODER, ROOT, weft


def test_pretrain_writes_an_encoder_onnxruntime_runs(flows, tmp_path):
    import onnx
    import onnxruntime as ort
    out, js = tmp_path / "base.onnx", tmp_path / "metrics.json"
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(out), "--epochs", "2", "--val-every", "3",
             "--window", "60", "--seed", "3", "--json", str(js))
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    assert m["graphs"] == m["train_graphs"] + m["val_graphs"] and m["val_graphs"] > 0
    assert len(m["epochs"]) == 2
    for e in m["epochs"]:
        assert 0 < e["loss"] < 5 and 0 <= e["val_auc"] <= 1
    assert "epoch 2/2: loss" in r.stderr and "val AUC" in r.stderr
    # the weights changed, the graph did not
    base, trained = onnx.load(ENCODER), onnx.load(str(out))
    bw = {t.name: onnx.numpy_helper.to_array(t) for t in base.graph.initializer}
    tw = {t.name: onnx.numpy_helper.to_array(t) for t in trained.graph.initializer}
    floats = [k for k, v in bw.items() if v.dtype == np.float32]
    assert floats and all(k in tw for k in floats)
    assert sum(not np.array_equal(bw[k], tw[k]) for k in floats) >= len(floats) // 2
    # ONNX Runtime and weft give the same embeddings with the trained weights
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    tdir = os.path.join(ROOT, "models", "traffic_encoder_ts17", "test_data_set_2")
    feeds, args = {}, []
    for i, inp in enumerate(sess.get_inputs()):
        t = onnx.TensorProto()
        with open(os.path.join(tdir, f"input_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[inp.name] = onnx.numpy_helper.to_array(t)
        args += ["--input", f"{inp.name}={os.path.join(tdir, f'input_{i}.pb')}"]
    want = sess.run(None, feeds)
    od = tmp_path / "run"
    r = weft("run", str(out), *args, "--output-dir", str(od))
    assert r.returncode == 0, r.stderr
    for o, w in zip(sess.get_outputs(), want):
        got = np.load(od / f"{o.name}.npy")
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5)
    # the same seed gives the same weights
    out2 = tmp_path / "base2.onnx"
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(out2), "--epochs", "2", "--val-every", "3",
             "--window", "60", "--seed", "3")
    assert r.returncode == 0, r.stderr
    t2 = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out2)).graph.initializer}
    assert all(np.array_equal(tw[k], t2[k]) for k in floats)


def test_pretrain_batches_graphs(flows, tmp_path):
    # --batch-graphs 4: a quarter of the steps, the same bookkeeping, still learning; out of range refused
    js1, js4 = tmp_path / "b1.json", tmp_path / "b4.json"
    common = ["--model", ENCODER, "--data", flows, "--epochs", "3", "--val-every", "3", "--window", "60", "--seed", "3"]
    r = weft("pretrain", *common, "-o", str(tmp_path / "b1.onnx"), "--json", str(js1))
    assert r.returncode == 0, r.stderr
    r = weft("pretrain", *common, "-o", str(tmp_path / "b4.onnx"), "--json", str(js4), "--batch-graphs", "4")
    assert r.returncode == 0, r.stderr
    m1, m4 = json.loads(js1.read_text()), json.loads(js4.read_text())
    assert m1["train_graphs"] == m4["train_graphs"] > 4
    for e in m4["epochs"]:
        assert 0 < e["loss"] < 5 and 0 <= e["val_auc"] <= 1
    assert m4["epochs"][-1]["loss"] < m4["epochs"][0]["loss"]
    r = weft("pretrain", *common, "-o", str(tmp_path / "x.onnx"), "--batch-graphs", "0")
    assert r.returncode == 2 and "--batch-graphs" in r.stderr


def test_pretrain_learning_rate_schedule(flows, tmp_path):
    # a warm-up then a cosine decay: recorded with the run, and a schedule without its length refused
    import onnx
    out = tmp_path / "s.onnx"
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(out), "--epochs", "2", "--val-every", "3",
             "--window", "60", "--warmup-steps", "3", "--lr-decay", "cosine", "--min-lr", "1e-4")
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert "warmup_steps=3 " in meta["weft.train"] and "lr_decay=cosine" in meta["weft.train"]
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--lr-decay", "step")
    assert r.returncode == 2 and "--step-size" in r.stderr
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--lr-decay", "linear")
    assert r.returncode == 2 and "--lr-decay" in r.stderr


def test_pretrain_bad_command_lines(flows, tmp_path):
    r = weft("pretrain", "--data", flows, "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "--model" in r.stderr
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--lr", "-1")
    assert r.returncode == 2 and "--lr" in r.stderr
    r = weft("pretrain", "--model", ENCODER, "--data", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 1 and "missing.csv" in r.stderr
    # a model that is not a graph encoder
    sage = os.path.join(ROOT, "models", "sage_mean_ts17", "model.onnx")
    r = weft("pretrain", "--model", sage, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--epochs", "1")
    assert r.returncode == 1 and "edge_index__" in r.stderr
    assert not (tmp_path / "x.onnx").exists()
