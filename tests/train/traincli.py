"""What the training command tests share: where things are, and running the weft binary ($WEFT_BIN,
tests/pylib/weft_testlib.py)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import weft_testlib as wt  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.environ.get("WEFT_DATA", os.path.join(ROOT, "..", "shared", "data"))
ENCODER = os.path.join(ROOT, "models", "traffic_encoder_ts17", "model.onnx")
ARGUS = os.path.join(DATA, "slips", "test5-mixed.binetflow")


def weft_bin():
    return wt.require_weft()


def weft(*args, timeout=600):
    return subprocess.run([wt.require_weft(), *args], capture_output=True, text=True, timeout=timeout)
