"""The bundled models in models/patterns/: their stored outputs still agree with ONNX Runtime, and
`weft conformance` passes every one of them."""
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import weft_testlib as wt  # noqa: E402

PATTERNS = os.path.join(wt.REPO, "models", "patterns")
DIRS = sorted(d for d in glob.glob(os.path.join(PATTERNS, "*")) if os.path.isfile(os.path.join(d, "model.onnx")))


def _load(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


@pytest.mark.parametrize("model_dir", DIRS, ids=os.path.basename)
def test_stored_outputs_match_onnxruntime(model_dir):
    sess = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    data = os.path.join(model_dir, "test_data_set_0")
    feeds = {i.name: _load(os.path.join(data, f"input_{k}.pb")) for k, i in enumerate(sess.get_inputs())}
    for k, got in enumerate(sess.run(None, feeds)):
        np.testing.assert_allclose(got, _load(os.path.join(data, f"output_{k}.pb")), rtol=1e-6, atol=1e-7)


def test_weft_conformance_passes_all_bundled_models():
    assert DIRS, "no bundled models in models/patterns"
    res = wt.run_weft(["conformance", PATTERNS], timeout=300)
    assert res.rc == 0, res.describe()
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == f"{len(DIRS)} passed, 0 failed, 0 unsupported", res.describe()
    for d in DIRS:
        assert f"PASS {os.path.basename(d)}" in lines, res.describe()
