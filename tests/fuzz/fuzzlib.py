"""Shared machinery of weft's fuzzers: run one case through `weft run` (sanitizer build) and through
ONNX Runtime, and judge the pair.

A case is a model (onnx.ModelProto) plus feeds (graph input name -> ndarray). A case FAILS when weft
dies of a signal or prints a sanitizer report, hangs, exits with a status other than 0 or 1, prints
more than one stderr line when it refuses, or succeeds with outputs that differ from ONNX Runtime's
(when ORT also succeeds): shapes and dtypes must match, floats within 1e-4 rel + 1e-5 abs (float16:
1e-3 + 1e-3), everything else exactly. A weft refusal (exit 1) where ORT succeeds is a "refusal",
reported but not a failure.
"""
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WEFT_TIMEOUT_S = 20
ORT_TIMEOUT_S = 20

# The machine is shared: a generated model must not take more than a few GiB. Under ASan one allocation
# above the cap returns NULL (weft reports it); without ASan, the address space is limited instead.
MEM_CAP_MB = 2048
SAN_ENV = {
    "ASAN_OPTIONS": f"detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb={MEM_CAP_MB}",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
ASAN_ALLOC_NOTICE = re.compile(r"==\d+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$")
SAN_REPORT = re.compile(r"(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:)")


def default_weft():
    return os.environ.get("WEFT_BIN", os.path.join(REPO, "build-fuzz", "weft"))


def safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# ---------------------------------------------------------------------------------------------------
# ONNX Runtime in a child process: a hostile model may crash or hang ORT itself, which must not take
# the fuzzer down. The child is restarted after a crash or a timeout.

def _output_types(model_bytes):
    """Graph output name -> elem type, as ONNX's shape inference sees them (run here, in the child,
    because ONNX's own inference can die on hostile models)."""
    try:
        m = onnx.load_from_string(model_bytes)
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False)
        return {v.name: v.type.tensor_type.elem_type
                for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    except Exception:  # noqa: BLE001
        return {}


def _limit_memory(mb):
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))


_ASAN_BINARIES = {}


def _is_asan(path):
    if path not in _ASAN_BINARIES:
        try:
            with open(path, "rb") as f:
                _ASAN_BINARIES[path] = b"__asan_init" in f.read()
        except OSError:
            _ASAN_BINARIES[path] = False
    return _ASAN_BINARIES[path]


def _ort_child(conn):
    _limit_memory(2 * MEM_CAP_MB)
    import onnxruntime as ort
    while True:
        msg = conn.recv()
        if msg is None:
            return
        if msg[0] == "types":
            conn.send(_output_types(msg[1]))
            continue
        model_bytes, feeds = msg
        try:
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            so.log_severity_level = 4
            sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            outs = sess.run(None, feeds)
            conn.send(("ok", {n: np.asarray(v) for n, v in zip(names, outs)}))
        except Exception as e:  # noqa: BLE001 — any ORT refusal is an answer
            conn.send(("err", str(e).splitlines()[0][:300] if str(e) else type(e).__name__))


class OrtWorker:
    def __init__(self):
        self.ctx = mp.get_context("spawn")
        self.proc = None

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_ort_child, args=(child,), daemon=True)
        self.proc.start()

    def run(self, model_bytes, feeds):
        if self.proc is None or not self.proc.is_alive():
            self._start()
        try:
            self.conn.send((model_bytes, feeds))
            if not self.conn.poll(ORT_TIMEOUT_S):
                self.kill()
                return ("err", "ort timeout")
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            return ("err", "ort crashed")

    def output_types(self, model_bytes):
        if self.proc is None or not self.proc.is_alive():
            self._start()
        try:
            self.conn.send(("types", model_bytes))
            if not self.conn.poll(ORT_TIMEOUT_S):
                self.kill()
                return {}
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            return {}

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.proc = None

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(2)
        self.kill()


# ---------------------------------------------------------------------------------------------------

def run_weft(weft, model, feeds, workdir):
    """Saves the case under workdir, runs `weft run`; returns (rc, stdout, stderr, outputs|None)."""
    os.makedirs(workdir, exist_ok=True)
    mpath = os.path.join(workdir, "model.onnx")
    with open(mpath, "wb") as f:
        f.write(model.SerializeToString())
    args = [weft, "run", mpath]
    for i, (name, arr) in enumerate(feeds.items()):
        p = os.path.join(workdir, f"input_{i}.npy")
        np.save(p, arr)
        args += ["--input", f"{name}={p}"]
    outdir = os.path.join(workdir, "out")
    args += ["--output-dir", outdir]
    env = dict(os.environ, **SAN_ENV)
    try:
        pre = None if _is_asan(weft) else (lambda: _limit_memory(2 * MEM_CAP_MB))
        p = subprocess.run(args, capture_output=True, timeout=WEFT_TIMEOUT_S, env=env, preexec_fn=pre)
    except subprocess.TimeoutExpired:
        return None, "", "", None
    out = None
    if p.returncode == 0:
        out = {}
        for o in model.graph.output:
            path = os.path.join(outdir, safe_name(o.name) + ".npy")
            out[o.name] = np.load(path) if os.path.exists(path) else None
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), out


def inf_vs_max(a, b):
    """True when a and b differ only where one is +-inf and the other +-the largest finite float (ORT
    masks with -FLT_MAX where ONNX's reference masks with -inf)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != "f" or b.dtype.kind != "f":
        return False
    big = np.finfo(a.dtype).max
    af, bf = a.astype(np.float64), b.astype(np.float64)
    bad = ~np.isclose(af, bf, rtol=1e-4, atol=1e-5, equal_nan=True)
    ok = (np.isinf(af) & (np.abs(bf) >= big)) | (np.isinf(bf) & (np.abs(af) >= big))
    return bool(bad.any()) and bool(ok[bad].all())


def has_nonfinite(arrays):
    for a in arrays:
        if a.dtype.kind == "f" and a.size and not np.isfinite(a.astype(np.float64)).all():
            return True
        if a.dtype.kind == "f" and a.size and np.abs(a.astype(np.float64)).max() > 1e15:
            return True
    return False


def compare(a, b):
    """None when weft's `a` matches ORT's `b`, else a description of the difference."""
    if a is None:
        return "weft wrote no output file"
    b = np.asarray(b)
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs ORT {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} vs ORT {b.shape}"
    if a.dtype.kind == "f":
        rtol, atol = (1e-3, 1e-3) if a.dtype == np.float16 else (1e-4, 1e-5)
        af, bf = a.astype(np.float64), b.astype(np.float64)
        if not np.array_equal(np.isnan(af), np.isnan(bf)):
            return "NaN positions differ"
        ok = np.isclose(af, bf, rtol=rtol, atol=atol, equal_nan=True)
        if not ok.all():
            i = np.argwhere(~ok)[0]
            return f"value at {tuple(i)}: {af[tuple(i)]!r} vs ORT {bf[tuple(i)]!r} ({int((~ok).sum())} differ)"
        return None
    if not np.array_equal(a, b):
        i = np.argwhere(a != b)[0] if a.ndim else ()
        return f"value at {tuple(i)}: {a[tuple(i)]!r} vs ORT {b[tuple(i)]!r}"
    return None


class Verdict:
    """kind: ok | both-refuse | weft-refuses (a refusal) | ort-refuses | FAIL-<category>"""

    def __init__(self, kind, detail=""):
        self.kind, self.detail = kind, detail

    @property
    def failed(self):
        return self.kind.startswith("FAIL")


def judge(weft, model, feeds, workdir, ort_worker, skip_compare=False, reference=None):
    """`reference` (feeds -> {output: array}, raising ValueError to refuse) replaces ORT for ops ORT
    does not know (the ai.weft domain)."""
    rc, stdout, stderr, outs = run_weft(weft, model, feeds, workdir)
    if rc is None:
        return Verdict("FAIL-hang", f"weft ran > {WEFT_TIMEOUT_S} s")
    lines = [ln for ln in stderr.splitlines() if not ASAN_ALLOC_NOTICE.match(ln)]
    if any(SAN_REPORT.search(ln) for ln in lines):
        first = next((ln for ln in lines if SAN_REPORT.search(ln)), "")
        return Verdict("FAIL-sanitizer", first.strip()[:300])
    if rc < 0:
        return Verdict("FAIL-signal", f"signal {-rc}; stderr: {stderr[-300:]}")
    if rc not in (0, 1):
        return Verdict("FAIL-exit", f"exit status {rc}; stderr: {stderr[-300:]}")
    if rc == 1 and (len(lines) != 1 or not lines[0].strip()):
        return Verdict("FAIL-stderr", f"{len(lines)} stderr lines: {stderr[-300:]!r}")
    if reference is not None:
        try:
            ort_status, ort_out = "ok", reference(feeds)
        except (ValueError, IndexError) as e:
            ort_status, ort_out = "err", f"reference: {e}"
    else:
        ort_status, ort_out = ort_worker.run(model.SerializeToString(), feeds)
    if rc == 1:
        if ort_status == "ok":
            return Verdict("weft-refuses", lines[0].strip())
        return Verdict("both-refuse", lines[0].strip())
    if ort_status != "ok":
        if reference is not None and ort_out.startswith("reference: index"):
            return Verdict("FAIL-accepts", "weft accepted an index outside its range")
        return Verdict("ort-refuses", ort_out)
    if skip_compare:
        return Verdict("ok")
    from onnx import numpy_helper
    inputs_nonfinite = has_nonfinite(list(feeds.values()) + [
        numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type in (1, 10, 11)]) or any(
        not np.isfinite(a.f) for n in model.graph.node for a in n.attribute if a.type == onnx.AttributeProto.FLOAT)
    for name, ref in ort_out.items():
        if name not in outs:
            return Verdict("FAIL-wrong", f"output {name}: missing")
        d = compare(outs[name], ref)
        if d and outs[name] is not None and inf_vs_max(outs[name], ref):
            return Verdict("nonfinite-divergence", f"output {name}: {d} (infinity where ORT has the float maximum)")
        if d and inputs_nonfinite and outs[name] is not None:
            # NaN / inf / values near the float range: engines differ legitimately (ORT's Min / Max /
            # ArgMin skip NaN where numpy and ONNX's reference propagate it; weft accumulates float32
            # in double where ORT overflows). Reported apart from failures, for review.
            return Verdict("nonfinite-divergence", f"output {name}: {d}")
        if d:
            return Verdict("FAIL-wrong", f"output {name}: {d}")
    return Verdict("ok")


def save_finding(dest_root, tag, model, feeds, verdict):
    d = os.path.join(dest_root, tag)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for i, (name, arr) in enumerate(feeds.items()):
        np.save(os.path.join(d, f"input_{i}.npy"), arr)
    with open(os.path.join(d, "README.txt"), "w") as f:
        f.write(f"{verdict.kind}: {verdict.detail}\n")
        f.write("inputs: " + " ".join(f"{n}=input_{i}.npy" for i, n in enumerate(feeds)) + "\n")
    return d


def scratch_dir():
    return tempfile.mkdtemp(prefix="weft-fuzz-")


def rmtree(d):
    shutil.rmtree(d, ignore_errors=True)
