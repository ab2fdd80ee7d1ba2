"""A fixed-seed slice of both fuzzers (tests/fuzz/fuzz_ops.py, fuzz_mutate.py) and the committed
regression cases (tests/fuzz/regressions/<case>/model.onnx + input_<i>.npy), so CI keeps checking that
no generated input crashes weft, trips a sanitizer, hangs, or gives an answer ONNX Runtime disagrees
with. Runs against WEFT_BIN (default build-test/weft), in well under a minute.
"""
import glob
import os
import sys

import numpy as np
import onnx
import pytest

pytest.importorskip("onnxruntime", reason="the fuzzers judge weft against ONNX Runtime")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
import fuzzlib  # noqa: E402
import fuzz_mutate  # noqa: E402
import fuzz_ops  # noqa: E402
import weft_testlib as wt  # noqa: E402

REGRESSIONS = sorted(glob.glob(os.path.join(HERE, "regressions", "*", "model.onnx")))


@pytest.fixture(scope="module")
def weft():
    return wt.require_weft()


def test_fuzz_ops_slice(weft, tmp_path, capsys):
    rc = fuzz_ops.main(["--weft", weft, "--seed", "7", "--cases", "400", "--seconds", "25",
                        "--findings", str(tmp_path), "--quiet"])
    assert rc == 0, "fuzz_ops found failures:\n" + capsys.readouterr().out


def test_fuzz_mutate_slice(weft, tmp_path, capsys):
    rc = fuzz_mutate.main(["--weft", weft, "--seed", "7", "--cases", "250", "--seconds", "20",
                           "--findings", str(tmp_path)])
    assert rc == 0, "fuzz_mutate found failures:\n" + capsys.readouterr().out


@pytest.mark.parametrize("model_path", REGRESSIONS, ids=[os.path.basename(os.path.dirname(p)) for p in REGRESSIONS])
def test_regression(weft, model_path, tmp_path):
    d = os.path.dirname(model_path)
    model = onnx.load(model_path)
    init = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    feeds = {n: np.load(os.path.join(d, f"input_{k}.npy")) for k, n in enumerate(names)}
    ort = fuzzlib.OrtWorker()
    try:
        v = fuzzlib.judge(weft, model, feeds, str(tmp_path / "run"), ort)
    finally:
        ort.close()
    assert not v.failed, f"{v.kind}: {v.detail}"
    expect = os.path.join(d, "expect.txt")
    if os.path.exists(expect):
        with open(expect) as f:
            want = f.read().strip()
        assert v.kind == want, f"expected {want}, got {v.kind}: {v.detail}"
