"""Generator of the ONNX graphs PyTorch Geometric's TorchScript exporter produces for message passing.

Each pattern is spelled the way the exporter spells it, so weft sees what users feed it:
  * x[edge_index[0]]            -> Gather(edge_index, 0) then Gather(x, src, axis=0)
  * scatter(msg, dst, 'sum')    -> ScatterElements(ConstantOfShape(...), Expand(Reshape(dst,[-1,1]),
                                   Shape(msg)), msg, axis=0, reduction='add')
  * scatter 'mean'              -> the sum, a degree count by scattering ones, Clip(min=1), Div
  * scatter 'max' / 'min'       -> reduction='max' / 'min' (opset 18 only)
  * GCN normalisation           -> Pow(deg, -0.5), inf -> 0 via Equal/Where, Mul by gathered norms
  * SAGE                        -> two MatMul + Add, LeakyRelu, L2 normalise (ReduceL2 + Clip + Div, or
                                   LpNormalization)
  * ScatterND                   -> ScatterND(zeros, Unsqueeze(dst, 1), msg, reduction)
  * GAT edge softmax            -> LeakyRelu scores, (opset 18: scatter-max shift), Exp, scatter-sum,
                                   gather, Div
  * link scores                 -> ReduceSum(Gather(h, src) * Gather(h, dst))
Every model declares x as [num_nodes, F] and edge_index as [2, num_edges] (symbolic), so one model
serves every graph size.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ELEM = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}


class Builder:
    def __init__(self, opset, dtype):
        self.opset, self.dtype = opset, dtype
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name("n_" + op_type), **attrs))
        return out

    def const(self, value, dtype=None, prefix="c"):
        arr = np.asarray(value, dtype=dtype or self.dtype)
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def fill(self, value):
        """A one-element tensor of the model's float type, as ConstantOfShape's value attribute."""
        return numpy_helper.from_array(np.array([value], dtype=self.dtype))

    # --- the exporter's idioms -----------------------------------------------------------------
    def row(self, edge_index, k):
        return self.op("Gather", [edge_index, self.const(k, np.int64)], axis=0)

    def unsqueeze(self, x, axis):
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.const([axis], np.int64)])
        return self.op("Unsqueeze", [x], axes=[axis])

    def num_nodes_shape(self, x):
        """[N] as a 1-D shape tensor: Gather(Shape(x), 0) then Unsqueeze, as the exporter does."""
        n = self.op("Gather", [self.op("Shape", [x]), self.const(0, np.int64)], axis=0)
        return self.unsqueeze(n, 0)

    def zeros_like_rows(self, ref_rows, msg):
        """zeros [N, *msg.shape[1:]]: Concat([N], Shape(msg)[1:])."""
        tail = self.op("Slice", [self.op("Shape", [msg]), self.const([1], np.int64),
                                 self.const([2 ** 62], np.int64)])
        shape = self.op("Concat", [self.num_nodes_shape(ref_rows), tail], axis=0)
        return self.op("ConstantOfShape", [shape], value=self.fill(0))

    def scatter(self, msg, dst, ref_rows, reduction="add"):
        idx = self.op("Expand", [self.op("Reshape", [dst, self.const([-1, 1], np.int64)]),
                                 self.op("Shape", [msg])])
        zeros = self.zeros_like_rows(ref_rows, msg)
        return self.op("ScatterElements", [zeros, idx, msg], axis=0, reduction=reduction)

    def degree(self, dst, ref_rows):
        ones = self.op("ConstantOfShape", [self.op("Shape", [dst])], value=self.fill(1))
        zeros = self.op("ConstantOfShape", [self.num_nodes_shape(ref_rows)], value=self.fill(0))
        return self.op("ScatterElements", [zeros, dst, ones], axis=0, reduction="add")

    def mean(self, msg, dst, ref_rows):
        total = self.scatter(msg, dst, ref_rows)
        deg = self.op("Clip", [self.degree(dst, ref_rows), self.const(1)])
        return self.op("Div", [total, self.unsqueeze(deg, 1)])

    def reduce_l2_last(self, x):
        if self.opset >= 18:
            return self.op("ReduceL2", [x, self.const([-1], np.int64)], keepdims=1)
        return self.op("ReduceL2", [x], axes=[-1], keepdims=1)

    def reduce_sum_last(self, x):
        return self.op("ReduceSum", [x, self.const([-1], np.int64)], keepdims=0)


def _weights(rng, dtype, *shape):
    return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(dtype)


# Each body takes (builder, x, edge_index, F, rng) and returns the list of output names.
def _sum(b, x, ei, F, rng):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    return [b.scatter(b.op("Gather", [x, src], axis=0), dst, x, "add")]


def _mean(b, x, ei, F, rng):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    return [b.mean(b.op("Gather", [x, src], axis=0), dst, x)]


def _max(b, x, ei, F, rng):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    return [b.scatter(b.op("Gather", [x, src], axis=0), dst, x, "max")]


def _min(b, x, ei, F, rng):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    return [b.scatter(b.op("Gather", [x, src], axis=0), dst, x, "min")]


def _gcn(b, x, ei, F, rng, H=8):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    h = b.op("MatMul", [x, b.const(_weights(rng, b.dtype, F, H))])
    dinv = b.op("Pow", [b.degree(dst, x), b.const(-0.5)])
    is_inf = b.op("Equal", [dinv, b.const(np.inf)])
    dinv = b.op("Where", [is_inf, b.const(0), dinv])
    norm = b.op("Mul", [b.op("Gather", [dinv, src], axis=0), b.op("Gather", [dinv, dst], axis=0)])
    msg = b.op("Mul", [b.op("Gather", [h, src], axis=0), b.unsqueeze(norm, 1)])
    out = b.op("Add", [b.scatter(msg, dst, x), b.const(rng.standard_normal(H))])
    return [out, dinv]


def _sage(b, x, ei, F, rng, H=8, lpnorm=False):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    agg = b.mean(b.op("Gather", [x, src], axis=0), dst, x)
    lin_l = b.op("Add", [b.op("MatMul", [agg, b.const(_weights(rng, b.dtype, F, H))]),
                         b.const(rng.standard_normal(H))])
    out = b.op("Add", [lin_l, b.op("MatMul", [x, b.const(_weights(rng, b.dtype, F, H))])])
    out = b.op("LeakyRelu", [out], alpha=0.2)
    if lpnorm:
        return [b.op("LpNormalization", [out], axis=-1, p=2)]
    nrm = b.op("Clip", [b.reduce_l2_last(out), b.const(1e-12)])
    return [b.op("Div", [out, nrm])]


def _sage_lp(b, x, ei, F, rng):
    return _sage(b, x, ei, F, rng, lpnorm=True)


def _scatternd(b, x, ei, F, rng, reduction="add"):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    msg = b.op("Gather", [x, src], axis=0)
    zeros = b.op("ConstantOfShape", [b.op("Shape", [x])], value=b.fill(0))
    return [b.op("ScatterND", [zeros, b.unsqueeze(dst, 1), msg], reduction=reduction)]


def _scatternd_max(b, x, ei, F, rng):
    return _scatternd(b, x, ei, F, rng, "max")


def _gat(b, x, ei, F, rng, H=8):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    h = b.op("MatMul", [x, b.const(_weights(rng, b.dtype, F, H))])
    a_src = b.op("MatMul", [h, b.const(_weights(rng, b.dtype, H, 1))])
    a_dst = b.op("MatMul", [h, b.const(_weights(rng, b.dtype, H, 1))])
    e = b.op("Add", [b.op("Gather", [a_src, src], axis=0), b.op("Gather", [a_dst, dst], axis=0)])
    e = b.op("LeakyRelu", [e], alpha=0.2)
    if b.opset >= 18:  # PyG's softmax subtracts the per-destination max first
        emax = b.scatter(e, dst, x, "max")
        e = b.op("Sub", [e, b.op("Gather", [emax, dst], axis=0)])
    ex = b.op("Exp", [e])
    denom = b.op("Add", [b.op("Gather", [b.scatter(ex, dst, x), dst], axis=0), b.const(1e-16)])
    alpha = b.op("Div", [ex, denom])
    out = b.scatter(b.op("Mul", [b.op("Gather", [h, src], axis=0), alpha]), dst, x)
    return [out, alpha]


def _link(b, x, ei, F, rng):
    src, dst = b.row(ei, 0), b.row(ei, 1)
    prod = b.op("Mul", [b.op("Gather", [x, src], axis=0), b.op("Gather", [x, dst], axis=0)])
    return [b.reduce_sum_last(prod)]


# name -> (body, lowest opset it needs, may src hold negative indices (src only feeds Gather))
PATTERNS = {
    "sum": (_sum, 16, True),
    "mean": (_mean, 16, True),
    "max": (_max, 18, True),
    "min": (_min, 18, True),
    "gcn": (_gcn, 16, True),
    "sage": (_sage, 16, True),
    "sage_lpnorm": (_sage_lp, 16, True),
    "scatternd_sum": (_scatternd, 16, True),
    "scatternd_max": (_scatternd_max, 18, True),
    "gat": (_gat, 16, True),
    "link": (_link, 16, False),
}


def build(pattern, opset=18, dtype=np.float32, F=16, seed=0):
    body, _, _ = PATTERNS[pattern]
    rng = np.random.default_rng(seed)
    b = Builder(opset, dtype)
    outs = body(b, "x", "edge_index", F, rng)
    renamed = []
    for i, o in enumerate(outs):  # stable, file-name-safe output names
        name = f"out{i}"
        b.nodes.append(helper.make_node("Identity", [o], [name], name=f"n_out{i}"))
        renamed.append(helper.make_tensor_value_info(name, ELEM[dtype], None))
    graph = helper.make_graph(
        b.nodes, f"pyg_{pattern}",
        [helper.make_tensor_value_info("x", ELEM[dtype], ["num_nodes", F]),
         helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "num_edges"])],
        renamed, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="weft-crosscheck")
    model.ir_version = 8
    # Declare each output with the type ONNX's own shape inference gives the value it copies.
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi.type for vi in inferred.graph.value_info}
    for o, vi in zip(outs, model.graph.output):
        vi.type.CopyFrom(types[o])
    onnx.checker.check_model(model, full_check=True)
    return model


# --- graphs ------------------------------------------------------------------------------------
def make_graph(kind, seed=0, F=16, dtype=np.float32, negative_src=False):
    """Returns x [N, F] and edge_index [2, E] for one of the graph kinds the cross-check covers."""
    rng = np.random.default_rng(seed)
    if kind == "random":          # E >> N: many duplicate edges, many messages per node
        N, E, hi = 50, 2000, 50
    elif kind == "isolated":      # nodes 30..49 have no edges at all
        N, E, hi = 50, 300, 30
    elif kind == "empty":         # no edges
        N, E, hi = 12, 0, 12
    elif kind == "tiny":
        N, E, hi = 5, 9, 5
    elif kind == "small":         # the bundled models' test vectors
        N, E, hi = 20, 80, 20
    elif kind == "single":        # one node, several self loops
        N, E, hi = 1, 4, 1
    else:
        raise ValueError(kind)
    x = rng.standard_normal((N, F)).astype(dtype)
    ei = rng.integers(0, hi, size=(2, E), dtype=np.int64)
    if negative_src and E:        # x[-k] is x[N-k]: Gather accepts it, so the exporter may emit it
        flip = rng.random(E) < 0.5
        ei[0, flip] -= N
    return x, ei


GRAPH_KINDS = ["random", "isolated", "empty", "tiny", "single"]
