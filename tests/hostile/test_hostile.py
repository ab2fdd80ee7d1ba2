"""Hostile inputs: every one must end in exit status 1 with exactly one non-empty line on stderr that
names the problem — no signal, no hang (30 s), no sanitizer report (a report adds lines and changes the
exit status). Each family starts with a positive control, so a failure is for the reason we meant.
"""
import glob
import os
import random
import re
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
sys.path.insert(0, HERE)
import hostile_models as hm  # noqa: E402
import weft_testlib as wt  # noqa: E402

SEED = 20240611
ASAN_ALLOC_NOTICE = re.compile(r"==\d+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$")


def assert_clean_failure(res, pattern=None):
    """Exit 1, one non-empty stderr line, which matches `pattern` (case-insensitive) if given."""
    assert res.rc >= 0, f"killed by signal {-res.rc}\n" + res.describe()
    assert res.rc == 1, "expected exit status 1\n" + res.describe()
    # Under ASan with allocator_may_return_null=1, an absurd malloc returns NULL after a one-line
    # runtime notice; that notice is not weft's output and not a finding.
    lines = [ln for ln in res.stderr.splitlines() if not ASAN_ALLOC_NOTICE.match(ln)]
    assert len(lines) == 1 and lines[0].strip(), "expected exactly one non-empty stderr line\n" + res.describe()
    if pattern:
        assert re.search(pattern, lines[0], re.I), f"message does not name the problem ({pattern})\n" + res.describe()


def assert_ok_or_clean_failure(res):
    """For inputs that may or may not still be valid (a flipped bit in a weight): success, or a clean
    failure — never a crash."""
    if res.rc == 0:
        return
    assert_clean_failure(res)


def inspect(path):
    return wt.run_weft(["inspect", path])


def run(model_path, inputs, tmp_path, backend=None):
    res, _ = wt.run_model(str(model_path), inputs, str(tmp_path), extra=["--backend", backend] if backend else ())
    return res


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    path = hm.save(hm.gather_scatter(), str(d / "gs.onnx"))
    with open(path, "rb") as f:
        data = f.read()
    return path, data


# --- files that are not models -------------------------------------------------------------------
@pytest.mark.parametrize("backend", wt.BACKENDS)
def test_base_model_is_accepted(base, tmp_path, backend):
    path, _ = base
    res = inspect(path)
    assert res.rc == 0, res.describe()
    x, ei = hm.graph_inputs()
    res, outdir = wt.run_model(path, {"x": x, "edge_index": ei}, str(tmp_path), extra=["--backend", backend])
    assert res.rc == 0, res.describe()
    want = np.zeros_like(x)
    np.add.at(want, ei[1], x[ei[0]])
    np.testing.assert_allclose(wt.read_output(outdir, "out"), want, rtol=1e-5, atol=1e-6)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    assert_clean_failure(inspect(p), r"empty\.onnx")


def test_nonexistent_file(tmp_path):
    assert_clean_failure(inspect(tmp_path / "no_such_model.onnx"), r"no_such_model\.onnx")


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "model_dir.onnx"
    d.mkdir()
    assert_clean_failure(inspect(d), r"model_dir\.onnx")


@pytest.mark.parametrize("frac", [0.0005, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999])
def test_truncated(base, tmp_path, frac):
    _, data = base
    cut = max(1, int(len(data) * frac))
    p = tmp_path / "truncated.onnx"
    p.write_bytes(data[:cut])
    if hm.parses(data[:cut]):  # cut on a field boundary: still a protobuf message, maybe a model
        assert_ok_or_clean_failure(inspect(p))
    else:
        assert_clean_failure(inspect(p), r"truncated\.onnx")


def test_truncated_every_cut_point_never_crashes(base, tmp_path):
    _, data = base
    p = tmp_path / "cut.onnx"
    for cut in range(1, len(data), max(1, len(data) // 40)):
        p.write_bytes(data[:cut])
        assert_ok_or_clean_failure(inspect(p))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", [1, 16, 300, 5000])
def test_random_bytes(tmp_path, seed, size):
    data = random.Random(SEED + seed * 7919 + size).randbytes(size)
    p = tmp_path / "random.onnx"
    p.write_bytes(data)
    if hm.parses(data):
        assert_ok_or_clean_failure(inspect(p))
    else:
        assert_clean_failure(inspect(p), r"random\.onnx")


@pytest.mark.parametrize("batch", range(6))
def test_bit_flips(base, tmp_path, batch):
    """20 models per batch, each with 1-3 random bits flipped; inspect and run each."""
    path, data = base
    rng = random.Random(SEED + batch)
    x, ei = hm.graph_inputs()
    for k in range(20):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(buf) * 8)
            buf[i // 8] ^= 1 << (i % 8)
        p = tmp_path / f"flip{k}.onnx"
        p.write_bytes(bytes(buf))
        assert_ok_or_clean_failure(inspect(p))
        assert_ok_or_clean_failure(run(p, {"x": x, "edge_index": ei}, tmp_path / f"run{k}"))


# --- inputs that do not fit the model ---------------------------------------------------------------
def test_wrong_input_dtype(base, tmp_path):
    x, ei = hm.graph_inputs()
    assert_clean_failure(run(base[0], {"x": x.astype(np.int64), "edge_index": ei}, tmp_path),
                         r"\bx\b.*(int64|float|type)|(int64|float|type).*\bx\b")


def test_missing_input(base, tmp_path):
    x, _ = hm.graph_inputs()
    assert_clean_failure(run(base[0], {"x": x}, tmp_path), r"edge_index")


def test_unknown_input_name(base, tmp_path):
    x, ei = hm.graph_inputs()
    assert_clean_failure(run(base[0], {"x": x, "edge_index": ei, "bogus_input": x}, tmp_path), r"bogus_input")


def test_rank_mismatch(base, tmp_path):
    x, ei = hm.graph_inputs()
    assert_clean_failure(run(base[0], {"x": x.reshape(-1), "edge_index": ei}, tmp_path), r"\bx\b|rank")


def test_fixed_dim_mismatch(base, tmp_path):
    x, ei = hm.graph_inputs()
    assert_clean_failure(run(base[0], {"x": x[:, :3].copy(), "edge_index": ei}, tmp_path), r"\bx\b")


@pytest.mark.parametrize("backend", wt.BACKENDS)
def test_edge_arrays_of_different_lengths(tmp_path, backend):
    p = hm.save(hm.gather_scatter(separate_rows=True), str(tmp_path / "rows.onnx"))
    x, ei = hm.graph_inputs()
    res = run(p, {"x": x, "src": ei[0], "dst": ei[1]}, tmp_path / "ok", backend)
    assert res.rc == 0, "positive control failed\n" + res.describe()
    assert_clean_failure(run(p, {"x": x, "src": ei[0, :150].copy(), "dst": ei[1]}, tmp_path / "bad", backend),
                         r"num_edges|src|dst|150|200")


@pytest.mark.parametrize("row,value", [(0, hm.N), (0, -hm.N - 1), (1, hm.N), (1, -hm.N - 1),
                                       (0, 2 ** 62), (1, -2 ** 63), (0, -2 ** 63), (1, 2 ** 63 - 1)])
@pytest.mark.parametrize("backend", wt.BACKENDS)
def test_out_of_range_index(base, tmp_path, row, value, backend):
    """row 0 feeds Gather, row 1 feeds ScatterElements; the message must name the bad value."""
    x, ei = hm.graph_inputs()
    ei[row, 123] = value
    assert_clean_failure(run(base[0], {"x": x, "edge_index": ei}, tmp_path, backend), re.escape(str(value)))


@pytest.mark.parametrize("which,value", [("src", hm.N), ("dst", hm.N), ("dst", -hm.N - 1), ("dst", 2 ** 62)])
@pytest.mark.parametrize("backend", wt.BACKENDS)
def test_out_of_range_scatternd(tmp_path, which, value, backend):
    p = hm.save(hm.scatternd(), str(tmp_path / "snd.onnx"))
    x, ei = hm.graph_inputs()
    res = run(p, {"x": x, "src": ei[0], "dst": ei[1]}, tmp_path / "ok", backend)
    assert res.rc == 0, "positive control failed\n" + res.describe()
    idx = {"src": ei[0].copy(), "dst": ei[1].copy()}
    idx[which][7] = value
    assert_clean_failure(run(p, {"x": x, **idx}, tmp_path / "bad", backend), re.escape(str(value)))


# --- models that lie about themselves ---------------------------------------------------------------
def test_negative_dim_value(tmp_path):
    p = hm.save(hm.negative_dim(), str(tmp_path / "neg.onnx"))
    assert_clean_failure(inspect(p), r"-3|negative")
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path), r"-3|negative")


def test_initializer_dims_overflow_int64(tmp_path):
    t = hm.raw_tensor("w", [2 ** 32, 2 ** 32, 4], b"\0" * 16)
    p = hm.save(hm.add_const(t), str(tmp_path / "overflow.onnx"))
    assert_clean_failure(inspect(p), r"\bw\b|overflow")


def test_declared_input_dims_overflow_int64(tmp_path):
    p = hm.save(hm.declared_huge_input(), str(tmp_path / "huge_input.onnx"))
    assert_ok_or_clean_failure(inspect(p))
    assert_clean_failure(run(p, {"x": np.ones((2, 2, 2), np.float32)}, tmp_path), r"\bx\b|overflow")


@pytest.mark.parametrize("dims", [[2 ** 32, 2 ** 32], [2 ** 31, 2 ** 31, 2], [2 ** 20, 2 ** 20, 2 ** 10],
                                  [-1, 4]])
def test_constant_of_shape_absurd(tmp_path, dims):
    """The size must be refused (overflow, or too large to allocate), not attempted."""
    p = hm.save(hm.constant_of_shape(dims), str(tmp_path / "cos.onnx"))
    assert_clean_failure(run(p, {"x": np.ones(1, np.float32)}, tmp_path))


def test_raw_data_shorter_than_dims(tmp_path):
    ok = hm.save(hm.add_const(hm.raw_tensor("w", [4], np.ones(4, np.float32).tobytes())), str(tmp_path / "ok.onnx"))
    res = run(ok, {"x": np.ones(4, np.float32)}, tmp_path / "ok")
    assert res.rc == 0, "positive control failed\n" + res.describe()
    p = hm.save(hm.add_const(hm.raw_tensor("w", [4], b"\0" * 10)), str(tmp_path / "short.onnx"))
    assert_clean_failure(inspect(p), r"\bw\b")
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path / "bad"), r"\bw\b")


def test_cyclic_graph(tmp_path):
    p = hm.save(hm.cyclic(), str(tmp_path / "cycle.onnx"))
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path), r"cycl|add_a|relu_b")


def test_unknown_op(tmp_path):
    p = hm.save(hm.unknown_op(), str(tmp_path / "unknown.onnx"))
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path), r"FrobnicateTensor")


# --- external data ------------------------------------------------------------------------------------
@pytest.fixture
def extdir(tmp_path):
    """tmp/model/ holds the model and w.bin (16 bytes); tmp/x and tmp/outside.bin lie outside it."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    data = np.arange(4, dtype=np.float32).tobytes()
    (model_dir / "w.bin").write_bytes(data)
    (tmp_path / "x").write_bytes(data)
    (tmp_path / "outside.bin").write_bytes(data)
    os.symlink(str(tmp_path / "outside.bin"), str(model_dir / "link.bin"))
    return model_dir


def _ext(extdir, location, **kw):
    return hm.save(hm.add_const(hm.external_tensor("w", location, **kw)), str(extdir / "m.onnx"))


def test_external_data_inside_folder_works(extdir, tmp_path):
    p = _ext(extdir, "w.bin")
    res, outdir = wt.run_model(p, {"x": np.ones(4, np.float32)}, str(tmp_path / "run"))
    assert res.rc == 0, res.describe()
    np.testing.assert_array_equal(wt.read_output(outdir, "y"), np.arange(4, dtype=np.float32) + 1)


@pytest.mark.parametrize("location", ["../x", "/etc/passwd", "link.bin", "sub/../../x"])
def test_external_data_leaving_folder(extdir, tmp_path, location):
    p = _ext(extdir, location)
    assert_clean_failure(inspect(p), r"\bw\b|outside|escape|\.\.|secur|symlink|absolute|" + re.escape(location))
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path / "run"))


@pytest.mark.parametrize("kw", [dict(length=2 ** 62), dict(offset=2 ** 62), dict(offset=8),
                                dict(offset=-4), dict(length=-16), dict(length=8)])
def test_external_data_bad_range(extdir, tmp_path, kw):
    p = _ext(extdir, "w.bin", **kw)
    assert_clean_failure(inspect(p), r"\bw\b|w\.bin")
    assert_clean_failure(run(p, {"x": np.ones(4, np.float32)}, tmp_path / "run"))


def test_external_data_missing_file(extdir, tmp_path):
    p = _ext(extdir, "nope.bin")
    assert_clean_failure(inspect(p), r"nope\.bin|\bw\b")


# --- sizes decided by constants ------------------------------------------------------------------
@pytest.mark.parametrize("op,consts,attrs", [
    ("Range", [np.int64(0), np.int64(2 ** 62), np.int64(1)], {}),
    ("Range", [np.int64(0), np.int64(10), np.int64(0)], {}),
    ("Range", [np.float32(0), np.float32(1e30), np.float32(1e-30)], {}),
    ("Range", [np.float32(0), np.float32(np.inf), np.float32(1)], {}),
    ("Tile", [np.ones((2, 2), np.float32), np.array([2 ** 40, 2 ** 40], np.int64)], {}),
    ("Tile", [np.ones((2, 2), np.float32), np.array([-1, 2], np.int64)], {}),
    ("Expand", [np.ones(1, np.float32), np.array([2 ** 31, 2 ** 31, 2 ** 31], np.int64)], {}),
    ("Reshape", [np.ones(4, np.float32), np.array([2 ** 40, 2 ** 40], np.int64)], {}),
    ("Reshape", [np.ones(4, np.float32), np.array([-1, -1], np.int64)], {}),
])
def test_absurd_sizes_from_constants(tmp_path, op, consts, attrs):
    p = hm.save(hm.const_op(op, consts, **attrs), str(tmp_path / "m.onnx"))
    x = np.zeros(1, np.asarray(consts[0]).dtype if op == "Range" else np.float32)
    assert_clean_failure(run(p, {"x": x}, tmp_path))


def test_long_chain_of_nodes(tmp_path):
    """50,000 nodes listed in reverse order: no recursion may overflow the stack."""
    p = hm.save(hm.neg_chain(50000), str(tmp_path / "chain.onnx"))
    x = np.arange(4, dtype=np.float32)
    res, outdir = wt.run_model(p, {"x": x}, str(tmp_path / "run"), timeout=120)
    assert res.rc == 0, res.describe()
    np.testing.assert_array_equal(wt.read_output(outdir, "y"), x)  # an even number of negations


@pytest.mark.parametrize("conds", [(True, False), (False, True)])
def test_many_if_nodes(tmp_path, conds):
    """300 If nodes whose conditions are inputs (never inlined): every pass and the lowering visit all of
    their 600 subgraphs, not a fixed number of them."""
    n = 300
    p = hm.save(hm.many_ifs(n), str(tmp_path / "ifs.onnx"))
    x = np.arange(4, dtype=np.float32)
    c0, c1 = (np.array(c) for c in conds)
    res, outdir = wt.run_model(p, {"x": x, "c0": c0, "c1": c1}, str(tmp_path / "run"), timeout=120)
    assert res.rc == 0, res.describe()
    np.testing.assert_array_equal(wt.read_output(outdir, "y"), hm.many_ifs_expected(n, x, conds[0], conds[1]))


@pytest.mark.parametrize("trips", [0, 3])
def test_loop_with_more_scan_outputs_than_inputs(tmp_path, trips):
    """Six scan outputs on a Loop with two inputs: the state kept per scan output is sized by the
    outputs (it was sized by the inputs, and the runtime wrote past it)."""
    k = 6
    p = hm.save(hm.loop_scan_outputs(k), str(tmp_path / "loop.onnx"))
    x = np.array([1, 2], np.float32)
    res, outdir = wt.run_model(p, {"x": x, "M": np.array(trips, np.int64)}, str(tmp_path / "run"))
    assert res.rc == 0, res.describe()
    for j in range(k):
        np.testing.assert_array_equal(wt.read_output(outdir, f"y{j}"), np.tile(x + j, (trips, 1)).reshape(trips, 2))


def test_scan_axes_list_of_the_wrong_length(tmp_path):
    p = hm.save(hm.scan_axes_mismatch(), str(tmp_path / "scan.onnx"))
    res = run(p, {"s0": np.zeros(2, np.float32), "xs": np.ones((3, 2), np.float32)}, tmp_path)
    assert_clean_failure(res, r"scan_input_axes")


@pytest.mark.parametrize("depth", [60, 5000, 100000])
def test_deeply_nested_subgraphs(tmp_path, depth):
    p = tmp_path / "deep.onnx"
    p.write_bytes(hm.nested_if_bytes(depth))
    assert_clean_failure(inspect(p), r"deep\.onnx")


# --- input files that are not tensors ------------------------------------------------------------
def _npy(descr, shape, data, fortran=False):
    return hm.npy_bytes(descr, shape, data, fortran)


GOOD_X = np.ones((hm.N, hm.F), np.float32)
NPY_CASES = {
    "empty": b"",
    "random": random.Random(SEED).randbytes(777),
    "magic_only": b"\x93NUMPY",
    "truncated_data": _npy("<f4", (hm.N, hm.F), GOOD_X.tobytes()[:-5]),
    "shape_lies": _npy("<f4", (1000000, hm.F), GOOD_X.tobytes()),
    "shape_overflow": _npy("<f4", (2 ** 62, 2 ** 62), GOOD_X.tobytes()),
    "negative_shape": _npy("<f4", (-hm.N, hm.F), GOOD_X.tobytes()),
    "object_dtype": _npy("|O", (hm.N, hm.F), GOOD_X.tobytes()),
    "garbage_descr": _npy("<q9", (hm.N, hm.F), GOOD_X.tobytes()),
    "header_len_lies": b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'",
    "unterminated_header": b"\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (50, 4" + b" " * 30,
    "truncated_pb": None,  # filled below from a real TensorProto
}


@pytest.mark.parametrize("case", sorted(NPY_CASES))
def test_malformed_input_file(base, tmp_path, case):
    from onnx import numpy_helper
    data = NPY_CASES[case]
    if data is None:
        data = numpy_helper.from_array(GOOD_X, "x").SerializeToString()[:-37]
    bad = tmp_path / "x_input.npy"
    bad.write_bytes(data)
    _, ei = hm.graph_inputs()
    np.save(tmp_path / "ei.npy", ei)
    res = wt.run_weft(["run", base[0], "--input", f"x={bad}", "--input", f"edge_index={tmp_path / 'ei.npy'}",
                       "--output-dir", tmp_path / "out"])
    assert_clean_failure(res, r"x_input\.npy|'x'|\bx\b")


@pytest.mark.parametrize("case", ["fortran", "big_endian"])
def test_unusual_npy_layouts(base, tmp_path, case):
    """Either read correctly or refused cleanly."""
    x, ei = hm.graph_inputs()
    if case == "fortran":
        data = _npy("<f4", x.shape, np.asfortranarray(x).T.copy().tobytes(), fortran=True)
    else:
        data = _npy(">f4", x.shape, x.astype(">f4").tobytes())
    (tmp_path / "x.npy").write_bytes(data)
    np.save(tmp_path / "ei.npy", ei)
    res = wt.run_weft(["run", base[0], "--input", f"x={tmp_path / 'x.npy'}",
                       "--input", f"edge_index={tmp_path / 'ei.npy'}", "--output-dir", tmp_path / "out"])
    if res.rc == 0:
        want = np.zeros_like(x)
        np.add.at(want, ei[1], x[ei[0]])
        np.testing.assert_allclose(wt.read_output(tmp_path / "out", "out"), want, rtol=1e-5, atol=1e-6)
    else:
        assert_clean_failure(res)


def test_nonexistent_input_file(base, tmp_path):
    _, ei = hm.graph_inputs()
    np.save(tmp_path / "ei.npy", ei)
    res = wt.run_weft(["run", base[0], "--input", f"x={tmp_path / 'missing_x.npy'}",
                       "--input", f"edge_index={tmp_path / 'ei.npy'}", "--output-dir", tmp_path / "out"])
    assert_clean_failure(res, r"missing_x\.npy")


# --- bit flips in the bundled GNN models, run on their own test inputs --------------------------------
PATTERN_DIRS = sorted(d for d in glob.glob(os.path.join(wt.REPO, "models", "patterns", "*"))
                      if os.path.isfile(os.path.join(d, "model.onnx")))


@pytest.mark.parametrize("model_dir", PATTERN_DIRS, ids=os.path.basename)
def test_bit_flips_in_pattern_models(tmp_path, model_dir):
    with open(os.path.join(model_dir, "model.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(model_dir, "inputs.txt")) as f:
        names = f.read().split()
    args = []
    for k, name in enumerate(names):
        args += ["--input", f"{name}={os.path.join(model_dir, 'test_data_set_0', f'input_{k}.pb')}"]
    rng = random.Random(SEED + len(data))
    for k in range(25):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(buf) * 8)
            buf[i // 8] ^= 1 << (i % 8)
        p = tmp_path / f"flip{k}.onnx"
        p.write_bytes(bytes(buf))
        assert_ok_or_clean_failure(wt.run_weft(["run", p, *args, "--output-dir", tmp_path / f"o{k}"]))
