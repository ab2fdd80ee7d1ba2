"""float16 / bfloat16 through float32 (ops/widen.c): the ops that compute half precision by widening it
give what numpy gives when it does the same arithmetic (ml_dtypes for bfloat16).

Each model takes float32 values that the half type holds exactly, casts them to the half type, runs the
op and casts the results back to float32 (exact), so nothing but the op's own rounding is tested.
Duplicate indices are on purpose: a scatter reduction rounds after every update, as the type's own
arithmetic does, while a segment reduction accumulates in float32 and rounds once.
"""
import os
import sys

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import weft_testlib as wt  # noqa: E402

HALF = {"float16": (TensorProto.FLOAT16, np.float16), "bfloat16": (TensorProto.BFLOAT16, ml_dtypes.bfloat16)}
F32 = TensorProto.FLOAT


def _model(path, nodes, inputs, outputs, opsets=(("", 18),)):
    g = helper.make_graph(nodes, "half", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    m.ir_version = 8
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return path


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _values(rng, np_half, shape, lo=-8, hi=8):
    """float32 values the half type holds exactly (few distinct ones, so ties and duplicates occur)."""
    return rng.uniform(lo, hi, size=shape).astype(np.float32).astype(np_half).astype(np.float32)


def _run(tmp_path, model, inputs, outputs):
    res, outdir = wt.run_model(model, inputs, str(tmp_path / "run"))
    assert res.rc == 0, res.describe()
    return [wt.read_output(outdir, o) for o in outputs]


def _unary(tmp_path, half, op, x_shape, out_elems, extra_inputs=(), **attrs):
    """x (float32) -> Cast(half) -> op -> Cast(float32) for the half outputs; int outputs as they are."""
    elem, _ = HALF[half]
    nodes = [helper.make_node("Cast", ["x"], ["xh"], to=elem)]
    outs, vis = [], []
    for i, kind in enumerate(out_elems):
        outs.append(f"o{i}h" if kind == "half" else f"o{i}")
    nodes.append(helper.make_node(op, ["xh"] + [n for n, _ in extra_inputs], outs, **attrs))
    for i, kind in enumerate(out_elems):
        if kind == "half":
            nodes.append(helper.make_node("Cast", [f"o{i}h"], [f"o{i}"], to=F32))
            vis.append(_vi(f"o{i}", F32, None))
        else:
            vis.append(_vi(f"o{i}", TensorProto.INT64, None))
    inputs = [_vi("x", F32, list(x_shape))] + [_vi(n, TensorProto.INT64, list(v.shape)) for n, v in extra_inputs]
    return _model(str(tmp_path / f"{op}.onnx"), nodes, inputs, vis)


@pytest.mark.parametrize("half", sorted(HALF))
@pytest.mark.parametrize("largest", [0, 1])
def test_topk(tmp_path, half, largest):
    rng = np.random.default_rng(1)
    x = _values(rng, HALF[half][1], (3, 40), -4, 4)
    k = np.array([7], np.int64)
    m = _unary(tmp_path, half, "TopK", x.shape, ["half", "int"], [("k", k)], axis=1, largest=largest)
    vals, idx = _run(tmp_path, m, {"x": x, "k": k}, ["o0", "o1"])
    order = np.argsort(-x if largest else x, axis=1, kind="stable")[:, :7]  # ties: the lower index first
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(vals, np.take_along_axis(x, order, axis=1))


@pytest.mark.parametrize("half", sorted(HALF))
@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_argmax_argmin(tmp_path, half, op):
    rng = np.random.default_rng(2)
    x = _values(rng, HALF[half][1], (5, 30), -3, 3)
    m = _unary(tmp_path, half, op, x.shape, ["int"], axis=1, keepdims=0)
    (got,) = _run(tmp_path, m, {"x": x}, ["o0"])
    np.testing.assert_array_equal(got, (np.argmax if op == "ArgMax" else np.argmin)(x, axis=1))


@pytest.mark.parametrize("half", sorted(HALF))
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(tmp_path, half, exclusive, reverse):
    np_half = HALF[half][1]
    rng = np.random.default_rng(3)
    x = _values(rng, np_half, (4, 300), 0, 16)  # long enough for the float32 running sum to matter
    axis = np.array(1, np.int64)
    m = _unary(tmp_path, half, "CumSum", x.shape, ["half"], [("axis", axis)], exclusive=exclusive, reverse=reverse)
    (got,) = _run(tmp_path, m, {"x": x, "axis": axis}, ["o0"])
    want = np.zeros_like(x)
    for r in range(x.shape[0]):
        acc = np.float32(0)
        order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        for j in order:
            if exclusive:
                want[r, j] = acc
            acc = np.float32(acc + x[r, j])
            if not exclusive:
                want[r, j] = acc
    np.testing.assert_array_equal(got, want.astype(np_half).astype(np.float32))


def _scatter_model(tmp_path, half, op, data_shape, idx_shape, upd_shape, **attrs):
    elem, _ = HALF[half]
    nodes = [helper.make_node("Cast", ["data"], ["dh"], to=elem), helper.make_node("Cast", ["upd"], ["uh"], to=elem),
             helper.make_node(op, ["dh", "idx", "uh"], ["yh"], **attrs), helper.make_node("Cast", ["yh"], ["y"], to=F32)]
    inputs = [_vi("data", F32, list(data_shape)), _vi("idx", TensorProto.INT64, list(idx_shape)),
              _vi("upd", F32, list(upd_shape))]
    return _model(str(tmp_path / f"{op}.onnx"), nodes, inputs, [_vi("y", F32, list(data_shape))])


def _combine(reduction, np_half, a, b):
    """One update in the half type's own arithmetic: computed in float32, rounded to the half type."""
    r = {"add": lambda: np.float32(a) + np.float32(b), "mul": lambda: np.float32(a) * np.float32(b),
         "max": lambda: max(np.float32(a), np.float32(b)), "min": lambda: min(np.float32(a), np.float32(b))}[reduction]()
    return np.float32(np_half(r))


@pytest.mark.parametrize("half", sorted(HALF))
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_elements_rounds_every_update(tmp_path, half, reduction):
    np_half = HALF[half][1]
    rng = np.random.default_rng(4)
    N, F, E = 6, 3, 200
    lo, hi = (0.5, 1.5) if reduction == "mul" else (-4, 4)
    data = _values(rng, np_half, (N, F), lo, hi)
    upd = _values(rng, np_half, (E, F), lo, hi)
    idx = rng.integers(0, N, size=(E, F), dtype=np.int64)
    m = _scatter_model(tmp_path, half, "ScatterElements", data.shape, idx.shape, upd.shape, axis=0, reduction=reduction)
    (got,) = _run(tmp_path, m, {"data": data, "idx": idx, "upd": upd}, ["y"])
    want = data.copy()
    for e in range(E):
        for f in range(F):
            want[idx[e, f], f] = _combine(reduction, np_half, want[idx[e, f], f], upd[e, f])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("half", sorted(HALF))
def test_scatter_nd_add_rounds_every_update(tmp_path, half):
    np_half = HALF[half][1]
    rng = np.random.default_rng(5)
    N, F, E = 5, 4, 150
    data = _values(rng, np_half, (N, F))
    upd = _values(rng, np_half, (E, F))
    idx = rng.integers(0, N, size=(E, 1), dtype=np.int64)
    m = _scatter_model(tmp_path, half, "ScatterND", data.shape, idx.shape, upd.shape, reduction="add")
    (got,) = _run(tmp_path, m, {"data": data, "idx": idx, "upd": upd}, ["y"])
    want = data.copy()
    for e in range(E):
        for f in range(F):
            want[idx[e, 0], f] = _combine("add", np_half, want[idx[e, 0], f], upd[e, f])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("with_init", [False, True])
def test_segment_reduce_float16_accumulates_in_float32(tmp_path, reduce, with_init):
    if with_init and reduce == "mean":
        pytest.skip("mean takes no init")
    rng = np.random.default_rng(6)
    N, F, E = 7, 3, 400
    src = _values(rng, np.float16, (E, F), 0, 64)
    index = rng.integers(0, N, size=E, dtype=np.int64)
    init = _values(rng, np.float16, (N, F), -4, 4)
    nodes = [helper.make_node("Cast", ["src"], ["sh"], to=TensorProto.FLOAT16)]
    ins = ["sh", "index", "n"]
    inputs = [_vi("src", F32, [E, F]), _vi("index", TensorProto.INT64, [E]), _vi("n", TensorProto.INT64, [])]
    feeds = {"src": src, "index": index, "n": np.array(N, np.int64)}
    if with_init:
        nodes.append(helper.make_node("Cast", ["init"], ["ih"], to=TensorProto.FLOAT16))
        ins.append("ih")
        inputs.append(_vi("init", F32, [N, F]))
        feeds["init"] = init
    nodes += [helper.make_node("SegmentReduce", ins, ["yh"], domain="ai.weft", reduce=reduce),
              helper.make_node("Cast", ["yh"], ["y"], to=F32)]
    m = _model(str(tmp_path / "seg.onnx"), nodes, inputs, [_vi("y", F32, [N, F])], (("", 18), ("ai.weft", 1)))
    (got,) = _run(tmp_path, m, feeds, ["y"])
    want = init.copy() if with_init else np.zeros((N, F), np.float32)
    started = np.zeros(N, bool)
    for e in range(E):
        n = index[e]
        if not with_init and not started[n]:
            want[n] = src[e]  # a segment's first row starts it
            started[n] = True
            continue
        if reduce in ("sum", "mean"):
            want[n] = want[n] + src[e]  # float32 arithmetic
        elif reduce == "max":
            want[n] = np.maximum(want[n], src[e])
        else:
            want[n] = np.minimum(want[n], src[e])
    if reduce == "mean":
        counts = np.bincount(index, minlength=N).astype(np.float32)
        want = want / np.maximum(counts, 1)[:, None]
    np.testing.assert_array_equal(got, want.astype(np.float16).astype(np.float32))
