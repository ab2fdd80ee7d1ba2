"""What the compiler makes of the PyG-style patterns in models/patterns: scatter chains lowered to
ai.weft.SegmentReduce by the message-passing pass (later passes turn those into CSR operators; see
tests/compiler/test_fusion.py), shape chains giving symbolic output shapes, and the same numbers as
before."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEFT = os.environ.get("WEFT_BIN") or next(
    (p for p in (os.path.join(ROOT, d, "weft") for d in ("build-test", "build")) if os.path.exists(p)), None)
PATTERNS = os.path.join(ROOT, "models", "patterns")


def compile_json(model, level=1):
    r = subprocess.run([WEFT, "compile", model, "--json", "--print-passes", "-O", str(level)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def lowered_by_message_passing(plan):
    return next(p["changed"] for p in plan["passes"] if p["name"] == "message-passing")


SEGMENT_OPS = {("ai.weft", op) for op in ("SegmentReduce", "CsrReduce", "CsrGatherReduce", "CsrEdgeSoftmax")}


def ops(plan):
    return {(o["domain"], o["op"]): o["count"] for o in plan["ops"]}


# pattern -> (ScatterElements chains expected to lower, output shapes)
EXPECT = {
    "sage_conv_mean": (2, ["[num_nodes,8]"]),
    "mean_aggr_f64": (2, ["[num_nodes,8]"]),
    "gcn_conv": (2, ["[num_nodes,8]", "[num_nodes]"]),
    "gat_edge_softmax": (3, ["[num_nodes,8]", "[num_edges,1]"]),
}


@pytest.mark.skipif(WEFT is None, reason="weft binary not built")
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_scatter_chains_lower_to_segment_reduce(name):
    model = os.path.join(PATTERNS, name, "model.onnx")
    lowered, shapes = EXPECT[name]
    plan = compile_json(model)
    o = ops(plan)
    assert lowered_by_message_passing(plan) == lowered, plan["passes"]
    assert ("", "ScatterElements") not in o
    assert any(k in SEGMENT_OPS for k in o), plan["ops"]
    assert [x["shape"] for x in plan["outputs"]] == shapes
    # -O 0 keeps the graph as exported
    o0 = ops(compile_json(model, 0))
    assert o0.get(("", "ScatterElements"), 0) == lowered
    assert not any(k in SEGMENT_OPS or k == ("ai.weft", "CSR") for k in o0)


@pytest.mark.skipif(WEFT is None, reason="weft binary not built")
def test_patterns_still_match_their_expected_outputs():
    r = subprocess.run([WEFT, "conformance", PATTERNS], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout.splitlines()[-1]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


# Real PyG exports (models/): shape-guard Ifs are inlined, scatter chains lowered, outputs symbolic.
MODELS = os.path.join(ROOT, "models")
EXPORTS = {
    # name: (SegmentReduce, ScatterElements left, output shapes)
    "traffic_encoder_ts17": (32, 0, ["[num_con,128]", "[num_ip,128]"]),
    "traffic_encoder_dynamo18": (24, 0, ["[num_con,128]", "[num_ip,128]"]),
    "sage_mean_ts18": (4, 0, ["[num_nodes,32]"]),
    "gcn_ts17": (4, 0, ["[num_nodes,32]"]),
    "gru_temporal_ts17": (6, 0, ["[3,num_nodes,32]", "[num_nodes,32]"]),
    "gat_ts17": (8, 0, ["[num_nodes,32]"]),          # multi-head messages [E, H, F]
    "sage_max_ts18": (4, 0, ["[num_nodes,32]"]),     # behind If guards and Identity renames
}


@pytest.mark.skipif(WEFT is None, reason="weft binary not built")
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_pyg_exports_lower(name):
    model = os.path.join(MODELS, name, "model.onnx")
    if not os.path.exists(model):
        pytest.skip(f"{name} is not in models/")
    seg, left, shapes = EXPORTS[name]
    plan = compile_json(model)
    o = ops(plan)
    assert lowered_by_message_passing(plan) == seg, plan["passes"]
    assert o.get(("", "ScatterElements"), 0) == left
    assert ("", "If") not in o
    assert [x["shape"] for x in plan["outputs"]] == shapes
