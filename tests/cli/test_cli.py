#!/usr/bin/env python3
"""End-to-end tests of the `weft` command: inspect, run, conformance.

Builds tiny models with onnx.helper in a temporary folder and checks the command's output, files and
exit statuses. Expected values are computed here with numpy from the ONNX operator semantics, never
taken from weft.

usage: test_cli.py [PATH_TO_WEFT]     (default: $WEFT, else build-cli/weft or build/weft)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURES = []
CHECKS = 0


def find_weft():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    if os.environ.get("WEFT"):
        return os.environ["WEFT"]
    for d in ("build-cli", "build"):
        p = os.path.join(REPO, d, "weft")
        if os.path.exists(p):
            return p
    sys.exit("test_cli.py: no weft binary found (give its path)")


WEFT = find_weft()


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILURES.append(what)
        print("  FAILED:", what)


def weft(*args, timeout=120):
    r = subprocess.run([WEFT, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def one_line_error(rc, err, what, needle):
    """A failure: exit 1, exactly one line on stderr starting 'weft: ', mentioning `needle`."""
    lines = err.strip("\n").split("\n")
    check(rc == 1, f"{what}: exit status {rc}, expected 1 (stderr: {err!r})")
    check(len(lines) == 1 and lines[0].startswith("weft: "), f"{what}: not one 'weft: ' line: {err!r}")
    check(needle in err, f"{what}: message does not mention {needle!r}: {err!r}")


# --- models -------------------------------------------------------------------------------------------


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)


def add_model(path):
    """y = x + b, x: [N,3] float (N symbolic), b: an initializer of 3 values."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("out/y:0", TensorProto.FLOAT, ["N", 3])
    b = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], dtype=np.float32), "b")
    g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["out/y:0"], name="add0")], "g", [x], [y], [b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="cli-test",
                          producer_version="1.2")
    save(m, path)


def gather_scatter_model(path):
    """The message-passing shape: msg = Gather(h, src); agg = ScatterElements(zeros, dst_b, msg, add)."""
    h = helper.make_tensor_value_info("h", TensorProto.FLOAT, ["num_nodes", 2])
    src = helper.make_tensor_value_info("src", TensorProto.INT64, ["num_edges"])
    dst = helper.make_tensor_value_info("dst", TensorProto.INT64, ["num_edges", 2])
    zeros = helper.make_tensor_value_info("zeros", TensorProto.FLOAT, ["num_nodes", 2])
    out = helper.make_tensor_value_info("agg", TensorProto.FLOAT, ["num_nodes", 2])
    nodes = [
        helper.make_node("Gather", ["h", "src"], ["msg"], name="gather0", axis=0),
        helper.make_node("ScatterElements", ["zeros", "dst", "msg"], ["agg"], name="scatter0", axis=0,
                         reduction="add"),
    ]
    g = helper.make_graph(nodes, "mp", [h, src, dst, zeros], [out])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), path)


def unsupported_model(path):
    """An op no one implements: a custom-domain op next to a supported Relu."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu0"),
        helper.make_node("Frobnicate", ["r"], ["y"], name="frob0", domain="com.example"),
    ]
    g = helper.make_graph(nodes, "u", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(m, path)  # the checker rightly knows nothing of Frobnicate


def write_pb(arr, path, name=""):
    t = numpy_helper.from_array(arr, name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def conformance_case(root, name, model_fn, inputs, outputs):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    model_fn(os.path.join(d, "model.onnx"))
    for i, a in enumerate(inputs):
        write_pb(a, os.path.join(d, "test_data_set_0", f"input_{i}.pb"))
    for i, a in enumerate(outputs):
        write_pb(a, os.path.join(d, "test_data_set_0", f"output_{i}.pb"))


# --- tests --------------------------------------------------------------------------------------------


def test_inspect(tmp):
    print("inspect")
    add = os.path.join(tmp, "add.onnx")
    add_model(add)
    rc, out, err = weft("inspect", add)
    check(rc == 0, f"inspect add: exit {rc}, stderr {err!r}")
    check("ir_version:" in out, "inspect text: no ir_version")
    check("cli-test 1.2" in out, "inspect text: producer name/version missing")
    check("ai.onnx 17" in out, "inspect text: opset missing")
    check("[N,3]" in out, "inspect text: symbolic shape [N,3] missing")
    check("Add" in out, "inspect text: op histogram lacks Add")
    check("parameters: 3 elements, 12 bytes" in out, "inspect text: parameter count/bytes wrong")
    check("unsupported ops: none" in out, "inspect text: Add model reported unsupported ops")

    rc, out, err = weft("inspect", add, "--json")
    check(rc == 0, f"inspect --json: exit {rc}")
    try:
        j = json.loads(out)
    except ValueError as e:
        check(False, f"inspect --json does not parse: {e}: {out!r}")
        return
    check(j["inputs"] == [{"name": "x", "dtype": "float", "shape": ["N", 3]}], f"json inputs: {j['inputs']}")
    check(j["outputs"][0]["name"] == "out/y:0", "json output name")
    check(j["parameters"]["count"] == 3 and j["parameters"]["bytes"] == 12, f"json parameters {j['parameters']}")
    check([(o["op_type"], o["count"]) for o in j["op_histogram"]] == [("Add", 1)], "json histogram")
    check(j["unsupported"] == [], "json unsupported should be empty")
    check(j["producer_name"] == "cli-test", "json producer")

    un = os.path.join(tmp, "unsup.onnx")
    unsupported_model(un)
    rc, out, err = weft("inspect", un, "--json")
    check(rc == 0, f"inspect unsupported model: exit {rc} ({err!r})")
    try:
        j = json.loads(out)
        u = j["unsupported"]
        check(len(u) == 1 and u[0]["op_type"] == "Frobnicate" and u[0]["nodes"] == ["frob0"]
              and u[0]["domain"] == "com.example", f"json unsupported list: {u}")
    except ValueError as e:
        check(False, f"inspect --json (unsupported) does not parse: {e}")
    rc, out, err = weft("inspect", un)
    check("Frobnicate" in out and "frob0" in out, "inspect text: unsupported op and node not named")

    gs = os.path.join(tmp, "gs.onnx")
    gather_scatter_model(gs)
    rc, out, err = weft("inspect", gs, "--json")
    j = json.loads(out) if rc == 0 else {}
    check(j.get("inputs", [{}])[0].get("shape") == ["num_nodes", 2], "gather/scatter: symbolic input shape")

    rc, out, err = weft("inspect", os.path.join(tmp, "missing.onnx"))
    one_line_error(rc, err, "inspect missing file", "missing.onnx")
    junk = os.path.join(tmp, "junk.onnx")
    with open(junk, "wb") as f:
        f.write(b"\x08\x07\x12\xff\xff\xff\xff this is not a model")
    rc, out, err = weft("inspect", junk)
    one_line_error(rc, err, "inspect corrupt file", "junk.onnx")
    rc, out, err = weft("inspect")
    check(rc == 2, f"inspect without model: exit {rc}, expected 2")
    rc, out, err = weft("inspect", "--help")
    check(rc == 0 and "usage" in out, "inspect --help")


def test_run(tmp):
    print("run")
    add = os.path.join(tmp, "add.onnx")
    add_model(add)
    x = np.array([[0.5, -1.0, 2.0], [10.0, 20.0, 30.0]], dtype=np.float32)
    xpath = os.path.join(tmp, "x.npy")
    np.save(xpath, x)
    outdir = os.path.join(tmp, "out", "nested")
    rc, out, err = weft("run", add, "--input", f"x={xpath}", "--output-dir", outdir)
    check(rc == 0, f"run add: exit {rc}, stderr {err!r}")
    f = os.path.join(outdir, "out_y_0.npy")  # "out/y:0" sanitised
    check(os.path.exists(f), f"run add: {f} not written (dir has {os.listdir(outdir) if os.path.isdir(outdir) else None})")
    if os.path.exists(f):
        got = np.load(f)
        want = x + np.array([1.0, 2.0, 3.0], dtype=np.float32)
        check(got.dtype == np.float32 and got.shape == (2, 3), f"run add: dtype/shape {got.dtype} {got.shape}")
        check(np.array_equal(got, want), f"run add: values {got} != {want}")
    check("out/y:0" in out and "[2,3]" in out and "1.5" in out, f"run add: summary line: {out!r}")

    rc, out, err = weft("run", add, "--input", f"x={xpath}", "--json")
    check(rc == 0, f"run --json: exit {rc}")
    try:
        j = json.loads(out)
        o = j["outputs"][0]
        check(o["name"] == "out/y:0" and o["dtype"] == "float" and o["shape"] == [2, 3], f"run json: {o}")
        check(o["first_values"][:3] == [1.5, 1.0, 5.0], f"run json values {o['first_values']}")
    except (ValueError, KeyError, IndexError) as e:
        check(False, f"run --json output: {e}: {out!r}")

    # A .pb input works the same as .npy.
    xpb = os.path.join(tmp, "x.pb")
    write_pb(x, xpb, "whatever")
    outdir2 = os.path.join(tmp, "out2")
    rc, out, err = weft("run", add, "--input", f"x={xpb}", "--output-dir", outdir2)
    check(rc == 0 and os.path.exists(os.path.join(outdir2, "out_y_0.npy")), f"run with .pb input: {rc} {err!r}")

    # Gather -> ScatterElements(add): agg[dst[e], c] += h[src[e], c].
    gs = os.path.join(tmp, "gs.onnx")
    gather_scatter_model(gs)
    h = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    src = np.array([0, 1, 2, 2], dtype=np.int64)
    dst = np.array([[1, 1], [1, 1], [0, 0], [1, 1]], dtype=np.int64)
    zeros = np.zeros((3, 2), dtype=np.float32)
    want = np.array([[5, 6], [1 + 3 + 5, 2 + 4 + 6], [0, 0]], dtype=np.float32)
    paths = {}
    for name, a in (("h", h), ("src", src), ("dst", dst), ("zeros", zeros)):
        paths[name] = os.path.join(tmp, f"{name}.npy")
        np.save(paths[name], a)
    od = os.path.join(tmp, "gsout")
    args = ["run", gs, "--output-dir", od] + sum([["--input", f"{k}={v}"] for k, v in paths.items()], [])
    rc, out, err = weft(*args)
    check(rc == 0, f"run gather/scatter: exit {rc}, {err!r}")
    if rc == 0:
        got = np.load(os.path.join(od, "agg.npy"))
        check(np.array_equal(got, want), f"run gather/scatter: {got} != {want}")

    # Errors: one line naming the input.
    rc, out, err = weft("run", gs, "--input", f"h={paths['h']}", "--input", f"src={paths['src']}",
                        "--input", f"dst={paths['dst']}")
    one_line_error(rc, err, "run missing input", "zeros")
    rc, out, err = weft("run", add, "--input", f"x={xpath}", "--input", f"bogus={xpath}")
    one_line_error(rc, err, "run unknown input", "bogus")
    rc, out, err = weft("run", add, "--input", f"x={os.path.join(tmp, 'nope.npy')}")
    one_line_error(rc, err, "run bad input path", "nope.npy")
    rc, out, err = weft("run", add, "--input", f"x={xpath}", "--input", f"x={xpath}")
    check(rc in (1, 2) and "twice" in err and len(err.strip().split("\n")) == 1, f"run duplicate input: {rc} {err!r}")
    rc, out, err = weft("run", add, "--input", "x")
    check(rc == 2, f"run --input without '=': exit {rc}, expected 2")
    # A wrong shape is the library's error, passed on with the command's context.
    bad = os.path.join(tmp, "bad.npy")
    np.save(bad, np.zeros((2, 4), dtype=np.float32))
    rc, out, err = weft("run", add, "--input", f"x={bad}")
    check(rc == 1 and err.startswith("weft: ") and len(err.strip().split("\n")) == 1, f"run wrong shape: {rc} {err!r}")


def test_conformance(tmp):
    print("conformance")
    root = os.path.join(tmp, "conf")
    os.makedirs(root)
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    b = np.array([1, 2, 3], dtype=np.float32)
    conformance_case(root, "test_a_pass", add_model, [x], [x + b])
    conformance_case(root, "test_b_fail", add_model, [x], [x + b + np.float32(0.5)])
    conformance_case(root, "test_c_unsupported", unsupported_model, [np.ones(2, np.float32)], [np.ones(2, np.float32)])
    os.makedirs(os.path.join(root, "not_a_test"))  # no model.onnx: skipped

    rc, out, err = weft("conformance", root)
    lines = out.strip("\n").split("\n")
    check(rc == 1, f"conformance with a failure: exit {rc}, expected 1")
    check(len(lines) == 4, f"conformance: expected 4 lines, got {lines}")
    if len(lines) == 4:
        check(lines[0] == "PASS test_a_pass", f"line 1: {lines[0]!r}")
        check(lines[1].startswith("FAIL test_b_fail: "), f"line 2: {lines[1]!r}")
        check(lines[2].startswith("UNSUPPORTED test_c_unsupported: "), f"line 3: {lines[2]!r}")
        check(lines[3] == "1 passed, 1 failed, 1 unsupported", f"summary: {lines[3]!r}")

    # Parallel children give the same lines.
    rc2, out2, _ = weft("conformance", root, "-j", "3")
    check(out2 == out and rc2 == rc, f"-j 3 output differs: {out2!r}")

    rc, out, err = weft("conformance", root, "--filter", "pass|unsup")
    check(rc == 0 and out.strip().split("\n")[-1] == "1 passed, 0 failed, 1 unsupported", f"--filter: {rc} {out!r}")

    passing = os.path.join(tmp, "passing.txt")
    rc, out, err = weft("conformance", root, "--write-passing", passing)
    check(os.path.exists(passing) and open(passing).read() == "test_a_pass\n", "--write-passing content")

    exp_ok = os.path.join(tmp, "expect_ok.txt")
    with open(exp_ok, "w") as f:
        f.write("# tests that pass\ntest_a_pass   # the Add one\n\n")
    rc, out, err = weft("conformance", root, "--expect", exp_ok)
    check(rc == 0, f"--expect with only passing tests listed: exit {rc}, expected 0")
    check("REGRESSION" not in out, "--expect: spurious REGRESSION")

    exp_bad = os.path.join(tmp, "expect_bad.txt")
    with open(exp_bad, "w") as f:
        f.write("test_a_pass\ntest_b_fail\n")
    rc, out, err = weft("conformance", root, "--expect", exp_bad)
    check(rc != 0, "--expect with a listed failing test: exit 0")
    check(any(l.startswith("REGRESSION test_b_fail") for l in out.split("\n")), f"--expect: no REGRESSION line: {out!r}")
    check(out.strip().split("\n")[-1] == "1 passed, 1 failed, 1 unsupported", "--expect: summary not last")

    rc, out, err = weft("conformance", root, "--json")
    try:
        j = json.loads(out)
        check([r["status"] for r in j["results"]] == ["pass", "fail", "unsupported"], f"json statuses {j['results']}")
        check((j["passed"], j["failed"], j["unsupported"]) == (1, 1, 1), "json counts")
    except ValueError as e:
        check(False, f"conformance --json does not parse: {e}: {out!r}")

    # The ONNX suite's own layout, if it is installed: two tests that only need Add.
    node_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    if os.path.isdir(os.path.join(node_dir, "test_add")):
        rc, out, err = weft("conformance", node_dir, "--filter", "^test_add$")
        check(out.strip().split("\n")[-1] == "1 passed, 0 failed, 0 unsupported", f"onnx test_add: {out!r}")

    rc, out, err = weft("conformance", os.path.join(tmp, "nowhere"))
    one_line_error(rc, err, "conformance missing dir", "nowhere")
    rc, out, err = weft("conformance", root, "--backend", "no_such_backend")
    one_line_error(rc, err, "conformance unknown backend", "no_such_backend")
    rc, out, err = weft("conformance", root, "--filter", "(")
    check(rc == 2, f"bad regex: exit {rc}, expected 2")
    rc, out, err = weft("conformance", root, "-j", "0")
    check(rc == 2, f"-j 0: exit {rc}, expected 2")


def hang_model(path):
    """A Loop that would run 10^15 times: only the runner's timeout ends it."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array([1.0], np.float32), "one")])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "c", "v0"], ["v"], body=body)], "g",
        [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array(10**15, np.int64), "M"), numpy_helper.from_array(np.array(True), "c")])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_conformance_mismatches(tmp):
    """Each way an output can differ is a FAIL that says how; a hang is a FAIL after the timeout."""
    print("conformance mismatches")
    root = os.path.join(tmp, "conf2")
    os.makedirs(root)
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    b = np.array([1, 2, 3], dtype=np.float32)
    want = x + b
    conformance_case(root, "test_dtype", add_model, [x], [want.astype(np.float64)])
    conformance_case(root, "test_shape", add_model, [x], [want.reshape(3, 2)])
    # Within tolerance: |got - want| = 1e-4 * 7 <= 1e-7 + 1e-3 * 7 passes; 2e-3 relative does not.
    conformance_case(root, "test_tol_ok", add_model, [x], [want * np.float32(1 + 1e-4)])
    conformance_case(root, "test_tol_bad", add_model, [x], [want * np.float32(1 + 2e-3)])
    conformance_case(root, "test_hang", hang_model, [np.zeros(1, np.float32)], [np.zeros(1, np.float32)])
    rc, out, err = weft("conformance", root, "--timeout", "2", "-j", "2")
    lines = {}
    for line in out.strip().split("\n")[:-1]:
        lines[line.split(" ", 1)[1].split(":")[0]] = line
    check(rc == 1, f"mismatches: exit {rc}")
    check("dtype float, expected double" in lines.get("test_dtype", ""), f"dtype mismatch: {lines.get('test_dtype')!r}")
    check("shape [2,3], expected [3,2]" in lines.get("test_shape", ""), f"shape mismatch: {lines.get('test_shape')!r}")
    check(lines.get("test_tol_ok") == "PASS test_tol_ok", f"within tolerance: {lines.get('test_tol_ok')!r}")
    check(lines.get("test_tol_bad", "").startswith("FAIL test_tol_bad: ") and "6 of 6 values differ"
          in lines.get("test_tol_bad", ""), f"outside tolerance: {lines.get('test_tol_bad')!r}")
    check(lines.get("test_hang") == "FAIL test_hang: timed out after 2s", f"hang: {lines.get('test_hang')!r}")
    check(out.strip().split("\n")[-1] == "1 passed, 4 failed, 0 unsupported", f"mismatch summary: {out!r}")


def test_usage():
    print("usage")
    rc, out, err = weft()
    check(rc == 2, f"no command: exit {rc}")
    rc, out, err = weft("frobnicate")
    check(rc == 2, f"unknown command: exit {rc}")
    for c in ("inspect", "run", "conformance"):
        rc, out, err = weft(c, "--help")
        check(rc == 0 and out.startswith("usage: weft " + c), f"{c} --help")
        rc, out, err = weft(c, "--no-such-option")
        check(rc == 2, f"{c} with an unknown option: exit {rc}")


def main():
    tmp = tempfile.mkdtemp(prefix="weft_cli_")
    try:
        test_usage()
        test_inspect(tmp)
        test_run(tmp)
        test_conformance(tmp)
        test_conformance_mismatches(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{CHECKS - len(FAILURES)} of {CHECKS} checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
