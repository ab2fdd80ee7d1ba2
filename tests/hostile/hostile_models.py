"""Small models for the hostile-input tests: one valid base per family (its positive control) and the
malformed variants derived from it."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N, F = 50, 4


def _model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "hostile", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="weft-hostile")
    m.ir_version = 8
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def gather_scatter(separate_rows=False):
    """out = scatter_add over dst of x[src]: x [num_nodes, F]; either edge_index [2, num_edges] or two
    1-D inputs src / dst, both [num_edges]."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)  # noqa: E731
    inits = [i64("col", [-1, 1])]
    nodes = []
    if separate_rows:
        inputs = [vi("x", TensorProto.FLOAT, ["num_nodes", F]),
                  vi("src", TensorProto.INT64, ["num_edges"]),
                  vi("dst", TensorProto.INT64, ["num_edges"])]
    else:
        inits += [i64("zero", 0), i64("one", 1)]
        inputs = [vi("x", TensorProto.FLOAT, ["num_nodes", F]),
                  vi("edge_index", TensorProto.INT64, [2, "num_edges"])]
        nodes += [helper.make_node("Gather", ["edge_index", "zero"], ["src"], axis=0),
                  helper.make_node("Gather", ["edge_index", "one"], ["dst"], axis=0)]
    nodes += [
        helper.make_node("Gather", ["x", "src"], ["msg"], axis=0),
        helper.make_node("Reshape", ["dst", "col"], ["dst_col"]),
        helper.make_node("Shape", ["msg"], ["msg_shape"]),
        helper.make_node("Expand", ["dst_col", "msg_shape"], ["idx"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("ConstantOfShape", ["x_shape"], ["zeros"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
        helper.make_node("ScatterElements", ["zeros", "idx", "msg"], ["out"], axis=0, reduction="add"),
    ]
    return _model(nodes, inputs, [vi("out", TensorProto.FLOAT, ["num_nodes", F])], inits)


def scatternd():
    """out = ScatterND(zeros, dst[:, None], x[src], reduction='add')."""
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1")]
    nodes = [
        helper.make_node("Gather", ["x", "src"], ["msg"], axis=0),
        helper.make_node("Unsqueeze", ["dst", "axes1"], ["idx"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("ConstantOfShape", ["x_shape"], ["zeros"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
        helper.make_node("ScatterND", ["zeros", "idx", "msg"], ["out"], reduction="add"),
    ]
    inputs = [vi("x", TensorProto.FLOAT, ["num_nodes", F]),
              vi("src", TensorProto.INT64, ["num_edges"]),
              vi("dst", TensorProto.INT64, ["num_edges"])]
    return _model(nodes, inputs, [vi("out", TensorProto.FLOAT, ["num_nodes", F])], inits)


def graph_inputs(seed=0, E=200):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, F)).astype(np.float32)
    ei = rng.integers(0, N, size=(2, E), dtype=np.int64)
    return x, ei


def add_const(w_tensor, shape=(4,)):
    """y = x + w, where w is the given initializer (the subject of the test)."""
    return _model([helper.make_node("Add", ["x", w_tensor.name], ["y"])],
                  [vi("x", TensorProto.FLOAT, list(shape))], [vi("y", TensorProto.FLOAT, list(shape))],
                  [w_tensor])


def raw_tensor(name, dims, raw, elem=TensorProto.FLOAT):
    t = TensorProto()
    t.name, t.data_type = name, elem
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def external_tensor(name, location, offset=None, length=None, dims=(4,)):
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            e = t.external_data.add()
            e.key, e.value = key, str(value)
    return t


def negative_dim():
    m = add_const(numpy_helper.from_array(np.ones(4, np.float32), "w"))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -3
    return m


def cyclic():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="add_a"),
             helper.make_node("Relu", ["a"], ["b"], name="relu_b"),
             helper.make_node("Identity", ["a"], ["y"], name="out")]
    return _model(nodes, [vi("x", TensorProto.FLOAT, [4])], [vi("y", TensorProto.FLOAT, [4])])


def unknown_op():
    return _model([helper.make_node("FrobnicateTensor", ["x"], ["y"], name="frob")],
                  [vi("x", TensorProto.FLOAT, [4])], [vi("y", TensorProto.FLOAT, [4])])


def constant_of_shape(dims):
    """y = ConstantOfShape(shape) with a constant shape: the output size is the subject."""
    shape = numpy_helper.from_array(np.array(dims, dtype=np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["z"],
                              value=numpy_helper.from_array(np.zeros(1, np.float32))),
             helper.make_node("Add", ["z", "x"], ["y"])]
    return _model(nodes, [vi("x", TensorProto.FLOAT, [1])], [vi("y", TensorProto.FLOAT, None)], [shape])


def declared_huge_input():
    """Input declared [2^32, 2^32, 2]: the element count overflows int64."""
    big = 2 ** 32
    return _model([helper.make_node("Relu", ["x"], ["y"])],
                  [vi("x", TensorProto.FLOAT, [big, big, 2])], [vi("y", TensorProto.FLOAT, [big, big, 2])])


def save(model, path):
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def parses(data):
    """Whether ONNX's own protobuf parser accepts the bytes as a ModelProto."""
    try:
        onnx.load_model_from_string(data)
        return True
    except Exception:
        return False


def const_op(op_type, consts, **attrs):
    """y = op(constants...) + x: the constants' values decide the output size, the subject of the test."""
    inits = [numpy_helper.from_array(np.asarray(v), f"c{i}") for i, v in enumerate(consts)]
    nodes = [helper.make_node(op_type, [t.name for t in inits], ["z"], **attrs),
             helper.make_node("Add", ["z", "x"], ["y"])]
    return _model(nodes, [vi("x", inits[0].data_type if op_type == "Range" else TensorProto.FLOAT, [1])],
                  [vi("y", TensorProto.FLOAT if op_type != "Range" else inits[0].data_type, None)], inits)


def neg_chain(n):
    """y = -(-(...-x)) with n Neg nodes, listed in reverse order (the compiler must sort them)."""
    nodes = [helper.make_node("Neg", [f"v{i}"], [f"v{i + 1}"]) for i in range(n)]
    nodes[0].input[0], nodes[-1].output[0] = "x", "y"
    nodes.reverse()
    return _model(nodes, [vi("x", TensorProto.FLOAT, [4])], [vi("y", TensorProto.FLOAT, [4])])


def many_ifs(n):
    """A chain of n If nodes, v[i+1] = If(c[i % 2], v[i] + (i % 7), v[i] - (i % 5)), over x [4]. The
    conditions are graph inputs, so the compiler cannot inline a branch: every If stays, with its two
    subgraphs, through every pass and into the plan."""
    def branch(name, op, i, k):
        const = helper.make_node("Constant", [], [f"{name}_k"],
                                 value=numpy_helper.from_array(np.full(4, k, np.float32)))
        body = helper.make_node(op, [f"v{i}", f"{name}_k"], [f"{name}_out"])
        return helper.make_graph([const, body], name, [], [vi(f"{name}_out", TensorProto.FLOAT, [4])])
    nodes = [helper.make_node("Identity", ["x"], ["v0"])]
    for i in range(n):
        nodes.append(helper.make_node("If", [f"c{i % 2}"], [f"v{i + 1}"], name=f"if{i}",
                                      then_branch=branch(f"then{i}", "Add", i, i % 7),
                                      else_branch=branch(f"else{i}", "Sub", i, i % 5)))
    nodes.append(helper.make_node("Identity", [f"v{n}"], ["y"]))
    inputs = [vi("x", TensorProto.FLOAT, [4]), vi("c0", TensorProto.BOOL, []), vi("c1", TensorProto.BOOL, [])]
    return _model(nodes, inputs, [vi("y", TensorProto.FLOAT, [4])])


def many_ifs_expected(n, x, c0, c1):
    """What many_ifs(n) computes, one step at a time in numpy."""
    v = x.copy()
    for i in range(n):
        v = v + np.float32(i % 7) if (c0 if i % 2 == 0 else c1) else v - np.float32(i % 5)
    return v


def loop_scan_outputs(k):
    """A Loop with no loop-carried value and k scan outputs (more outputs than the Loop has inputs):
    every iteration emits x + j as output j; M iterations."""
    body_nodes = [helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    outs = [vi("cond_out", TensorProto.BOOL, [])]
    for j in range(k):
        body_nodes += [helper.make_node("Constant", [], [f"k{j}"], value=numpy_helper.from_array(np.full(2, j, np.float32))),
                       helper.make_node("Add", ["x", f"k{j}"], [f"s{j}"])]
        outs.append(vi(f"s{j}", TensorProto.FLOAT, [2]))
    body = helper.make_graph(body_nodes, "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, [])], outs)
    node = helper.make_node("Loop", ["M", ""], [f"y{j}" for j in range(k)], body=body)
    return _model([node], [vi("x", TensorProto.FLOAT, [2]), vi("M", TensorProto.INT64, [])],
                  [vi(f"y{j}", TensorProto.FLOAT, [None, 2]) for j in range(k)])


def scan_axes_mismatch():
    """A running sum over the rows of xs, whose scan_input_axes lists two axes for its one scan input."""
    body = helper.make_graph([helper.make_node("Add", ["s_in", "x_in"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["y"])], "body",
                             [vi("s_in", TensorProto.FLOAT, [2]), vi("x_in", TensorProto.FLOAT, [2])],
                             [vi("s_out", TensorProto.FLOAT, [2]), vi("y", TensorProto.FLOAT, [2])])
    node = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], num_scan_inputs=1, body=body, scan_input_axes=[0, 0])
    return _model([node], [vi("s0", TensorProto.FLOAT, [2]), vi("xs", TensorProto.FLOAT, [3, 2])],
                  [vi("s", TensorProto.FLOAT, [2]), vi("ys", TensorProto.FLOAT, [3, 2])])


def _varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def _ld(field, payload):
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def nested_if_bytes(depth):
    """A ModelProto whose graph nests `depth` If nodes (then_branch only), written as raw protobuf
    (the Python library itself refuses to build messages this deep)."""
    parts = [_ld(2, b"g")]  # innermost GraphProto: name only
    size = len(parts[0])
    # Built outside-in as a list of prefixes, so the cost stays linear in the depth.
    prefixes = []
    for _ in range(depth):
        # GraphProto{node{input "c", op_type "If", attribute{name, type GRAPH, g: <inner>}}, name}
        prefixes.append(size)
        attr_len = len(_ld(1, b"then_branch")) + len(_varint((20 << 3) | 0) + _varint(5)) + \
            len(_varint((6 << 3) | 2)) + len(_varint(size)) + size
        node_len = len(_ld(1, b"c")) + len(_ld(4, b"If")) + len(_varint((5 << 3) | 2)) + \
            len(_varint(attr_len)) + attr_len
        size = len(_varint((1 << 3) | 2)) + len(_varint(node_len)) + node_len + len(_ld(2, b"g"))
    out = [_varint((1 << 3) | 0) + _varint(8) + _varint((7 << 3) | 2) + _varint(size)]
    heads = []
    for inner in reversed(prefixes):
        attr_len = len(_ld(1, b"then_branch")) + len(_varint((20 << 3) | 0) + _varint(5)) + \
            len(_varint((6 << 3) | 2)) + len(_varint(inner)) + inner
        node_len = len(_ld(1, b"c")) + len(_ld(4, b"If")) + len(_varint((5 << 3) | 2)) + \
            len(_varint(attr_len)) + attr_len
        heads.append(_varint((1 << 3) | 2) + _varint(node_len) + _ld(1, b"c") + _ld(4, b"If") +
                     _varint((5 << 3) | 2) + _varint(attr_len) + _ld(1, b"then_branch") +
                     _varint((20 << 3) | 0) + _varint(5) + _varint((6 << 3) | 2) + _varint(inner))
    out += heads + [parts[0]] + [_ld(2, b"g")] * depth
    opset = _ld(1, b"") + _varint((2 << 3) | 0) + _varint(18)
    return b"".join(out) + _ld(8, opset)


def npy_bytes(descr, shape, data, fortran=False):
    """A .npy (format 1.0) file with whatever header we like."""
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data
