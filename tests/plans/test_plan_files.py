"""`.weftplan` files through the `weft` command.

- `weft compile MODEL -o x.weftplan`, then `weft run x.weftplan` must give exactly the outputs of
  `weft run MODEL` compiled for the same backends (the plan file holds the optimised graph and the
  backend of every step, so nothing may differ), on every model of models/ with its test_data_set_0.
- A plan file is told apart by its content, not its name.
- Damaged or foreign files (truncated, a flipped byte, a newer format version, random bytes, empty)
  and a --backend that differs from the plan's list: exit status 1 and one clear line on stderr.

Run with WEFT_BIN=<path to weft>. Needs numpy and onnx.
"""
import glob
import os
import shutil
import struct
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import weft_testlib as wt  # noqa: E402

MODELS = os.path.join(wt.REPO, "models")
TIMEOUT_S = 180
MODEL_NAMES = sorted(os.path.basename(os.path.dirname(p))
                     for p in glob.glob(os.path.join(MODELS, "*", "model.onnx"))
                     if os.path.exists(os.path.join(os.path.dirname(p), "test_data_set_0", "input_0.pb")))


@pytest.fixture(scope="module")
def workdir():
    d = wt.tmpdir("weft-plans-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def input_args(name):
    """--input NAME=PATH for every input_<k>.pb of the model's test_data_set_0."""
    model = onnx.load(os.path.join(MODELS, name, "model.onnx"), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in inits]
    args = []
    for k, path in enumerate(sorted(glob.glob(os.path.join(MODELS, name, "test_data_set_0", "input_*.pb")),
                                    key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))):
        t = onnx.TensorProto()
        with open(path, "rb") as f:
            t.ParseFromString(f.read())
        args += ["--input", f"{t.name or graph_inputs[k]}={path}"]
    return args


def run_outputs(target, inputs, outdir, extra=()):
    r = wt.run_weft(["run", target, *inputs, "--output-dir", outdir, "--threads", "1", *extra], TIMEOUT_S)
    assert r.rc == 0, r.describe()
    return {os.path.splitext(f)[0]: np.load(os.path.join(outdir, f)) for f in sorted(os.listdir(outdir))}


def compile_plan(model, plan, extra=()):
    r = wt.run_weft(["compile", model, "-o", plan, *extra], TIMEOUT_S)
    assert r.rc == 0, r.describe()
    assert os.path.getsize(plan) > 12


def assert_identical(a, b, what):
    assert sorted(a) == sorted(b), f"{what}: outputs {sorted(a)} vs {sorted(b)}"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}: output {k}"
        # bit for bit: the same graph on the same kernels (NaNs included)
        assert a[k].tobytes() == b[k].tobytes(), f"{what}: output {k} differs"


def plan_matches_model(name, backend, workdir):
    model = os.path.join(MODELS, name, "model.onnx")
    base = os.path.join(workdir, f"{name}-{backend}")
    plan = base + ".weftplan"
    compile_plan(model, plan, ["--backend", backend])
    inputs = input_args(name)
    from_plan = run_outputs(plan, inputs, base + "-plan")
    from_model = run_outputs(model, inputs, base + "-model", ["--backend", backend])
    assert from_plan, f"{name}: no outputs"
    assert_identical(from_plan, from_model, f"{name} ({backend})")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_plan_equals_model(name, workdir):
    # every backend of this build, fastest first: the plan keeps each step on the backend it had
    plan_matches_model(name, "auto", workdir)


@pytest.mark.parametrize("name", ["sage_mean_ts18", "traffic_encoder_ts18", "gat_ts17"])
def test_plan_equals_model_ref(name, workdir):
    plan_matches_model(name, "ref", workdir)


# --- files told apart by content --------------------------------------------------------------------

NAME = "sage_mean_ts18"


@pytest.fixture(scope="module")
def good_plan(workdir):
    plan = os.path.join(workdir, "good.weftplan")
    compile_plan(os.path.join(MODELS, NAME, "model.onnx"), plan, ["--backend", "ref"])
    with open(plan, "rb") as f:
        return plan, f.read()


def test_content_not_name(good_plan, workdir):
    plan, data = good_plan
    disguised = os.path.join(workdir, "disguised.onnx")
    with open(disguised, "wb") as f:
        f.write(data)
    inputs = input_args(NAME)
    a = run_outputs(plan, inputs, os.path.join(workdir, "named"))
    b = run_outputs(disguised, inputs, os.path.join(workdir, "disguised"))
    assert_identical(a, b, "plan named .onnx")
    # and an ONNX model named .weftplan is still a model
    onnx_named = os.path.join(workdir, "model.weftplan")
    shutil.copy(os.path.join(MODELS, NAME, "model.onnx"), onnx_named)
    c = run_outputs(onnx_named, inputs, os.path.join(workdir, "onnx-named"), ["--backend", "ref"])
    assert_identical(a, c, "model named .weftplan")


def test_inspect_plan(good_plan):
    plan, _ = good_plan
    r = wt.run_weft(["inspect", plan])
    assert r.rc == 0, r.describe()
    assert "backend" in r.stdout and "edge_index" in r.stdout, r.describe()


def test_atomic_save_leaves_nothing_behind(workdir):
    d = os.path.join(workdir, "atomic")
    os.makedirs(d)
    plan = os.path.join(d, "p.weftplan")
    with open(plan, "wb") as f:
        f.write(b"old contents")
    compile_plan(os.path.join(MODELS, "time_encoder_ts18", "model.onnx"), plan)
    assert os.listdir(d) == ["p.weftplan"]
    with open(plan, "rb") as f:
        assert f.read(8) == b"WEFTPLAN"


# --- damaged and foreign files: exit 1, one line -------------------------------------------------------

def one_line_failure(r, needle):
    lines = r.stderr.strip("\n").split("\n")
    assert r.rc == 1, r.describe()
    assert len(lines) == 1 and lines[0].startswith("weft: "), r.describe()
    assert needle in r.stderr, f"stderr lacks {needle!r}\n" + r.describe()


def damaged(workdir, name, data):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def run_damaged(path):
    return wt.run_weft(["run", path, *input_args(NAME)])


def test_truncated(good_plan, workdir):
    _, data = good_plan
    for cut in (5, 11, 12, 40, len(data) // 2, len(data) - 1):
        r = run_damaged(damaged(workdir, f"cut{cut}.weftplan", data[:cut]))
        one_line_failure(r, "truncated" if cut < 12 else "weft plan")


def test_flipped_byte(good_plan, workdir):
    _, data = good_plan
    for pos in (20, len(data) // 3, len(data) // 2, len(data) - 40):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        r = run_damaged(damaged(workdir, f"flip{pos}.weftplan", bytes(bad)))
        one_line_failure(r, "weft plan")
    # a byte in the middle of the weights: the body still decodes, the checksum catches it
    bad = bytearray(data)
    bad[len(data) // 2] ^= 0x01
    one_line_failure(run_damaged(damaged(workdir, "flip-mid.weftplan", bytes(bad))), "checksum")


def test_newer_version(good_plan, workdir):
    _, data = good_plan
    newer = data[:8] + struct.pack("<I", 7) + data[12:]
    r = run_damaged(damaged(workdir, "v7.weftplan", newer))
    one_line_failure(r, "newer")


def test_foreign_files(workdir):
    rng = np.random.default_rng(5)
    one_line_failure(run_damaged(damaged(workdir, "random.weftplan", rng.bytes(5000))), "")
    one_line_failure(run_damaged(damaged(workdir, "random-header.weftplan",
                                         b"WEFTPLAN\x01\x00\x00\x00" + rng.bytes(5000))), "weft plan")
    one_line_failure(run_damaged(damaged(workdir, "empty.weftplan", b"")), "empty")
    r = wt.run_weft(["inspect", damaged(workdir, "empty2.weftplan", b"WEFTPLAN")])
    one_line_failure(r, "truncated")


def test_backend_must_match(good_plan):
    plan, _ = good_plan
    backends = wt.run_weft(["--backends"]).stdout.strip().split(",")
    other = [b for b in backends if b != "ref"]
    if other:
        r = wt.run_weft(["run", plan, "--backend", other[0], *input_args(NAME)])
        one_line_failure(r, "compiled for backends ref")
    # the plan's own list is fine, with or without ref spelled out
    for b in ("ref",):
        r = wt.run_weft(["run", plan, "--backend", b, *input_args(NAME)])
        assert r.rc == 0, r.describe()
    r = wt.run_weft(["run", plan, "--backend", "nosuch", *input_args(NAME)])
    one_line_failure(r, "nosuch")


def test_save_into_missing_folder(workdir):
    r = wt.run_weft(["compile", os.path.join(MODELS, NAME, "model.onnx"), "-o",
                     os.path.join(workdir, "no", "such", "dir", "x.weftplan")])
    one_line_failure(r, "x.weftplan")
