"""Cross-check `weft run` against ONNX Runtime on the message-passing graphs PyG exports.

Every pattern x opset (17, 18) x dtype (float32, float64) x graph kind (E >> N with duplicates,
isolated nodes, zero edges, tiny, single node; negative gather indices where the exporter may emit
them). One model per pattern/opset/dtype with symbolic num_nodes/num_edges serves every graph size.
Outputs must have ONNX Runtime's dtype and shape and agree within rtol 1e-5, atol 1e-6, on every
backend in WEFT_BACKENDS.
"""
import functools
import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gnn_patterns as gp  # noqa: E402
import weft_testlib as wt  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6
DTYPES = {"f32": np.float32, "f64": np.float64}


def _cases():
    for pattern, (_, min_opset, _) in gp.PATTERNS.items():
        for opset in (17, 18):
            if opset < min_opset:
                continue
            for dname in DTYPES:
                for kind in gp.GRAPH_KINDS:
                    for b in wt.BACKENDS:
                        yield pytest.param(pattern, opset, dname, kind, b,
                                           id=f"{pattern}-op{opset}-{dname}-{kind}-{b}")


@functools.lru_cache(maxsize=None)
def _model(pattern, opset, dname, workroot):
    """Writes the model once per session and builds its ONNX Runtime session."""
    model = gp.build(pattern, opset, DTYPES[dname])
    path = os.path.join(workroot, f"{pattern}_op{opset}_{dname}.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return path, sess, [o.name for o in model.graph.output]


@pytest.fixture(scope="module")
def workroot():
    d = wt.tmpdir("weft-crosscheck-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def assert_close(name, got, want):
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, ONNX Runtime gives {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, ONNX Runtime gives {want.shape}"
    bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{name}: {int(bad.sum())} of {got.size} elements differ; first at {i}: "
                             f"weft {got[i]!r}, ONNX Runtime {want[i]!r}")


@pytest.mark.parametrize("pattern,opset,dname,kind,backend", list(_cases()))
def test_matches_onnxruntime(pattern, opset, dname, kind, backend, workroot, tmp_path):
    path, sess, outputs = _model(pattern, opset, dname, workroot)
    negative = gp.PATTERNS[pattern][2] and kind in ("random", "isolated")
    x, ei = gp.make_graph(kind, seed=opset, dtype=DTYPES[dname], negative_src=negative)
    want = sess.run(outputs, {"x": x, "edge_index": ei})
    res, outdir = wt.run_model(path, {"x": x, "edge_index": ei}, str(tmp_path), extra=["--backend", backend])
    assert res.rc == 0, "weft run failed\n" + res.describe()
    for name, w in zip(outputs, want):
        assert_close(name, wt.read_output(outdir, name), w)


@pytest.mark.parametrize("backend", wt.BACKENDS)
@pytest.mark.parametrize("pattern", ["sum", "gcn", "gat"])
def test_same_model_two_graph_sizes(pattern, backend, workroot, tmp_path):
    """Symbolic dims are bound per run: a large graph then a small one through the same file."""
    path, sess, outputs = _model(pattern, 18, "f32", workroot)
    for k, kind in enumerate(["random", "tiny"]):
        x, ei = gp.make_graph(kind, seed=7)
        res, outdir = wt.run_model(path, {"x": x, "edge_index": ei}, str(tmp_path / str(k)),
                                   extra=["--backend", backend])
        assert res.rc == 0, res.describe()
        for name, w in zip(outputs, sess.run(outputs, {"x": x, "edge_index": ei})):
            assert_close(name, wt.read_output(outdir, name), w)
