"""weft on the reference models of models/ (PyTorch / PyG exports; see models/MANIFEST).

For every exported model and every test_data_set_k:
- `weft run` (ref backend) must match the reference within 1e-4 relative + 1e-5 absolute. The
  reference is PyTorch eager (output_<j>.pb) unless the manifest says the export itself deviates
  from eager; then it is ONNX Runtime's output (onnx_output_<j>.pb), i.e. ONNX semantics.
- ONNX Runtime, run here on the same inputs, must agree with weft within the same tolerance.
- The manifest must be consistent with the files: every row with a model names an existing file
  whose sha256 matches, and every models/<name>/model.onnx has a row.
Every check runs on each backend named in WEFT_BACKENDS (comma-separated; default: ref).
Needs numpy, onnx and onnxruntime only (no torch).
"""
import glob
import hashlib
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import weft_testlib as wt  # noqa: E402

MODELS = os.path.join(wt.REPO, "models")
RTOL, ATOL = 1e-4, 1e-5
TIMEOUT_S = 120
BACKENDS = [b for b in os.environ.get("WEFT_BACKENDS", "ref").split(",") if b]


def read_manifest():
    path = os.path.join(MODELS, "MANIFEST")
    with open(path) as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if ln.strip() and not ln.startswith("#")]
    header = lines[0]
    return {r["name"]: r for r in (dict(zip(header, ln)) for ln in lines[1:])}


MANIFEST = read_manifest()
MODEL_DIRS = sorted(os.path.basename(os.path.dirname(p))
                    for p in glob.glob(os.path.join(MODELS, "*", "model.onnx"))
                    if os.path.basename(os.path.dirname(p)) in MANIFEST)


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t.name, onnx.numpy_helper.to_array(t)


def cases():
    for name in MODEL_DIRS:
        for d in sorted(glob.glob(os.path.join(MODELS, name, "test_data_set_*"))):
            for b in BACKENDS:
                yield pytest.param(name, d, b, id=f"{name}-{os.path.basename(d)}-{b}")


def assert_close(what, got, want):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {got.size} values differ; first at {i}: "
                             f"got {got[i]!r}, expected {want[i]!r}")


@pytest.fixture(scope="module")
def ort_sessions():
    return {}


@pytest.mark.parametrize("name,case_dir,backend", list(cases()))
def test_weft_matches_reference_and_onnxruntime(name, case_dir, backend, ort_sessions, tmp_path):
    row = MANIFEST[name]
    model = os.path.join(MODELS, name, "model.onnx")
    m = onnx.load(model, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    graph_inputs = [i.name for i in m.graph.input if i.name not in inits]
    outputs = [o.name for o in m.graph.output]

    inputs, args = {}, ["run", model]
    for i, gname in enumerate(graph_inputs):
        path = os.path.join(case_dir, f"input_{i}.pb")
        pbname, arr = load_pb(path)
        assert pbname == gname, f"{path} is named {pbname!r}, the graph input is {gname!r}"
        inputs[gname] = arr
        args += ["--input", f"{gname}={path}"]
    outdir = str(tmp_path / "out")
    res = wt.run_weft(args + ["--backend", backend, "--output-dir", outdir], timeout=TIMEOUT_S)
    assert res.rc == 0, f"weft run failed on {name} ({backend})\n" + res.describe()
    got = [wt.read_output(outdir, o) for o in outputs]

    # The reference: eager, or ONNX Runtime's output where the export deviates from eager.
    prefix = "onnx_output" if row["reference"] == "onnxruntime" else "output"
    for j, o in enumerate(outputs):
        _, want = load_pb(os.path.join(case_dir, f"{prefix}_{j}.pb"))
        assert_close(f"{name} {os.path.basename(case_dir)} ({backend}) {o} vs {row['reference']}", got[j], want)

    if name not in ort_sessions:
        ort_sessions[name] = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for o, g, w in zip(outputs, got, ort_sessions[name].run(outputs, inputs)):
        assert_close(f"{name} {os.path.basename(case_dir)} ({backend}) {o} vs ONNX Runtime", g, w)


def test_eager_outputs_differ_where_the_manifest_says_so():
    """A 'deviates' row is a real deviation: its ONNX outputs differ from eager's somewhere."""
    for name in MODEL_DIRS:
        if MANIFEST[name]["status"] != "deviates":
            continue
        differs = False
        for d in glob.glob(os.path.join(MODELS, name, "test_data_set_*")):
            for p in glob.glob(os.path.join(d, "onnx_output_*.pb")):
                _, a = load_pb(p)
                _, b = load_pb(p.replace("onnx_output_", "output_"))
                differs |= not np.allclose(a, b, rtol=RTOL, atol=ATOL)
        assert differs, f"{name}: listed as deviating, but its ONNX and eager outputs agree"


def test_manifest_matches_files():
    assert MANIFEST, "models/MANIFEST has no rows"
    on_disk = {os.path.basename(os.path.dirname(p))
               for p in glob.glob(os.path.join(MODELS, "*", "model.onnx"))}
    for p in glob.glob(os.path.join(MODELS, "patterns", "*", "model.onnx")):
        on_disk.discard(os.path.basename(os.path.dirname(p)))
    assert on_disk <= set(MANIFEST), f"models without a manifest row: {sorted(on_disk - set(MANIFEST))}"
    for name, row in MANIFEST.items():
        if row["status"] == "export-failed":
            assert row["file"] == "-" and name not in on_disk, f"{name}: failed export with a file"
            assert row["deviation"] not in ("", "-"), f"{name}: failed export without a cause"
            continue
        assert row["status"] in ("ok", "deviates"), f"{name}: unknown status {row['status']!r}"
        path = os.path.join(wt.REPO, row["file"])
        assert os.path.isfile(path), f"{name}: {row['file']} is missing"
        with open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == row["sha256"], f"{name}: sha256 differs"
        sets = glob.glob(os.path.join(MODELS, name, "test_data_set_*"))
        assert len(sets) >= 2, f"{name}: fewer than two graph sizes"


def test_every_family_has_a_model():
    families = ["traffic_encoder", "traffic_linkpred", "traffic_classifier", "sage_mean", "sage_max",
                "gcn", "gat", "graphconv", "gru_temporal", "time_encoder"]
    for fam in families:
        assert any(n.startswith(fam + "_") for n in MODEL_DIRS), f"no exported model of {fam}"
