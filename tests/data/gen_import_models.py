#!/usr/bin/env python3
"""Generates the small ONNX models that tests/unit/test_import.c loads (tests/data/import/).

Run with an interpreter that has `onnx` and `numpy`:  python tests/data/gen_import_models.py
The outputs are committed; the expected values the C test checks are written here in plain numbers.
"""
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "import")
OPSET = [helper.make_opsetid("", 17)]


def save(model, name, sub=None):
    folder = os.path.join(OUT, sub) if sub else OUT
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(model.SerializeToString())


def model(graph, ir=8, opsets=None, functions=None):
    m = helper.make_model(graph, opset_imports=opsets or OPSET, functions=functions or [])
    m.ir_version = ir
    m.producer_name = "weft-tests"
    m.producer_version = "1.0"
    m.model_version = 42
    m.doc_string = "import test"
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def ext_tensor(name, dtype, dims, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key = k
            e.value = str(v)
    return t


def identity_graph(name, inits, extra_nodes=(), sparse=()):
    """A graph whose outputs are Identity copies of each initializer (so nothing is unused)."""
    nodes = list(extra_nodes)
    outs = []
    for t in inits:
        nodes.append(helper.make_node("Identity", [t.name], [t.name + "_out"]))
        outs.append(helper.make_tensor_value_info(t.name + "_out", t.data_type, None))
    for s in sparse:
        nodes.append(helper.make_node("Identity", [s.values.name], [s.values.name + "_out"]))
        outs.append(helper.make_tensor_value_info(s.values.name + "_out", s.values.data_type, None))
    return helper.make_graph(nodes, name, [], outs, initializer=inits, sparse_initializer=list(sparse))


def gen_storage():
    T = helper.make_tensor
    inits = [
        # raw_data (little-endian)
        T("f32_raw", TensorProto.FLOAT, [2, 3], np.array([1, 2, 3, 4, 5, 6], np.float32).tobytes(), raw=True),
        T("i64_raw", TensorProto.INT64, [2], np.array([-5, 1 << 40], np.int64).tobytes(), raw=True),
        T("bool_raw", TensorProto.BOOL, [3], bytes([1, 0, 1]), raw=True),
        # typed fields
        T("f32_typed", TensorProto.FLOAT, [2], [0.5, -1.25]),
        T("f64_typed", TensorProto.DOUBLE, [2], [3.5, -0.125]),
        T("i64_typed", TensorProto.INT64, [3], [7, -8, 9000000000]),
        T("i32_typed", TensorProto.INT32, [2], [-2147483648, 2147483647]),
        T("i16_typed", TensorProto.INT16, [2], [-32768, 32767]),
        T("i8_typed", TensorProto.INT8, [3], [-128, 127, 5]),
        T("u8_typed", TensorProto.UINT8, [2], [0, 255]),
        T("u16_typed", TensorProto.UINT16, [2], [65535, 1]),
        T("bool_typed", TensorProto.BOOL, [2], [True, False]),
        T("f16_typed", TensorProto.FLOAT16, [2], [1.5, -2.0]),      # bits 0x3E00, 0xC000
        T("bf16_typed", TensorProto.BFLOAT16, [1], [1.0]),          # bits 0x3F80
        T("u32_typed", TensorProto.UINT32, [1], [4000000000]),
        T("u64_typed", TensorProto.UINT64, [1], [18446744073709551615]),
        T("scalar", TensorProto.FLOAT, [], [2.5]),
        T("empty", TensorProto.FLOAT, [0, 3], []),
    ]
    save(model(identity_graph("storage", inits)), "storage.onnx")


def gen_external():
    # ext/data/w.bin: 16 bytes of padding, then 4 float32, then 2 int64
    os.makedirs(os.path.join(OUT, "ext", "data"), exist_ok=True)
    f32 = np.array([1.0, -2.0, 3.5, 4.25], np.float32).tobytes()
    i64 = np.array([11, -12], np.int64).tobytes()
    with open(os.path.join(OUT, "ext", "data", "w.bin"), "wb") as f:
        f.write(b"\0" * 16 + f32 + i64)
    a = ext_tensor("w_f32", TensorProto.FLOAT, [2, 2], "data/w.bin", 16, 16)
    b = ext_tensor("w_i64", TensorProto.INT64, [2], "./data/w.bin", 32, 16)
    save(model(identity_graph("external", [a, b])), "external.onnx", "ext")

    # hostile locations, all next to external.onnx so only the path differs
    for name, loc, off, length in (
        ("ext_escape.onnx", "../storage.onnx", None, 16),
        ("ext_dotdot_inside.onnx", "data/../data/w.bin", 16, 16),
        ("ext_abs.onnx", os.path.join(OUT, "ext", "data", "w.bin"), 16, 16),
        ("ext_link.onnx", "link.bin", 16, 16),  # the test makes link.bin a symlink
        ("ext_too_long.onnx", "data/w.bin", 40, 16),
        ("ext_neg_offset.onnx", "data/w.bin", -4, 16),
        ("ext_huge_length.onnx", "data/w.bin", 0, 1 << 62),
        ("ext_missing.onnx", "data/nope.bin", 0, 16),
        ("ext_big.onnx", "big.bin", 3 << 30, 16),  # the test makes a sparse 3 GiB file
    ):
        t = ext_tensor("w", TensorProto.FLOAT, [4], loc, off, length)
        save(model(identity_graph("hostile_ext", [t])), name, "ext")


def gen_sparse():
    # dense [3,4] with 10 at (0,1), 20 at (2,3) given by linear indices
    lin = helper.make_sparse_tensor(
        helper.make_tensor("sp_lin", TensorProto.FLOAT, [2], [10.0, 20.0]),
        helper.make_tensor("sp_lin_idx", TensorProto.INT64, [2], [1, 11]),
        [3, 4])
    # dense [2,3] int64 with 5 at (1,0), -6 at (0,2) given by coordinates
    crd = helper.make_sparse_tensor(
        helper.make_tensor("sp_crd", TensorProto.INT64, [2], [5, -6]),
        helper.make_tensor("sp_crd_idx", TensorProto.INT64, [2, 2], [1, 0, 0, 2]),
        [2, 3])
    save(model(identity_graph("sparse", [], sparse=[lin, crd])), "sparse.onnx")
    bad = helper.make_sparse_tensor(
        helper.make_tensor("sp_bad", TensorProto.FLOAT, [1], [1.0]),
        helper.make_tensor("sp_bad_idx", TensorProto.INT64, [1], [12]),  # 3*4 = 12 elements: out of range
        [3, 4])
    save(model(identity_graph("sparse_bad", [], sparse=[bad])), "sparse_oob.onnx")


def gen_constants():
    nodes = [
        helper.make_node("Constant", [], ["c_tensor"],
                         value=helper.make_tensor("v", TensorProto.INT32, [2, 2], [1, 2, 3, 4])),
        helper.make_node("Constant", [], ["c_float"], value_float=0.75),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0, 3.0]),
        helper.make_node("Constant", [], ["c_int"], value_int=-3),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[4, 5]),
        helper.make_node("Constant", [], ["c_sparse"], sparse_value=helper.make_sparse_tensor(
            helper.make_tensor("sv", TensorProto.FLOAT, [1], [9.0]),
            helper.make_tensor("si", TensorProto.INT64, [1], [2]), [4])),
    ]
    outs = []
    for n in list(nodes):
        o = n.output[0]
        nodes.append(helper.make_node("Identity", [o], [o + "_out"]))
        outs.append(helper.make_tensor_value_info(o + "_out", TensorProto.UNDEFINED, None))
    save(model(helper.make_graph(nodes, "constants", [], outs)), "constants.onnx")
    # a string constant is unsupported
    s = helper.make_node("Constant", [], ["c_str"], value_string="hello")
    g = helper.make_graph([s, helper.make_node("Identity", ["c_str"], ["o"])], "cstr", [],
                          [vi("o", TensorProto.STRING, [])])
    save(model(g), "constant_string.onnx")


def gen_function():
    # local.ScaleAdd(x, b; alpha, beta=2.0): y = x * alpha + b * beta, via a nested call to local.Mul2
    one = helper.make_opsetid("", 17)
    loc = helper.make_opsetid("local", 1)
    mul2 = helper.make_function(
        "local", "MulBy", ["u"], ["w"],
        [helper.make_node("Constant", [], ["k"], value_float=0.0, name="kconst"),
         helper.make_node("Mul", ["u", "k"], ["w"])],
        [one], attributes=[])
    # make the inner Constant's value a reference to the function attribute 'factor'
    kattr = mul2.node[0].attribute[0]
    kattr.ClearField("f")
    kattr.ref_attr_name = "factor"
    mul2.attribute.append("factor")

    n1 = helper.make_node("MulBy", ["x"], ["xa"], domain="local")
    n1.attribute.append(onnx.AttributeProto(name="factor", ref_attr_name="alpha", type=onnx.AttributeProto.FLOAT))
    n2 = helper.make_node("MulBy", ["b"], ["bb"], domain="local")
    n2.attribute.append(onnx.AttributeProto(name="factor", ref_attr_name="beta", type=onnx.AttributeProto.FLOAT))
    n3 = helper.make_node("Add", ["xa", "bb"], ["y"])
    scale_add = helper.make_function(
        "local", "ScaleAdd", ["x", "b"], ["y"], [n1, n2, n3], [one, loc],
        attributes=["alpha"], attribute_protos=[helper.make_attribute("beta", 2.0)])
    call = helper.make_node("ScaleAdd", ["X", "B"], ["Y"], domain="local", name="call1", alpha=3.0)
    call2 = helper.make_node("ScaleAdd", ["Y", "B"], ["Z"], domain="local", name="call2", alpha=0.5, beta=-1.0)
    g = helper.make_graph([call, call2], "function",
                          [vi("X", TensorProto.FLOAT, [2]), vi("B", TensorProto.FLOAT, [2])],
                          [vi("Z", TensorProto.FLOAT, [2])])
    save(model(g, ir=9, opsets=[one, loc], functions=[scale_add, mul2]), "function.onnx")

    # a function that calls itself
    rec = helper.make_function("local", "Rec", ["a"], ["b"],
                               [helper.make_node("Rec", ["a"], ["b"], domain="local")], [one, loc])
    g = helper.make_graph([helper.make_node("Rec", ["X"], ["Y"], domain="local")], "rec",
                          [vi("X", TensorProto.FLOAT, [2])], [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g, ir=9, opsets=[one, loc], functions=[rec]), "function_recursive.onnx")


def gen_subgraphs():
    # If(cond) then: Add(X, W) else: Loop 3 times acc += W (reads outer X, W)
    W = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    then_g = helper.make_graph([helper.make_node("Add", ["X", "W"], ["t_out"])], "then_branch", [],
                               [vi("t_out", TensorProto.FLOAT, [2])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "W"], ["acc_out"])],
        "loop_body",
        [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("acc_in", TensorProto.FLOAT, [2])],
        [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["trip"], value=helper.make_tensor("t", TensorProto.INT64, [], [3])),
         helper.make_node("Loop", ["trip", "", "X"], ["e_out"], body=body)],
        "else_branch", [], [vi("e_out", TensorProto.FLOAT, [2])])
    g = helper.make_graph(
        [helper.make_node("If", ["C"], ["Y"], then_branch=then_g, else_branch=else_g, name="the_if")],
        "subgraphs", [vi("C", TensorProto.BOOL, []), vi("X", TensorProto.FLOAT, [2])],
        [vi("Y", TensorProto.FLOAT, [2])], initializer=[W])
    save(model(g), "subgraph.onnx")
    # a subgraph that reads a name nobody defines
    bad_then = helper.make_graph([helper.make_node("Add", ["X", "nowhere"], ["t_out"])], "then_branch", [],
                                 [vi("t_out", TensorProto.FLOAT, [2])])
    g = helper.make_graph(
        [helper.make_node("If", ["C"], ["Y"], then_branch=bad_then, else_branch=then_g)],
        "subgraph_bad", [vi("C", TensorProto.BOOL, []), vi("X", TensorProto.FLOAT, [2])],
        [vi("Y", TensorProto.FLOAT, [2])], initializer=[W])
    save(model(g), "subgraph_dangling.onnx")


def gen_graph_forms():
    # dim_param symbols; a dim with neither value nor param; value_info; nodes out of order; initializer
    # that is also an input; an optional input left empty
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])
    X.type.tensor_type.shape.dim.add()  # third dim: neither value nor param
    Y.type.tensor_type.shape.dim.add()
    B = helper.make_tensor("B", TensorProto.FLOAT, [3, 1], [1, 2, 3])
    M = helper.make_tensor("Mx", TensorProto.FLOAT, [], [2.0])
    nodes = [
        helper.make_node("Relu", ["h"], ["Z"], name=""),
        helper.make_node("Add", ["X", "B"], ["h"], name="add"),
        helper.make_node("Clip", ["Y", "", "Mx"], ["W"], name="clip"),
    ]
    g = helper.make_graph(nodes, "forms", [X, Y, vi("B", TensorProto.FLOAT, [3, 1])],
                          [vi("Z", TensorProto.FLOAT, ["N", 3, "M"]), vi("W", TensorProto.FLOAT, None)],
                          initializer=[B, M], value_info=[vi("h", TensorProto.FLOAT, ["N", 3, "M"])])
    save(model(g, ir=10, opsets=[helper.make_opsetid("ai.onnx", 13)]), "forms.onnx")


def raw_tensor(name, dtype, dims, raw):
    """A TensorProto with raw_data as given, whatever the dims claim (make_tensor would refuse)."""
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def gen_invalid():
    X = vi("X", TensorProto.FLOAT, [2])
    # two nodes write one value
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"]), helper.make_node("Neg", ["X"], ["Y"])],
                          "dup", [X], [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "dup_output.onnx")
    # a node writes a graph input
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["X"])], "dup_in", [X], [vi("X", TensorProto.FLOAT, [2])])
    save(model(g), "output_is_input.onnx")
    # an input nobody defines
    g = helper.make_graph([helper.make_node("Add", ["X", "ghost"], ["Y"], name="adder")], "dangling", [X],
                          [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "dangling.onnx")
    # IR version 2
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "old", [X], [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g, ir=2), "ir2.onnx")
    # a sequence-typed input
    seq = helper.make_tensor_sequence_value_info("S", TensorProto.FLOAT, [2])
    g = helper.make_graph([helper.make_node("SequenceLength", ["S"], ["Y"])], "seq", [seq],
                          [vi("Y", TensorProto.INT64, [])])
    save(model(g), "sequence_input.onnx")
    # a negative dim
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "neg", [vi("X", TensorProto.FLOAT, [-2])],
                          [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "negative_dim.onnx")
    # rank 9
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "rank9", [vi("X", TensorProto.FLOAT, [1] * 9)],
                          [vi("Y", TensorProto.FLOAT, None)])
    save(model(g), "rank9.onnx")
    # raw_data of the wrong length
    t = raw_tensor("W", TensorProto.FLOAT, [3], np.zeros(2, np.float32).tobytes())
    save(model(identity_graph("badraw", [t])), "bad_raw_length.onnx")
    # absurd dims: 2^62 elements claimed, 8 bytes given
    t = raw_tensor("W", TensorProto.FLOAT, [1 << 31, 1 << 31], np.zeros(2, np.float32).tobytes())
    save(model(identity_graph("huge", [t])), "huge_dims.onnx")
    t = raw_tensor("W", TensorProto.FLOAT, [1 << 40, 1 << 40], np.zeros(2, np.float32).tobytes())
    save(model(identity_graph("overflow", [t])), "overflow_dims.onnx")
    # typed field of the wrong count
    t = helper.make_tensor("W", TensorProto.INT64, [1], [1])
    t.dims[0] = 2
    save(model(identity_graph("badcount", [t])), "bad_typed_count.onnx")
    # int8 carried in int32_data out of range
    t = helper.make_tensor("W", TensorProto.INT8, [1], [1])
    t.int32_data[0] = 300
    save(model(identity_graph("badint8", [t])), "int8_out_of_range.onnx")
    # string initializer
    t = helper.make_tensor("W", TensorProto.STRING, [1], [b"x"])
    save(model(identity_graph("str", [t])), "string_initializer.onnx")
    # node in a domain the model does not import
    g = helper.make_graph([helper.make_node("Foo", ["X"], ["Y"], domain="com.other")], "noimport", [X],
                          [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "unimported_domain.onnx")
    # an attribute given twice
    n = helper.make_node("Softmax", ["X"], ["Y"], axis=0)
    n.attribute.append(helper.make_attribute("axis", 0))
    g = helper.make_graph([n], "dupattr", [X], [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "duplicate_attribute.onnx")
    # an attribute reference outside any function
    n = helper.make_node("Softmax", ["X"], ["Y"])
    n.attribute.append(onnx.AttributeProto(name="axis", ref_attr_name="ax", type=onnx.AttributeProto.INT))
    g = helper.make_graph([n], "stray_ref", [X], [vi("Y", TensorProto.FLOAT, [2])])
    save(model(g), "stray_attribute_ref.onnx")
    # no graph at all
    m = onnx.ModelProto()
    m.ir_version = 8
    m.opset_import.append(helper.make_opsetid("", 17))
    save(m, "no_graph.onnx")


def main():
    gen_storage()
    gen_external()
    gen_sparse()
    gen_constants()
    gen_function()
    gen_subgraphs()
    gen_graph_forms()
    gen_invalid()


if __name__ == "__main__":
    main()
