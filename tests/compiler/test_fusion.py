"""The fusion passes (compiler/pass_cse.c, pass_dense.c, pass_mean.c, pass_gat.c, pass_csr.c,
pass_sddmm.c, pass_dense_fusion.c, pass_eltwise.c) on the reference models and on small generated graphs.

- Every model under models/ (and models/patterns, models/weft_ops) with test data, compiled with every
  pass (-O1, `weft run`'s default), matches its stored reference outputs (PyTorch eager, or ONNX
  Runtime's where the manifest says the export deviates) and ONNX Runtime run here; and matches -O0
  (no rewrites) within 1e-5 relative + 1e-6 absolute when `weft run` takes -O (tests/unit/test_passes.c
  makes that comparison through the C API in any case).
- The fusions happen where they should: SAGE's mean aggregation reads x through a CSR index with no
  gathered messages, its two linears are one two-term GEMM, one CSR per distinct edge index, the
  traffic encoder keeps no separate Add / L2 / stack chain, one LinkScore per scored edge type, GAT's
  edge softmax is one kernel.
- Generated graphs hit the corners the exports do not: negative (wrapped) indices and empty segments,
  Gemm scales that fold exactly and ones that do not, broadcasting elementwise chains, zero rows under
  L2 normalisation; each checked against ONNX Runtime.
- `weft compile --print-passes` lists every pass with its numbers.
"""
import glob
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import weft_testlib as wt  # noqa: E402

MODELS = os.path.join(wt.REPO, "models")
TIMEOUT_S = 120
# Outputs whose values amplify last-bit differences: cos(w t + b) of arguments in the hundreds, where one
# ulp of the argument (~1e-5) is already more than 1e-6. Compared at the model suite's tolerance.
AMPLIFYING = ("time_encoder",)


def read_manifest(path):
    with open(path) as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if ln.strip() and not ln.startswith("#")]
    return {r["name"]: r for r in (dict(zip(lines[0], ln)) for ln in lines[1:])}


MANIFEST = read_manifest(os.path.join(MODELS, "MANIFEST"))


def model_dirs():
    dirs = []
    for pattern in ("*", "patterns/*", "weft_ops/*"):
        for p in sorted(glob.glob(os.path.join(MODELS, pattern, "model.onnx"))):
            d = os.path.dirname(p)
            if glob.glob(os.path.join(d, "test_data_set_*")):
                dirs.append(d)
    return dirs


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


def graph_io(model):
    m = onnx.load(model, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits], [o.name for o in m.graph.output]


def run_weft(model, inputs, tmp_path, extra=()):
    """inputs: name -> .pb path or ndarray. Returns {output name: ndarray}."""
    args = ["run", model]
    for i, (name, v) in enumerate(inputs.items()):
        if not isinstance(v, str):
            p = str(tmp_path / f"in_{i}.npy")
            np.save(p, v)
            v = p
        args += ["--input", f"{name}={v}"]
    out = tmp_path / ("out" + "".join(extra).replace("-", "_").replace(" ", ""))
    res = wt.run_weft(args + ["--backend", "ref", "--output-dir", str(out), *extra], timeout=TIMEOUT_S)
    assert res.rc == 0, res.describe()
    _, outs = graph_io(model)
    return {o: wt.read_output(str(out), o) for o in outs}


def close(what, got, want, rtol, atol):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {got.size} differ; first at {i}: {got[i]!r} vs {want[i]!r}")


def run_takes_opt_level():
    res = wt.run_weft(["run", "--help"])
    return " -O" in res.stdout


# --- every model: -O1 against the references, ONNX Runtime and -O0 ---------------------------------

CASES = [pytest.param(d, s, id=f"{os.path.relpath(d, MODELS)}-{os.path.basename(s)}")
         for d in model_dirs() for s in sorted(glob.glob(os.path.join(d, "test_data_set_*")))]


@pytest.fixture(scope="module")
def ort_sessions():
    return {}


@pytest.mark.parametrize("model_dir,case_dir", CASES)
def test_fused_outputs_match_references(model_dir, case_dir, ort_sessions, tmp_path):
    model = os.path.join(model_dir, "model.onnx")
    name = os.path.basename(model_dir)
    ins, outs = graph_io(model)
    inputs = {n: os.path.join(case_dir, f"input_{i}.pb") for i, n in enumerate(ins)}
    got = run_weft(model, inputs, tmp_path)
    row = MANIFEST.get(name, {})
    prefix = "onnx_output" if row.get("reference") == "onnxruntime" else "output"
    for j, o in enumerate(outs):
        ref = os.path.join(case_dir, f"{prefix}_{j}.pb")
        if not os.path.exists(ref):
            ref = os.path.join(case_dir, f"output_{j}.pb")
        if os.path.exists(ref):
            close(f"{name} {o} vs stored reference", got[o], load_pb(ref), 1e-4, 1e-5)
    if any(n.domain == "ai.weft" for n in onnx.load(model, load_external_data=False).graph.node):
        return  # ONNX Runtime does not know the ai.weft ops; the stored reference is PyTorch eager's
    if model not in ort_sessions:
        ort_sessions[model] = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feed = {n: load_pb(p) for n, p in inputs.items()}
    for o, want in zip(outs, ort_sessions[model].run(outs, feed)):
        close(f"{name} {o} vs ONNX Runtime", got[o], want, 1e-4, 1e-5)


@pytest.mark.parametrize("model_dir,case_dir", CASES)
def test_fused_outputs_match_unfused(model_dir, case_dir, tmp_path):
    if not run_takes_opt_level():
        pytest.skip("weft run has no -O option; tests/unit/test_passes.c compares -O1 with -O0")
    model = os.path.join(model_dir, "model.onnx")
    name = os.path.basename(model_dir)
    ins, outs = graph_io(model)
    inputs = {n: os.path.join(case_dir, f"input_{i}.pb") for i, n in enumerate(ins)}
    o1 = run_weft(model, inputs, tmp_path, ("-O", "1"))
    o0 = run_weft(model, inputs, tmp_path, ("-O", "0"))
    rtol, atol = (1e-4, 1e-5) if name.startswith(AMPLIFYING) else (1e-5, 1e-6)
    for o in outs:
        close(f"{name} {o}: -O1 vs -O0", o1[o], o0[o], rtol, atol)


# --- what the passes make of the exports ------------------------------------------------------------

def compile_json(model, *extra):
    res = wt.run_weft(["compile", model, "--json", "--steps", *extra], timeout=TIMEOUT_S)
    assert res.rc == 0, res.describe()
    return json.loads(res.stdout)


def steps(plan, op=None, domain=None):
    return [s for s in plan["schedule"] if (op is None or s["op"] == op) and (domain is None or s["domain"] == domain)]


def count(plan, op, domain=""):
    return len(steps(plan, op, domain))


def exported(name):
    path = os.path.join(MODELS, name, "model.onnx")
    if not os.path.exists(path):
        pytest.skip(f"{name} is not in models/")
    return path


def edge_index_inputs(plan):
    return [i for i in plan["inputs"] if i["name"].startswith("edge_index")]


@pytest.mark.parametrize("name", ["sage_mean_ts18", "sage_mean_ts17", "sage_mean_dynamo18"])
def test_sage_mean(name):
    plan = compile_json(exported(name))
    for op in ("ScatterElements", "Div", "Clip", "Max", "Add", "MatMul", "Gemm", "Relu"):
        assert count(plan, op) == 0, (op, plan["ops"])
    assert count(plan, "SegmentReduce", "ai.weft") == count(plan, "CsrReduce", "ai.weft") == 0
    # no gathered messages: every Gather left reads the edge index, none reads node features
    for s in steps(plan, "Gather", ""):
        assert s["inputs"][0]["dtype"] != "float", s
    reduce = steps(plan, "CsrGatherReduce", "ai.weft")
    assert len(reduce) == 2 and all(s["attributes"]["reduce"] == "mean" for s in reduce)
    fmm = steps(plan, "FusedMatMul", "ai.weft")
    assert len(fmm) == 2 and all(s["attributes"]["terms"] == 2 for s in fmm), fmm
    assert fmm[0]["attributes"].get("activation") == "relu"
    assert count(plan, "CSR", "ai.weft") == len(edge_index_inputs(plan)) == 1


@pytest.mark.parametrize("name", ["traffic_encoder_ts18", "traffic_encoder_ts17", "traffic_encoder_dynamo18"])
def test_traffic_encoder(name):
    plan = compile_json(exported(name))
    assert count(plan, "CSR", "ai.weft") == len(edge_index_inputs(plan)) == 8
    for op in ("Add", "ReduceL2", "Div", "Clip", "Max", "Expand", "Concat", "ReduceSum", "Unsqueeze", "LeakyRelu",
               "MatMul", "Gemm", "ScatterElements"):
        assert count(plan, op) == 0, (op, plan["ops"])
    fmm = steps(plan, "FusedMatMul", "ai.weft")
    assert fmm and all(s["attributes"].get("normalize") == 1 and s["attributes"]["terms"] == 2 for s in fmm)
    # each destination's per-edge-type results are summed through acc: one FusedMatMul per conv, the
    # ones that end a layer's sum carry the activation
    assert sum(1 for s in fmm if s["attributes"].get("activation") == "leaky_relu") > 0
    assert count(plan, "CsrGatherReduce", "ai.weft") == len(fmm)


@pytest.mark.parametrize("name", ["traffic_linkpred_ts18", "traffic_linkpred_dynamo18"])
def test_linkpred_scores(name):
    plan = compile_json(exported(name))
    scores = [o for o in plan["outputs"] if o["name"].startswith("score")]
    assert scores and count(plan, "LinkScore", "ai.weft") == len(scores)
    assert count(plan, "ReduceSum") == 0 and count(plan, "Mul") == 0
    assert count(plan, "CSR", "ai.weft") == len(edge_index_inputs(plan))


@pytest.mark.parametrize("name", ["gat_ts18", "gat_ts17"])
def test_gat(name):
    plan = compile_json(exported(name))
    assert count(plan, "CsrEdgeSoftmax", "ai.weft") == 2
    for op in ("Exp", "Sub", "ScatterElements"):
        assert count(plan, op) == 0, (op, plan["ops"])
    assert count(plan, "SegmentReduce", "ai.weft") == count(plan, "CsrReduce", "ai.weft") == 0
    # attention times the gathered rows: the weight of the gather-reduce
    gr = steps(plan, "CsrGatherReduce", "ai.weft")
    assert len(gr) == 2 and all(len(s["inputs"]) == 5 for s in gr)
    # the self-loop edge list is built once for both layers
    assert count(plan, "CSR", "ai.weft") == 1


def test_gcn():
    plan = compile_json(exported("gcn_ts18"))
    assert count(plan, "CSR", "ai.weft") == 1
    gr = steps(plan, "CsrGatherReduce", "ai.weft")
    assert len(gr) == 2 and all(len(s["inputs"]) == 5 for s in gr)  # normalisation as the edge weight
    assert count(plan, "ScatterElements") == 0 and count(plan, "Range") == 1


@pytest.mark.parametrize("name,concats", [("resnet_small_ts17", 0), ("mobilenet_small_ts17", 0),
                                          ("squeezenet_small_ts17", 3), ("efficientnet_small_ts17", 0),
                                          ("efficientnet_small_dynamo18", 0)])
def test_cnn_runs_channels_last(name, concats):
    """Every convolution and pool of the CNNs runs channels-last (BatchNormalization folded, activations
    and residual adds fused or following the layout): one Transpose out of it before Flatten (the first convolution reads the image as given, no Transpose), and the fire modules' Concats along
    the channel axis, now the last. EfficientNet's squeeze-and-excitation scales multiply channels-last
    too, and dynamo's global pooling (ReduceMean over the spatial axes) reduces the moved axes."""
    plan = compile_json(exported(name))
    assert count(plan, "Conv") == 0 and count(plan, "FusedConv", "ai.weft") == 0
    assert count(plan, "BatchNormalization") == 0
    for op in ("MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "Add", "Clip", "HardSwish"):
        assert count(plan, op) == 0, op
    assert count(plan, "ChannelsLast", "ai.weft") >= 10
    assert count(plan, "Transpose") == 1
    # `weft compile` counts the layout boundaries and what they move
    assert plan["channels_last_steps"] == count(plan, "ChannelsLast", "ai.weft")
    assert plan["layout_transposes"] == 1 and "batch" in plan["layout_bytes_per_run"]
    cats = steps(plan, "Concat")
    assert len(cats) == concats


def test_transformers_attention_is_fused_and_default_sizes_that_do_not_fit_are_reported():
    """BERT's and GPT-2's attention (TorchScript exports: heads split by Reshape + Transpose, scale, mask,
    softmax, heads merged) is one FusedAttention per layer, no Softmax left; the default memory sizes
    (1000 per symbol) exceed BERT's 128 positions: the compile succeeds and the report says why it
    cannot size the memory."""
    for name in ("bert_small_ts17", "gpt2_small_ts17", "vit_small_ts17"):
        plan = compile_json(exported(name))
        assert count(plan, "FusedAttention", "ai.weft") == 2, name
        assert count(plan, "Softmax") == 0 and count(plan, "MatMul") == 0, name
    plan = compile_json(exported("bert_small_ts17"))
    assert "error" in plan["memory"] and "128" in plan["memory"]["error"]


def test_o0_keeps_the_exported_graph():
    plan = compile_json(exported("sage_mean_ts18"), "-O", "0")
    assert all(s["domain"] == "" for s in plan["schedule"])
    assert count(plan, "ScatterElements") == 4


# --- weft compile --print-passes ------------------------------------------------------------------

PASSES = ["infer", "inline-if", "identity", "message-passing", "cse", "transpose", "broadcast", "dense", "mean", "gat", "csr", "sddmm",
          "dense-fusion", "conv-fusion", "attention", "channels-last", "eltwise", "dce"]


def test_print_passes_json():
    plan = compile_json(exported("traffic_encoder_ts18"), "--print-passes")
    p = plan["passes"]
    assert [x["name"] for x in p] == PASSES
    for a, b in zip(p, p[1:]):
        assert a["nodes_after"] == b["nodes_before"]
    assert p[-1]["nodes_after"] == len(plan["schedule"])
    by = {x["name"]: x for x in p}
    assert by["cse"]["nodes_after"] < by["cse"]["nodes_before"]
    assert by["dense-fusion"]["changed"] > 0 and by["csr"]["changed"] > 0
    for x in p:
        assert x["bytes_before"] and x["bytes_after"] and x["bytes_change"]
    # the [E, F] messages the CSR form no longer makes: fewer bytes per edge
    assert by["csr"]["bytes_after"] != by["csr"]["bytes_before"]
    assert "-" in by["csr"]["bytes_change"]


def test_print_passes_text():
    res = wt.run_weft(["compile", exported("sage_mean_ts18"), "--print-passes"], timeout=TIMEOUT_S)
    assert res.rc == 0, res.describe()
    text = res.stdout[res.stdout.index("passes (-O1):"):]
    for name in PASSES:
        assert f"\n  {name} " in text, name
    line = next(ln for ln in text.splitlines() if ln.startswith("  mean "))
    before, after = [int(x) for x in line.split("nodes")[1].split("rewrites")[0].split("->")]
    assert after < before


# --- generated graphs: corners, against ONNX Runtime ---------------------------------------------

def make_model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def check_against_ort(model, feed, tmp_path, plan_check=None):
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    got = run_weft(path, feed, tmp_path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    for o, want in zip(names, sess.run(names, feed)):
        close(f"{o} vs ONNX Runtime", got[o], want, 1e-5, 1e-6)
    if plan_check:
        plan_check(compile_json(path))


def mean_model(dtype):
    """x [M, F] gathered by src, scattered to dst over N rows from zeros, divided by clamp(count, 1)."""
    t = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    n = [
        helper.make_node("Gather", ["x", "src"], ["msg"], axis=0),
        helper.make_node("Shape", ["h"], ["hshape"]),
        helper.make_node("ConstantOfShape", ["hshape"], ["zeros"], value=helper.make_tensor("v", t, [1], [0])),
        helper.make_node("Shape", ["msg"], ["mshape"]),
        helper.make_node("Unsqueeze", ["dst", "one"], ["dst2"]),
        helper.make_node("Expand", ["dst2", "mshape"], ["dsti"]),
        helper.make_node("ScatterElements", ["zeros", "dsti", "msg"], ["sum"], axis=0, reduction="add"),
        helper.make_node("Shape", ["dst"], ["eshape"]),
        helper.make_node("ConstantOfShape", ["eshape"], ["ones"], value=helper.make_tensor("v", t, [1], [1])),
        helper.make_node("Slice", ["hshape", "zero", "one"], ["nshape"]),
        helper.make_node("ConstantOfShape", ["nshape"], ["zeros1"], value=helper.make_tensor("v", t, [1], [0])),
        helper.make_node("ScatterElements", ["zeros1", "dst", "ones"], ["cnt"], axis=0, reduction="add"),
        helper.make_node("Clip", ["cnt", "lo"], ["cnt1"]),
        helper.make_node("Unsqueeze", ["cnt1", "one"], ["cnt2"]),
        helper.make_node("Div", ["sum", "cnt2"], ["out"]),
    ]
    inits = [helper.make_tensor("one", TensorProto.INT64, [1], [1]), helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
             helper.make_tensor("lo", t, [], [1])]
    return make_model(n, [helper.make_tensor_value_info("x", t, ["M", 3]), helper.make_tensor_value_info("src", TensorProto.INT64, ["E"]),
                          helper.make_tensor_value_info("dst", TensorProto.INT64, ["E"]),
                          helper.make_tensor_value_info("h", t, ["N", 3])],
                      [helper.make_tensor_value_info("out", t, ["N", 3])], inits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_with_negative_indices_and_empty_segments(dtype, tmp_path):
    rng = np.random.default_rng(1)
    M, N, E = 6, 7, 20
    x = rng.standard_normal((M, 3)).astype(dtype)
    src = rng.integers(-M, M, E).astype(np.int64)        # Gather wraps negatives
    dst = rng.integers(-N, N - 3, E).astype(np.int64)    # ScatterElements too; some rows stay empty
    dst[(dst == 2) | (dst == 2 - N)] = 1  # segment 2 stays empty
    feed = {"x": x, "src": src, "dst": dst, "h": np.zeros((N, 3), dtype)}

    def structure(plan):
        assert count(plan, "CsrGatherReduce", "ai.weft") == 1, plan["ops"]
        assert count(plan, "ScatterElements") == 0 and count(plan, "Div") == 0
        csr = steps(plan, "CSR", "ai.weft")
        assert len(csr) == 1 and csr[0]["attributes"]["wrap"] == 1
    check_against_ort(mean_model(dtype), feed, tmp_path, structure)


@pytest.mark.parametrize("alpha,beta,fused", [(1.0, 1.0, True), (0.5, 2.0, True), (0.3, 1.0, False), (1.0, 0.7, False)])
def test_gemm_scales(alpha, beta, fused, tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    c = rng.standard_normal(5).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["a", "w", "c"], ["y"], alpha=alpha, beta=beta, transB=1),
                    helper.make_node("Relu", ["y"], ["out"])],
                   [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 4])],
                   [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 5])],
                   [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(c, "c")])

    def structure(plan):
        assert count(plan, "FusedMatMul", "ai.weft") == int(fused), plan["ops"]
        assert count(plan, "Gemm") == int(not fused)
        if fused:
            assert steps(plan, "FusedMatMul", "ai.weft")[0]["attributes"].get("activation") == "relu"
    check_against_ort(m, {"a": rng.standard_normal((9, 4)).astype(np.float32)}, tmp_path, structure)


def test_linears_of_one_input_share_a_summed_weight(tmp_path):
    """x W1 + b + x W2 + a W3: one FusedMatMul, the two terms reading x stacked into one weight."""
    rng = np.random.default_rng(6)
    w1, w2, w3 = (rng.standard_normal((4, 5)).astype(np.float32) for _ in range(3))
    b = rng.standard_normal(5).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b"], ["l1"]),
             helper.make_node("MatMul", ["x", "w2"], ["m2"]), helper.make_node("MatMul", ["a", "w3"], ["m3"]),
             helper.make_node("Add", ["l1", "m2"], ["s"]), helper.make_node("Add", ["s", "m3"], ["out"])]
    m = make_model(nodes, [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("x", "a")],
                   [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 5])],
                   [onnx.numpy_helper.from_array(v, n) for n, v in (("w1", w1), ("w2", w2), ("w3", w3), ("b", b))])

    def structure(plan):
        fmm = steps(plan, "FusedMatMul", "ai.weft")
        assert len(plan["schedule"]) == 1 and len(fmm) == 1, plan["ops"]
        assert fmm[0]["attributes"]["terms"] == 2 and len(fmm[0]["inputs"]) == 5
    feed = {"x": rng.standard_normal((6, 4)).astype(np.float32), "a": rng.standard_normal((6, 4)).astype(np.float32)}
    check_against_ort(m, feed, tmp_path, structure)


def test_link_scores_with_negative_indices(tmp_path):
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Gather", ["a", "i"], ["ga"], axis=0), helper.make_node("Gather", ["b", "j"], ["gb"], axis=0),
             helper.make_node("Mul", ["gb", "ga"], ["p"]),
             helper.make_node("ReduceSum", ["p", "last"], ["score"], keepdims=0)]
    m = make_model(nodes, [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["Na", 8]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, ["Nb", 8]),
                           helper.make_tensor_value_info("i", TensorProto.INT64, ["P"]),
                           helper.make_tensor_value_info("j", TensorProto.INT64, ["P"])],
                   [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["P"])],
                   [helper.make_tensor("last", TensorProto.INT64, [1], [-1])])
    feed = {"a": rng.standard_normal((5, 8)).astype(np.float32), "b": rng.standard_normal((4, 8)).astype(np.float32),
            "i": rng.integers(-5, 5, 30).astype(np.int64), "j": rng.integers(-4, 4, 30).astype(np.int64)}
    def structure(plan):
        assert count(plan, "LinkScore", "ai.weft") == 1 and count(plan, "Mul") == 0, plan["ops"]
    check_against_ort(m, feed, tmp_path, structure)


def test_elementwise_chain_with_broadcast(tmp_path):
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Add", ["x", "row"], ["a"]), helper.make_node("Mul", ["a", "half"], ["b"]),
             helper.make_node("Tanh", ["b"], ["c"]), helper.make_node("Sub", ["c", "col"], ["d"]),
             helper.make_node("LeakyRelu", ["d"], ["e"], alpha=0.3), helper.make_node("Exp", ["e"], ["out"]),
             helper.make_node("Sigmoid", ["c"], ["side"])]  # c is read outside the chain too
    m = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6]),
                           helper.make_tensor_value_info("row", TensorProto.FLOAT, [1, 6]),
                           helper.make_tensor_value_info("col", TensorProto.FLOAT, ["N", 1])],
                   [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 6]),
                    helper.make_tensor_value_info("side", TensorProto.FLOAT, ["N", 6])],
                   [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
    feed = {"x": rng.standard_normal((7, 6)).astype(np.float32), "row": rng.standard_normal((1, 6)).astype(np.float32),
            "col": rng.standard_normal((7, 1)).astype(np.float32)}

    def structure(plan):
        fe = steps(plan, "FusedElementwise", "ai.weft")
        # x+row, *0.5, tanh in one; -col, leaky_relu, exp in another (c is read twice); sigmoid alone
        assert sorted(len(s["attributes"]["program"]) // 4 for s in fe) == [3, 3], fe
        assert count(plan, "Sigmoid") == 1
    check_against_ort(m, feed, tmp_path, structure)


def test_sage_layer_with_normalize_and_stack_sum(tmp_path):
    """Two SAGE-like convs into one destination: lin_l(a) + lin_r(x), L2-normalised with zero rows,
    stacked and summed, then LeakyRelu: one acc chain of FusedMatMuls."""
    rng = np.random.default_rng(5)
    K, M = 4, 6
    inits, nodes = [], []
    for k in range(2):
        wl, wr = (rng.standard_normal((M, K)).astype(np.float32) for _ in range(2))
        bl = rng.standard_normal(M).astype(np.float32)
        inits += [onnx.numpy_helper.from_array(wl, f"wl{k}"), onnx.numpy_helper.from_array(bl, f"bl{k}"),
                  onnx.numpy_helper.from_array(wr.T.copy(), f"wr{k}")]
        nodes += [helper.make_node("Gemm", [f"a{k}", f"wl{k}", f"bl{k}"], [f"l{k}"], transB=1),
                  helper.make_node("MatMul", ["x", f"wr{k}"], [f"r{k}"]),
                  helper.make_node("Add", [f"l{k}", f"r{k}"], [f"s{k}"]),
                  helper.make_node("ReduceL2", [f"s{k}", "last"], [f"n{k}"], keepdims=1),
                  helper.make_node("Clip", [f"n{k}", "eps"], [f"c{k}"]),
                  helper.make_node("Shape", [f"s{k}"], [f"sh{k}"]),
                  helper.make_node("Expand", [f"c{k}", f"sh{k}"], [f"e{k}"]),
                  helper.make_node("Div", [f"s{k}", f"e{k}"], [f"y{k}"]),
                  helper.make_node("Unsqueeze", [f"y{k}", "zero"], [f"u{k}"])]
    nodes += [helper.make_node("Concat", ["u0", "u1"], ["st"], axis=0),
              helper.make_node("ReduceSum", ["st", "zero"], ["sum"], keepdims=0),
              helper.make_node("LeakyRelu", ["sum"], ["out"], alpha=0.01)]
    inits += [helper.make_tensor("last", TensorProto.INT64, [1], [-1]), helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
              helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-12])]
    m = make_model(nodes, [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", K]) for n in ("x", "a0", "a1")],
                   [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", M])], inits, opset=18)
    x = rng.standard_normal((5, K)).astype(np.float32)
    a0, a1 = (rng.standard_normal((5, K)).astype(np.float32) for _ in range(2))
    feed = {"x": x, "a0": a0, "a1": a1}

    def structure(plan):
        fmm = steps(plan, "FusedMatMul", "ai.weft")
        assert len(fmm) == 2, plan["ops"]
        assert all(s["attributes"]["terms"] == 2 and s["attributes"].get("normalize") == 1 for s in fmm)
        assert len(fmm[1]["inputs"]) == 6  # X, W, X, W, bias, acc
        assert fmm[1]["attributes"].get("activation") == "leaky_relu"
        assert len(plan["schedule"]) == 2
    check_against_ort(m, feed, tmp_path, structure)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


@pytest.mark.parametrize("masked,scaled,causal", [(False, False, False), (True, False, False), (True, True, False),
                                                  (False, False, True), (True, True, True)])
def test_onnx_attention_op_becomes_fused_attention(masked, scaled, causal, tmp_path):
    """ONNX Attention (opset 23) in the form FusedAttention computes (4-D, as many key / value heads as
    query heads, no past, an additive mask or none, causal or not) is one FusedAttention reading K
    transposed in place; against ONNX Runtime."""
    B, H, S, L, D = 2, 3, 5, 7, 8
    rng = np.random.default_rng(3)
    ins = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [B, H, S, D]),
           helper.make_tensor_value_info("k", TensorProto.FLOAT, [B, H, L, D]),
           helper.make_tensor_value_info("v", TensorProto.FLOAT, [B, H, L, D])]
    feed = {n: rng.standard_normal((B, H, S if n == "q" else L, D)).astype(np.float32) for n in "qkv"}
    names = ["q", "k", "v"]
    if masked:
        ins.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [B, 1, S, L]))
        mask = rng.standard_normal((B, 1, S, L)).astype(np.float32)
        mask[:, :, :, 3] = -1e9
        feed["mask"] = mask
        names.append("mask")
    attrs = {"scale": 0.3} if scaled else {}
    if causal:
        attrs["is_causal"] = 1
    node = helper.make_node("Attention", names, ["y"], **attrs)
    model = make_model([node], ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, H, S, D])], opset=23)

    def plan_check(plan):
        assert count(plan, "FusedAttention", "ai.weft") == 1 and count(plan, "Attention") == 0
        fa = steps(plan, "FusedAttention", "ai.weft")[0]
        assert fa["attributes"]["k_perm"] == [0, 1, 3, 2]

    check_against_ort(model, feed, tmp_path, plan_check)
