"""End-to-end tests of `weft bench`: the JSON report's fields, every backend checked against ref, the
synthesised inputs (sizes and the node sets their index rows range over), given inputs, errors.

Expected sizes and index ranges are worked out here from the models' definitions (models/README.md,
schemas/traffic_graph.md, the small ONNX models built below), never taken from weft. Speed is never
asserted; tiny --min-iters / --min-ms keep the runs short.
The weft binary: $WEFT_BIN, else build/weft.
"""
import json
import os
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "models")
QUICK = ["--min-iters", "2", "--min-ms", "0", "--warmup-ms", "0", "--threads", "1"]
EDGE_TYPES = ["ip__src__con", "con__dst__ip", "con__rev_src__ip", "ip__rev_dst__con",
              "ip__next__ip", "con__next_src__con", "con__next_dst__con", "con__repeat__con"]


def weft_bin():
    if os.environ.get("WEFT_BIN"):
        return os.environ["WEFT_BIN"]
    p = os.path.join(REPO, "build", "weft")
    if os.path.exists(p):
        return p
    pytest.skip("no weft binary (set WEFT_BIN)")


def bench(*args, timeout=300):
    return subprocess.run([weft_bin(), "bench", *args], capture_output=True, text=True, timeout=timeout)


def model(name):
    p = os.path.join(MODELS, name, "model.onnx")
    if not os.path.exists(p):
        pytest.skip(f"{p} is missing")
    return p


def backends():
    r = subprocess.run([weft_bin(), "bench", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    # "... (default: every backend of this build that can" / "run here: onednn,ref)"
    line = [ln for ln in r.stdout.splitlines() if "run here:" in ln][0]
    return line.split("here:")[1].strip().rstrip(")").split(",")


def check_result(res, min_iters):
    assert res["status"] == "ok", res
    assert res["matches_ref"] is True
    for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "compile_ms", "setup_ms",
              "runs_per_s", "edges_per_s"):
        assert isinstance(res[k], (int, float)) and res[k] >= 0, (k, res)
    assert res["min_ms"] <= res["p50_ms"] <= res["p90_ms"] <= res["p95_ms"] <= res["p99_ms"]
    assert res["min_ms"] <= res["mean_ms"]
    assert res["iterations"] >= min_iters
    assert res["arena_bytes"] > 0
    assert res["peak_rss_bytes"] > 0
    assert res["runs_per_s"] == pytest.approx(1e3 / res["mean_ms"], rel=1e-3)


def test_sage_synthetic_every_backend():
    n, e = 150, 700
    r = bench(model("sage_mean_ts18"), "--nodes", str(n), "--edges", str(e), "--json", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["model"].endswith("model.onnx")
    assert d["threads"] == 1
    # models/README.md: x float32[num_nodes, 32], edge_index int64[2, num_edges]
    assert d["inputs"] == {"x": [n, 32], "edge_index": [2, e]}
    assert d["dims"] == {"num_nodes": n, "num_edges": e}
    assert d["index_ranges"] == {"edge_index": [n, n]}
    assert d["index_range_sources"] == {"edge_index": ["graph", "graph"]}
    assert d["edges"] == e
    assert [x["backend"] for x in d["results"]] == backends()
    for res in d["results"]:
        check_result(res, 2)
        assert res["edges_per_s"] == pytest.approx(res["runs_per_s"] * e, rel=1e-3)
        assert res["profile"] is None


def test_another_reference():
    """--reference B: B's outputs are what the others must match, and B is timed only when asked for."""
    others = [b for b in backends() if b != "ref"]
    if not others:
        pytest.skip("this build has ref alone")
    b = others[0]
    r = bench(model("sage_mean_ts18"), "--nodes", "120", "--edges", "500", "--backends", "ref", "--reference", b,
              "--json", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["reference"] == b
    assert [x["backend"] for x in d["results"]] == ["ref"]
    check_result(d["results"][0], 2)
    assert d["results"][0]["max_abs_diff_vs_ref"] <= 1e-4
    r = bench(model("sage_mean_ts18"), "--nodes", "120", "--edges", "500", "--backends", f"{b},ref", "--reference", b,
              *QUICK)
    assert r.returncode == 0, r.stderr
    assert f"vs {b}" in r.stdout and "(reference)" in r.stdout


def test_heterogeneous_ranges_follow_the_edge_types():
    """Every edge type's row 0 indexes its source node type, row 1 its destination
    (schemas/traffic_graph.md); with node counts set apart, a wrong range would be visible, and an
    index out of its range would fail the run."""
    r = bench(model("traffic_encoder_ts18"), "--dim", "num_con=41", "--dim", "num_ip=9", "--edges", "60",
              "--json", "--backends", "ref", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    size = {"con": 41, "ip": 9}
    assert d["inputs"]["x_con"] == [41, 60] and d["inputs"]["x_ip"] == [9, 31]
    for t in EDGE_TYPES:
        src, _, dst = t.split("__")
        assert d["inputs"]["edge_index__" + t] == [2, 60]
        assert d["index_ranges"]["edge_index__" + t] == [size[src], size[dst]], t
        assert d["index_range_sources"]["edge_index__" + t] == ["graph", "graph"]
    assert d["edges"] == 60 * len(EDGE_TYPES)
    check_result(d["results"][0], 2)


@pytest.mark.parametrize("name", ["gcn_dynamo18", "gat_ts18", "gru_temporal_dynamo18"])
def test_edge_filters_and_self_loops_are_followed(name):
    """GCN / GAT filter the edge list and append self loops (Gather / GatherND / Concat along the
    edges, transposed in the dynamo exports); the rows are still traced to the node dimension."""
    r = bench(model(name), "--nodes", "40", "--edges", "200", "--json", "--backends", "ref", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for k, v in d["index_ranges"].items():
        assert v == [40, 40], k
        assert d["index_range_sources"][k] == ["graph", "graph"], k
    check_result(d["results"][0], 2)


def test_profile():
    r = bench(model("sage_mean_ts18"), "--nodes", "100", "--edges", "400", "--json", "--profile",
              "--backends", "ref", *QUICK)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["results"][0]["profile"]
    assert set(p["ms_per_run"]) == {"dense", "message passing", "elementwise", "other"}
    assert p["ms_per_run"]["dense"] > 0 and p["ms_per_run"]["message passing"] > 0
    assert 0 < len(p["top_steps"]) <= 10
    ms = [s["ms_per_run"] for s in p["top_steps"]]
    assert ms == sorted(ms, reverse=True)
    # the report prints 6 significant digits: each number is off by up to 5e-6 of itself
    assert sum(ms) <= sum(p["ms_per_run"].values()) * (1 + 1e-5)
    for s in p["top_steps"]:
        assert s["op_class"] in p["ms_per_run"] and s["calls"] >= 1 and s["op_type"]


def test_text_report():
    r = bench(model("sage_mean_ts18"), "--nodes", "50", "--edges", "120", *QUICK)
    assert r.returncode == 0, r.stderr
    assert "p50" in r.stdout and "peak RSS" in r.stdout
    for b in backends():
        assert any(line.split()[:1] == [b] for line in r.stdout.splitlines()), b


def test_given_inputs(tmp_path):
    rng = np.random.default_rng(3)
    n, e = 33, 90
    x = rng.standard_normal((n, 32)).astype(np.float32)
    ei = rng.integers(0, n, (2, e)).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ei.npy", ei)
    r = bench(model("sage_mean_ts18"), "--input", f"x={tmp_path / 'x.npy'}",
              "--input", f"edge_index={tmp_path / 'ei.npy'}", "--json", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["synthetic"] is False
    assert d["inputs"] == {"x": [n, 32], "edge_index": [2, e]}
    assert d["edges"] == e
    for res in d["results"]:
        check_result(res, 2)


def test_given_input_out_of_range_is_a_failure(tmp_path):
    x = np.zeros((5, 32), np.float32)
    ei = np.array([[0, 1, 7], [1, 2, 3]], np.int64)  # 7 is not a node
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ei.npy", ei)
    r = bench(model("sage_mean_ts18"), "--input", f"x={tmp_path / 'x.npy'}",
              "--input", f"edge_index={tmp_path / 'ei.npy'}", *QUICK)
    assert r.returncode == 1
    assert r.stderr.startswith("weft: bench: ")


def save(m, path):
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def two_node_sets(tmp_path, use_as_index):
    """a [na, 4], b [nb, 4], idx int64 [2, E]: with use_as_index, row 0 gathers rows of a and row 1
    scatters into rows of b; without, idx only feeds a sum (no node set can be told)."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["na", 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["nb", 4])
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, [2, "num_e"])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["nb", 4] if use_as_index else ["na", 4])
    inits = [helper.make_tensor("zero", TensorProto.INT64, [], [0]),
             helper.make_tensor("one", TensorProto.INT64, [], [1])]
    if use_as_index:
        nodes = [helper.make_node("Gather", ["idx", "zero"], ["src"], axis=0),
                 helper.make_node("Gather", ["idx", "one"], ["dst"], axis=0),
                 helper.make_node("Gather", ["a", "src"], ["msg"], axis=0),
                 helper.make_node("Unsqueeze", ["dst", "one"], ["dst2"]),
                 helper.make_node("Shape", ["msg"], ["msh"]),
                 helper.make_node("Expand", ["dst2", "msh"], ["dstw"]),
                 helper.make_node("ScatterElements", ["b", "dstw", "msg"], ["out"], axis=0,
                                  reduction="add")]
    else:
        nodes = [helper.make_node("Cast", ["idx"], ["f"], to=TensorProto.FLOAT),
                 helper.make_node("ReduceSum", ["f"], ["s"], keepdims=0),
                 helper.make_node("Add", ["a", "s"], ["t"]),
                 helper.make_node("ReduceSum", ["b"], ["u"], keepdims=0),
                 helper.make_node("Add", ["t", "u"], ["out"])]
    g = helper.make_graph(nodes, "two_sets", [a, b, idx], [out], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    return save(m, tmp_path / "model.onnx")


def test_ranges_found_in_a_graph_with_two_node_sets(tmp_path):
    path = two_node_sets(tmp_path, True)
    r = bench(path, "--dim", "na=5", "--dim", "nb=300", "--edges", "50", "--json", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["index_ranges"] == {"idx": [5, 300]}
    assert d["inputs"] == {"a": [5, 4], "b": [300, 4], "idx": [2, 50]}
    for res in d["results"]:
        check_result(res, 2)


def test_undeterminable_ranges_are_a_clear_error(tmp_path):
    path = two_node_sets(tmp_path, False)
    r = bench(path, "--nodes", "10", "--edges", "20", *QUICK)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weft: bench: ")
    assert "cannot tell which node set row 0 of input 'idx' indexes" in r.stderr
    assert "--input" in r.stderr


@pytest.mark.parametrize("args", [
    [],                                              # no model
    ["--frobnicate"],
    ["--min-iters", "0"],
    ["--min-iters", "x"],
    ["--threads", "-1"],
    ["--nodes", "0"],
    ["--edges"],                                     # no value
    ["--min-ms", "-5"],
    ["--backends", "nosuch"],
    ["--backends", "ref,ref"],
    ["--dim", "num_nodes"],
    ["--input", "x"],
    ["--input", "x=a.npy", "--nodes", "5"],          # given and synthesised at once
    ["--reference", "nosuch"],
    ["--reference"],                                 # no value
])
def test_bad_options_are_usage_errors(args):
    full = args if args == [] else ([model("sage_mean_ts18")] + args)
    r = bench(*full)
    assert r.returncode == 2, (args, r.stderr)
    assert r.stderr.startswith("weft: ") and "--help" in r.stderr
    assert r.stdout == ""


def test_unknown_dim_names_the_model_symbols():
    r = bench(model("sage_mean_ts18"), "--dim", "num_hats=3", *QUICK)
    assert r.returncode == 1
    assert "num_hats" in r.stderr and "num_nodes" in r.stderr and "num_edges" in r.stderr


def test_missing_model():
    r = bench("/nonexistent/model.onnx", *QUICK)
    assert r.returncode == 1
    assert "/nonexistent/model.onnx" in r.stderr


def test_plan_file_runs_on_its_own_backends(tmp_path):
    plan = tmp_path / "sage.weftplan"
    r = subprocess.run([weft_bin(), "compile", model("sage_mean_ts18"), "--backend", "ref", "-o", str(plan)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip("this build cannot write plan files: " + r.stderr.strip())
    r = bench(str(plan), "--nodes", "60", "--edges", "240", "--json", *QUICK)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["plan_file"] is True
    assert d["inputs"] == {"x": [60, 32], "edge_index": [2, 240]}
    assert d["index_ranges"] == {"edge_index": [60, 60]}
    (res,) = d["results"]
    assert res["backend"] == "ref"
    assert res["matches_ref"] is None and res["status"] == "ok"
    assert res["min_ms"] <= res["p50_ms"] <= res["p99_ms"] and res["iterations"] >= 2
    # a plan's backends are fixed when it is compiled
    r = bench(str(plan), "--backends", "ref", *QUICK)
    assert r.returncode == 2 and "plan file" in r.stderr
