#!/usr/bin/env python3
"""Writes tests/fuzz/regressions/<case>/ (model.onnx + input_<i>.npy): small models distilled from fuzzer
findings. test_fuzz_smoke.py runs each through weft and ONNX Runtime and fails on a crash, a sanitizer
report, a hang, an untidy error or an answer that differs from ORT's.

  python tests/fuzz/gen_regressions.py     # rewrites its cases (deterministic); regressions/fuzz_*/ stay
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "regressions")
F = TensorProto.FLOAT


def model(nodes, inputs, outputs, opset, inits=()):
    g = helper.make_graph(nodes, "regression", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="weft-fuzz")
    m.ir_version = 8
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def scan_absent_state():
    """Scan with an absent ("") state input: the runtime read the slot at index -1."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x"], ["s_out"]), helper.make_node("Mul", ["p_in", "x"], ["p_out"]),
         helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [vi("s_in", F, [2]), vi("p_in", F, [2]), vi("x", F, [2])],
        [vi("s_out", F, [2]), vi("p_out", F, [2]), vi("y", F, [2])])
    m = model([helper.make_node("Scan", ["init", "", "xs"], ["s", "p", "ys"], num_scan_inputs=1, body=body)],
              [vi("init", F, [2]), vi("xs", F, [3, 2])], [vi("s", F, None), vi("p", F, None), vi("ys", F, None)], 11)
    return m, [np.zeros(2, np.float32), np.arange(6, dtype=np.float32).reshape(3, 2)]


def loop_absent_carried():
    """Loop with an absent loop-carried value."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("c_in", TensorProto.BOOL, []), vi("v_in", F, [2])],
        [vi("c_out", TensorProto.BOOL, []), vi("v_out", F, [2])])
    m = model([helper.make_node("Loop", ["trip", "", ""], ["v"], body=body)],
              [vi("trip", TensorProto.INT64, [])], [vi("v", F, None)], 13)
    return m, [np.array(3, np.int64)]


def if_absent_condition():
    """If whose condition is absent."""
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [], [vi("t", F, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", F, [2])])
    m = model([helper.make_node("If", [""], ["y"], then_branch=then, else_branch=other)],
              [vi("x", F, [2])], [vi("y", F, None)], 13)
    return m, [np.array([1, -2], np.float32)]


def reduce_l2_noop():
    """ReduceL2 with no axes and noop_with_empty_axes: |x| (weft returned x)."""
    m = model([helper.make_node("ReduceL2", ["x"], ["y"], keepdims=0, noop_with_empty_axes=1)],
              [vi("x", F, [2, 3])], [vi("y", F, None)], 18)
    return m, [np.array([[-1, 2, -3], [4, -5.5, 0]], np.float32)]


def reduce_sumsquare_noop_int():
    """ReduceSumSquare over int64 with noop_with_empty_axes: x*x."""
    m = model([helper.make_node("ReduceSumSquare", ["x", "axes"], ["y"], noop_with_empty_axes=1)],
              [vi("x", TensorProto.INT64, [3]), vi("axes", TensorProto.INT64, [0])],
              [vi("y", TensorProto.INT64, None)], 18)
    return m, [np.array([-3, 0, 7], np.int64), np.zeros(0, np.int64)]


def gridsample_far_grid():
    """GridSample with grid coordinates far outside (1e30, -1e30) or NaN: the tap index overflowed int64."""
    m = model([helper.make_node("GridSample", ["X", "Grid"], ["Y"], mode="cubic", align_corners=0)],
              [vi("X", F, [1, 1, 3, 3]), vi("Grid", F, [1, 1, 4, 2])], [vi("Y", F, None)], 20)
    grid = np.array([[[[1e30, 0], [-1e30, 0.5], [0.25, np.nan], [0.1, -0.2]]]], np.float32)
    return m, [np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3), grid]


def _node_test(name, attr, value):
    """An ONNX node test's model and inputs with one attribute changed."""
    from onnx import numpy_helper
    d = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node", name)
    m = onnx.load(os.path.join(d, "model.onnx"))
    for a in m.graph.node[0].attribute:
        if attr and a.name == attr:
            a.i = value
    inputs = []
    for k in range(len(m.graph.input)):
        t = onnx.TensorProto()
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        inputs.append(numpy_helper.to_array(t))
    return m, inputs


def scan_zero_scan_inputs_untyped():
    """A Scan with num_scan_inputs 0 whose inputs are untyped at compile time: the count checks were
    skipped with the rest of inference and the runtime read past its lists."""
    m, inputs = _node_test("test_linear_attention_gated_delta_expanded", None, None)
    for n in m.graph.node:
        if n.op_type == "Scan":
            for a in n.attribute:
                if a.name == "num_scan_inputs":
                    a.i = 0
    for i in m.graph.input:
        if i.name == "key":  # rank unknown: inference leaves the Scan's inputs untyped
            i.type.tensor_type.ClearField("shape")
    return m, inputs


def attention_is_causal_2():
    """Attention with is_causal=2: weft read it as true, ONNX Runtime as false; now refused."""
    return _node_test("test_attention_4d_attn_mask_4d_causal", "is_causal", 2)


def rotary_interleaved_2():
    """RotaryEmbedding with interleaved=2: weft read it as true, ONNX Runtime as false; now refused."""
    return _node_test("test_rotary_embedding_interleaved", "interleaved", 2)


def scan_states_beyond_outputs():
    """Scan whose num_scan_inputs leaves more state variables than outputs: the runtime read past the
    body's output list."""
    body = helper.make_graph(
        [helper.make_node("Add", ["a", "x"], ["a2"]), helper.make_node("Identity", ["a2"], ["y"])],
        "body", [vi("a", F, [2]), vi("b", F, [2]), vi("c", F, [2]), vi("x", F, [2])],
        [vi("a2", F, [2]), vi("y", F, [2])])
    m = model([helper.make_node("Scan", ["s0", "s1", "s2", "xs"], ["o0", "o1"], num_scan_inputs=1, body=body)],
              [vi("s0", F, [2]), vi("s1", F, [2]), vi("s2", F, [2]), vi("xs", F, [3, 2])],
              [vi("o0", F, None), vi("o1", F, None)], 11)
    z = np.zeros(2, np.float32)
    return m, [z, z, z, np.ones((3, 2), np.float32)]


def resize_antialias_to_nothing():
    """Antialiased Resize to a zero-size axis (sizes 0): 1 / scale overflowed the int64 tap count."""
    m = model([helper.make_node("Resize", ["X", "", "", "sizes"], ["Y"], mode="linear", antialias=1)],
              [vi("X", F, [1, 1, 4, 4]), vi("sizes", TensorProto.INT64, [4])], [vi("Y", F, None)], 19)
    return m, [np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), np.array([1, 1, 0, 3], np.int64)]


def resize_antialias_tiny_scale():
    """Antialiased Resize with a scale of 1e-30 (the axis becomes empty)."""
    m = model([helper.make_node("Resize", ["X", "", "scales"], ["Y"], mode="cubic", antialias=1)],
              [vi("X", F, [1, 1, 4, 4]), vi("scales", F, [4])], [vi("Y", F, None)], 19)
    return m, [np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), np.array([1, 1, 1e-30, 0.5], np.float32)]


def scan_num_scan_inputs_huge():
    """Scan with num_scan_inputs = 2^31: the int cast wrapped to INT_MIN and the state count overflowed."""
    m, inputs = scan_absent_state()
    node = m.graph.node[0]
    node.input[1] = "p0"
    m.graph.input.insert(1, vi("p0", F, [2]))
    for a in node.attribute:
        if a.name == "num_scan_inputs":
            a.i = 1 << 31
    return m, [inputs[0], np.ones(2, np.float32), inputs[1]]


def softmax_axis_float():
    """Softmax whose axis is a FLOAT attribute: read as absent (the default axis) instead of refused."""
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=0.0)], [vi("x", F, [2, 3])], [vi("y", F, None)], 13)
    return m, [np.arange(6, dtype=np.float32).reshape(2, 3)]


def argmin_axis_float():
    """ArgMin whose axis is a FLOAT attribute."""
    m = model([helper.make_node("ArgMin", ["x"], ["y"], axis=1.0)], [vi("x", F, [2, 3])],
              [vi("y", TensorProto.INT64, None)], 13)
    return m, [np.array([[3, 1, 2], [0, 5, -1]], np.float32)]


CASES = [scan_zero_scan_inputs_untyped, softmax_axis_float, argmin_axis_float, scan_num_scan_inputs_huge, resize_antialias_to_nothing, resize_antialias_tiny_scale, scan_states_beyond_outputs, attention_is_causal_2, rotary_interleaved_2, gridsample_far_grid, scan_absent_state, loop_absent_carried, if_absent_condition, reduce_l2_noop, reduce_sumsquare_noop_int]


# Verdicts (fuzzlib.judge kinds) a case must end in, where "not a failure" is not enough: a model weft
# used to accept silently must now be refused.
EXPECT = {"scan_zero_scan_inputs_untyped": "both-refuse", "softmax_axis_float": "both-refuse", "argmin_axis_float": "both-refuse",
          "attention_is_causal_2": "weft-refuses", "rotary_interleaved_2": "weft-refuses",
          "reduce_l2_noop": "ok", "reduce_sumsquare_noop_int": "ok"}


def main():
    # regressions/fuzz_<harness>/ hold the libFuzzer harnesses' findings (tests/fuzz/README.md): keep them
    if os.path.isdir(OUT):
        for name in os.listdir(OUT):
            if not name.startswith("fuzz_"):
                shutil.rmtree(os.path.join(OUT, name), ignore_errors=True)
    for fn in CASES:
        d = os.path.join(OUT, fn.__name__)
        os.makedirs(d)
        m, inputs = fn()
        onnx.save(m, os.path.join(d, "model.onnx"))
        for i, a in enumerate(inputs):
            np.save(os.path.join(d, f"input_{i}.npy"), a)
        with open(os.path.join(d, "README.txt"), "w") as f:
            f.write(fn.__doc__.strip() + "\n")
        if fn.__name__ in EXPECT:
            with open(os.path.join(d, "expect.txt"), "w") as f:
                f.write(EXPECT[fn.__name__] + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
