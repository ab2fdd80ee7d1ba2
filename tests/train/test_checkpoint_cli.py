"""Checkpoints of `weft pretrain` and `weft finetune`: resuming from one gives, bit for bit, the weights an uninterrupted run
gives; a process killed with SIGKILL at any moment leaves the last complete checkpoint, which loads and
resumes; a checkpoint of another model, or a damaged one, is a clear error.

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import random
import signal
import subprocess
import time

from traincli import ENCODER, weft, weft_bin

COMMON = ["--window", "60", "--val-every", "3", "--seed", "5"]


def weights(path):
    import onnx
    return {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in onnx.load(path).graph.initializer}


def test_resume_is_bit_identical(flows, tmp_path):
    a, c, ck = tmp_path / "a.onnx", tmp_path / "c.onnx", tmp_path / "ck.onnx"
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(a), "--epochs", "3", *COMMON)
    assert r.returncode == 0, r.stderr
    # one epoch with a checkpoint, then on to three from it
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "b.onnx"), "--epochs", "1",
             "--checkpoint", str(ck), *COMMON)
    assert r.returncode == 0, r.stderr
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(c), "--epochs", "3", "--resume", str(ck),
             *COMMON)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 1" in r.stderr
    wa, wc = weights(str(a)), weights(str(c))
    assert wa.keys() == wc.keys() and all(wa[k] == wc[k] for k in wa)
    # the checkpoint is an ONNX model with the optimizer state beside the weights
    import onnx
    m = onnx.load(str(ck))
    names = {t.name for t in m.graph.initializer}
    assert "__weft_state__/step" in names and any(n.endswith("/v") for n in names)
    assert {p.key: p.value for p in m.metadata_props}.get("weft.checkpoint") == "1"


def test_kill_9_leaves_a_good_checkpoint(flows, tmp_path):
    import onnx
    ck = tmp_path / "ck.onnx"
    rnd = random.Random(11)
    for attempt in range(3):
        p = subprocess.Popen([weft_bin(), "pretrain", "--model", ENCODER, "--data", flows, "-o",
                              str(tmp_path / "x.onnx"), "--epochs", "200", "--checkpoint", str(ck), *COMMON],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not ck.exists() and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert ck.exists(), "no checkpoint was written"
        time.sleep(rnd.uniform(0.0, 1.5))  # somewhere in later epochs, perhaps mid-write
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        onnx.checker.check_model(onnx.load(str(ck)))  # whole, never half-written
    # what the kills left resumes: one epoch past the epoch it holds
    state = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(ck)).graph.initializer}
    done = int(state["__weft_state__/counter"][0])
    assert done >= 1
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "y.onnx"), "--epochs",
             str(done + 1), "--resume", str(ck), *COMMON)
    assert r.returncode == 0, r.stderr
    assert f"resuming after epoch {done}" in r.stderr and f"epoch {done + 1}/{done + 1}" in r.stderr


def test_bad_checkpoints(flows, tmp_path):
    # a model that is not a checkpoint, a damaged file, another model's checkpoint
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--epochs", "1",
             "--resume", ENCODER, *COMMON)
    assert r.returncode == 1 and "not a weft checkpoint" in r.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(open(ENCODER, "rb").read()[:5000])
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "x.onnx"), "--epochs", "1",
             "--resume", str(bad), *COMMON)
    assert r.returncode == 1 and "checkpoint" in r.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_resume_refuses_other_options(flows, tmp_path):
    # a checkpoint remembers the graphs, scaling and training options it was made with
    ck = tmp_path / "ck.onnx"
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "a.onnx"), "--epochs", "1",
             "--checkpoint", str(ck), *COMMON)
    assert r.returncode == 0, r.stderr
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(ck)).metadata_props}
    assert meta["weft.graph"].startswith("window=60 window_memory=5 ")
    assert meta["weft.scaler"].startswith("weft-scaler 1\n") and "seed=5" in meta["weft.train"]
    # the pretrained encoder carries the same graph options and scaling
    enc = {p.key: p.value for p in onnx.load(str(tmp_path / "a.onnx")).metadata_props}
    assert enc["weft.graph"] == meta["weft.graph"] and enc["weft.scaler"] == meta["weft.scaler"]
    other_window = [a if a != "60" else "30" for a in COMMON]
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "b.onnx"), "--epochs", "2",
             "--resume", str(ck), *other_window)
    assert r.returncode == 1 and "was made with graph options 'window=60" in r.stderr, r.stderr
    r = weft("pretrain", "--model", ENCODER, "--data", flows, "-o", str(tmp_path / "b.onnx"), "--epochs", "2",
             "--resume", str(ck), *COMMON, "--neg-ratio", "2")
    assert r.returncode == 1 and "training options" in r.stderr and "neg_ratio=1" in r.stderr, r.stderr
    assert not (tmp_path / "b.onnx").exists()


FT = ["--window", "60", "--seed", "4", "--patience", "0"]


def test_finetune_resume_is_bit_identical(flows, tmp_path):
    # four epochs straight, against two with a checkpoint and two more from it: the same classifier and
    # the same test metrics (early stopping's best weights and counters travel in the checkpoint)
    a, c, ck = tmp_path / "a.onnx", tmp_path / "c.onnx", tmp_path / "ck.onnx"
    ja, jc = tmp_path / "a.json", tmp_path / "c.json"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(a), "--epochs", "4", "--json", str(ja), *FT)
    assert r.returncode == 0, r.stderr
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(tmp_path / "b.onnx"), "--epochs", "2",
             "--checkpoint", str(ck), *FT)
    assert r.returncode == 0, r.stderr
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(ck)).metadata_props}
    assert meta["weft.checkpoint"] == "1" and meta["weft.early_stop"].startswith("best_epoch=")
    assert meta["weft.classes"].split() == ["Background", "Malicious"]
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(c), "--epochs", "4", "--resume", str(ck),
             "--json", str(jc), *FT)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 2" in r.stderr
    wa, wc = weights(str(a)), weights(str(c))
    assert wa.keys() == wc.keys() and all(wa[k] == wc[k] for k in wa)
    import json
    ma, mc = json.loads(ja.read_text()), json.loads(jc.read_text())
    assert ma["best_epoch"] == mc["best_epoch"] and ma["test"] == mc["test"]
    assert [e["epoch"] for e in mc["epochs"]] == [3, 4] and ma["epochs"][2:] == mc["epochs"]
    # another seed is another run
    other = [x if x != "4" else "5" for x in FT]
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(tmp_path / "d.onnx"), "--epochs", "4",
             "--resume", str(ck), *other)
    assert r.returncode == 1 and "training options" in r.stderr, r.stderr


def test_task_model_carries_its_metadata(flows, tmp_path):
    # predict needs nothing beside the model: classes, scaling and graph options are in it
    import onnx
    task = tmp_path / "task.onnx"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--epochs", "1", *FT)
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(task)).metadata_props}
    assert meta["weft.graph"].startswith("window=60 ") and meta["weft.train"].startswith("finetune scratch=")
    p1 = tmp_path / "p1.csv"
    r = weft("predict", "--model", str(task), "--data", flows, "-o", str(p1))
    assert r.returncode == 0, r.stderr
    (tmp_path / "task.onnx.classes.txt").unlink()
    (tmp_path / "task.onnx.scaler").unlink()
    p2 = tmp_path / "p2.csv"
    r = weft("predict", "--model", str(task), "--data", flows, "-o", str(p2))
    assert r.returncode == 0, r.stderr
    assert p1.read_text() == p2.read_text()
    # export keeps it all
    out = tmp_path / "model.onnx"
    r = weft("export", str(task), "-o", str(out))
    assert r.returncode == 0, r.stderr
    em = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert {k: em[k] for k in meta} == meta


def test_finetune_scaler_option(flows, tmp_path):
    # --scaler: the given scaling, carried in the classifier's metadata; a broken file is a clear error
    import onnx
    sc, csv = tmp_path / "s.txt", tmp_path / "f.csv"
    r = weft("flows", flows, "-o", str(csv))
    assert r.returncode == 0, r.stderr
    r = weft("graph", str(csv), "--window", "60", "--save-scaler", str(sc))
    assert r.returncode == 0, r.stderr
    task = tmp_path / "t.onnx"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--epochs", "1", "--scaler", str(sc), *FT)
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(task)).metadata_props}
    assert meta["weft.scaler"] == sc.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text("weft-scaler 1\nquantiles 0.9 0.1\n")
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(tmp_path / "u.onnx"), "--scaler", str(bad), *FT)
    assert r.returncode == 1 and "--scaler" in r.stderr and "quantiles" in r.stderr
