"""Shared helpers for weft's Python tests: where the `weft` binary is, how to call it, how to move
tensors in and out of it.

Every test honours WEFT_BIN (default: build-test/weft under the repository root), so the same tests
run against the Debug build and the sanitizer build.
"""
import os
import re
import subprocess
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 30


def weft_bin():
    path = os.environ.get("WEFT_BIN", os.path.join(REPO, "build-test", "weft"))
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    return path


def require_weft():
    path = weft_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError(f"weft binary not found at {path} (build it, or set WEFT_BIN)")
    return path


class Result:
    def __init__(self, args, rc, stdout, stderr):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit status: {self.rc}\n"
                f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}")


def run_weft(args, timeout=TIMEOUT_S):
    """Runs weft with `args`; a hang is a test failure, not a stuck suite."""
    cmd = [require_weft()] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"weft hung (> {timeout} s): {' '.join(cmd)}") from e
    return Result(cmd, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def safe_name(name):
    """The file name `weft run` gives an output (unsafe characters become '_')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# The backends the suites check, from WEFT_BACKENDS (comma-separated; scripts/test.sh sets every backend
# of the build); ref alone when unset.
BACKENDS = [b for b in os.environ.get("WEFT_BACKENDS", "ref").split(",") if b]


def run_model(model_path, inputs, workdir, timeout=TIMEOUT_S, extra=()):
    """Writes `inputs` (name -> ndarray) as .npy, runs `weft run`, returns (Result, outdir)."""
    indir = os.path.join(workdir, "in")
    outdir = os.path.join(workdir, "out")
    os.makedirs(indir, exist_ok=True)
    args = ["run", model_path]
    for i, (name, arr) in enumerate(inputs.items()):
        p = os.path.join(indir, f"input_{i}.npy")
        np.save(p, arr)
        args += ["--input", f"{name}={p}"]
    args += ["--output-dir", outdir, *extra]
    return run_weft(args, timeout), outdir


def read_output(outdir, name):
    return np.load(os.path.join(outdir, safe_name(name) + ".npy"))


def tmpdir(prefix="weft-test-"):
    return tempfile.mkdtemp(prefix=prefix)
