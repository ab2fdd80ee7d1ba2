"""`weft finetune` and `weft predict` end to end: labelled flows (a slice of a shared Argus log with CTU
labels) → graphs → the traffic encoder with a classifier head → a task model as ONNX, the split's test
metrics as JSON; the task model classifies every flow of the data; bad command lines are clear.

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import csv
import json
import os

import pytest

from traincli import ARGUS, DATA, ENCODER, weft


def test_finetune_then_predict(flows, tmp_path):
    import onnx
    task, js = tmp_path / "task.onnx", tmp_path / "metrics.json"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--epochs", "2", "--window", "60",
             "--seed", "2", "--json", str(js))
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    # CTU labels: the slice holds malware and background traffic
    assert m["classes"] == ["Background", "Malicious"]
    assert len(m["class_weight"]) == 2 and m["class_weight"][0] > m["class_weight"][1] > 0  # background is rarer
    s = m["split"]
    assert s["train"] > 0 and s["validation"] > 0 and s["test"] > 0
    assert s["train"] + s["validation"] + s["test"] <= m["flows"]
    assert 1 <= len(m["epochs"]) <= 2 and all(e["loss"] > 0 for e in m["epochs"])
    t = m["test"]
    for k in ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "per_class", "confusion_matrix"):
        assert k in t
    assert t["flows"] == s["test"]
    assert 0 <= t["accuracy"] <= 1 and 0 <= t["macro_f1"] <= 1 and 0 <= t["weighted_f1"] <= 1
    assert t["roc_auc"] is None or 0 <= t["roc_auc"] <= 1
    cm = t["confusion_matrix"]
    assert len(cm) == 2 and all(len(row) == 2 for row in cm) and sum(map(sum, cm)) == t["flows"]
    assert abs(t["accuracy"] - (cm[0][0] + cm[1][1]) / t["flows"]) < 1e-6
    for c in m["classes"]:
        pc = t["per_class"][c]
        assert 0 <= pc["precision"] <= 1 and 0 <= pc["recall"] <= 1
    assert sum(t["per_class"][c]["support"] for c in m["classes"]) == t["flows"]
    assert "test: " in r.stderr and "confusion" in r.stderr
    # the task model: encoder, head (PyTorch's names) and loss; the classes beside it
    model = onnx.load(str(task))
    names = {i.name for i in model.graph.initializer}
    assert {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"} <= names
    assert [o.name for o in model.graph.output] == ["loss", "logits"]
    assert (tmp_path / "task.onnx.classes.txt").read_text().split() == m["classes"]

    pred, pj = tmp_path / "pred.csv", tmp_path / "pred.json"
    r = weft("predict", "--model", str(task), "--data", flows, "-o", str(pred), "--json", str(pj), "--window", "60")
    assert r.returncode == 0, r.stderr
    with open(pred) as f:
        rows = list(csv.DictReader(f))
    p = json.loads(pj.read_text())
    assert len(rows) == p["predicted"] == m["flows"]  # one row per flow (every flow of the slice is in a graph)
    assert list(rows[0].keys()) == ["src", "dst", "sport", "dport", "proto", "start", "predicted",
                                    "score_Background", "score_Malicious"]
    for row in rows:
        sc = [float(row["score_Background"]), float(row["score_Malicious"])]
        assert abs(sum(sc) - 1) < 1e-4
        assert row["predicted"] == m["classes"][sc.index(max(sc))]
    pm = p["metrics"]
    assert p["labelled"] == pm["flows"] == len(rows)
    assert sum(map(sum, pm["confusion_matrix"])) == len(rows)


def test_few_shot_frozen_encoder(flows, tmp_path):
    js = tmp_path / "m.json"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(tmp_path / "t.onnx"), "--epochs", "1",
             "--window", "60", "--shots", "3", "--freeze-encoder", "--json", str(js))
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    assert m["split"]["train"] == 3 * len(m["classes"])
    assert "4 parameters (encoder frozen)" in r.stderr  # the head's two weights and two biases
    # the same seed: the same split, weights and metrics
    js2 = tmp_path / "m2.json"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(tmp_path / "t2.onnx"), "--epochs", "1",
             "--window", "60", "--shots", "3", "--freeze-encoder", "--json", str(js2))
    assert r.returncode == 0, r.stderr
    assert json.loads(js2.read_text()) == m
    assert (tmp_path / "t.onnx").read_bytes() == (tmp_path / "t2.onnx").read_bytes()


@pytest.mark.parametrize("args,msg", [
    (["--data", "x", "-o", "y"], "one of --base and --scratch"),
    (["--base", "a", "--scratch", "b", "--data", "x", "-o", "y"], "one of --base and --scratch"),
    (["--base", "a", "-o", "y"], "--data and -o are required"),
    (["--base", "a", "--data", "x", "-o", "y", "--shots", "2", "--fraction", "0.3"], "exclude each other"),
    (["--base", "a", "--data", "x", "-o", "y", "--fraction", "1.5"], "--fraction '1.5'"),
    (["--base", "a", "--data", "x", "-o", "y", "--shots", "0"], "--shots '0'"),
    (["--base", "a", "--data", "x", "-o", "y", "--epochs"], "--epochs needs a value"),
])
def test_finetune_bad_command_lines(args, msg):
    r = weft("finetune", *args)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_predict_bad_command_lines(tmp_path, flows):
    r = weft("predict", "--data", "x")
    assert r.returncode == 2 and "--model and --data are required" in r.stderr
    r = weft("predict", "--model", "m.onnx", "--data", "x", "--bogus", "1")
    assert r.returncode == 2 and "--bogus" in r.stderr
    # a model without the class names 'weft finetune' writes beside it
    r = weft("predict", "--model", ENCODER, "--data", flows)
    assert r.returncode == 1 and "classes.txt" in r.stderr


def test_no_classes(tmp_path):
    src = ARGUS
    if not os.path.exists(src):
        pytest.skip(f"shared data not found at {DATA}")
    # the same flows without the label column: nothing to learn from
    p = tmp_path / "unlabelled.binetflow"
    with open(src) as f:
        p.write_text("".join("\t".join(line.rstrip("\n").split("\t")[:15]) + "\n" for line in f.readlines()[:60]))
    r = weft("finetune", "--scratch", ENCODER, "--data", str(p), "-o", str(tmp_path / "t.onnx"), "--window", "60")
    assert r.returncode == 1 and "a classifier needs two or more" in r.stderr, r.stderr


def test_label_map(flows, tmp_path):
    # CTU detailed labels (the flow's detail) renamed into the task's classes; unnamed flows keep their label
    lm = tmp_path / "map.csv"
    lm.write_text("# detail,class\nMalware-UDP-DNS, dns\nBackground-UDP-DNS,dns\nBackground-ICMP,\n")
    js, task = tmp_path / "m.json", tmp_path / "t.onnx"
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--epochs", "1", "--window", "60",
             "--label-map", str(lm), "--json", str(js))
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    assert m["classes"] == ["Background", "dns"]
    s = m["split"]
    assert s["train"] + s["validation"] + s["test"] == m["flows"] - 1  # the ICMP flow is not classified
    pj = tmp_path / "p.json"
    r = weft("predict", "--model", str(task), "--data", flows, "--window", "60", "--label-map", str(lm),
             "--json", str(pj))
    assert r.returncode == 0, r.stderr
    p = json.loads(pj.read_text())
    assert p["labelled"] == m["flows"] - 1 and p["unknown_class"] == 0
    assert r.stdout.startswith("src,dst,sport,dport,proto,start,predicted,score_Background,score_dns\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("no comma here\n")
    r = weft("finetune", "--scratch", ENCODER, "--data", flows, "-o", str(task), "--label-map", str(bad))
    assert r.returncode == 1 and "bad.csv:1: expected 'name,class'" in r.stderr, r.stderr


def test_ndpi_labels(tmp_path):
    # a capture whose flows get their classes from nDPI's application of each 5-tuple
    pcap = os.path.join(DATA, "ndpi", "pcap", "1kxun.pcap")
    out = os.path.join(DATA, "ndpi", "labels", "1kxun.pcap.out")
    if not (os.path.exists(pcap) and os.path.exists(out)):
        pytest.skip(f"shared data not found at {DATA}")
    js, task = tmp_path / "m.json", tmp_path / "t.onnx"
    r = weft("finetune", "--scratch", ENCODER, "--data", pcap, "--ndpi", out, "-o", str(task), "--epochs", "1",
             "--shots", "1", "--freeze-encoder", "--json", str(js))
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    assert {"LLMNR", "HTTP", "SSDP"} <= set(m["classes"]) and m["classes"] == sorted(m["classes"])
    # one training flow for every class with at least two flows (a class's only flow trains)
    assert len(m["classes"]) <= m["split"]["train"] < 2 * len(m["classes"])
    assert len(m["test"]["confusion_matrix"]) == len(m["classes"])
