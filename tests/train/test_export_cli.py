"""`weft export`: a task model from `weft finetune` (encoder, head and training loss) → an inference model
that ONNX Runtime runs with the logits weft gives, its class names and feature scaling in metadata_props;
a model that is not a task model is refused.

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import os

import numpy as np

from traincli import ENCODER, ROOT, weft

GRAPH = os.path.join(ROOT, "models", "traffic_encoder_ts17", "test_data_set_2")


def test_export_runs_in_onnxruntime(flows, tmp_path):
    import onnx
    import onnxruntime as ort
    task, model = tmp_path / "task.onnx", tmp_path / "model.onnx"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--epochs", "1", "--window", "60",
             "--seed", "2")
    assert r.returncode == 0, r.stderr
    r = weft("export", str(task), "-o", str(model))
    assert r.returncode == 0, r.stderr
    m = onnx.load(str(model))
    meta = {p.key: p.value for p in m.metadata_props}
    classes = open(str(task) + ".classes.txt").read().split()
    assert meta["weft.classes"].split() == classes
    assert "weft.scaler" in meta and meta["weft.scaler"].startswith("weft-scaler")
    assert [o.name for o in m.graph.output] == ["logits"]
    assert "labels" not in [i.name for i in m.graph.input]
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)  # the ai.weft loss is gone
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds, args = {}, []
    for i, inp in enumerate(sess.get_inputs()):
        t = onnx.TensorProto()
        p = os.path.join(GRAPH, f"input_{i}.pb")
        with open(p, "rb") as f:
            t.ParseFromString(f.read())
        feeds[inp.name] = onnx.numpy_helper.to_array(t)
        args += ["--input", f"{inp.name}={p}"]
    want = sess.run(None, feeds)[0]
    assert want.shape[1] == len(classes)
    r = weft("run", str(model), *args, "--output-dir", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "run" / "logits.npy"), want, rtol=1e-4, atol=1e-5)


def test_export_refuses_what_is_not_a_task_model(tmp_path):
    r = weft("export", ENCODER, "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 1 and "not a task model" in r.stderr
    assert not (tmp_path / "x.onnx").exists()
    r = weft("export", ENCODER)
    assert r.returncode == 2
