"""Export PyTorch / PyTorch Geometric models to weft's `ai.weft` operators (schemas/ai.weft.md).

PyG's message passing exports to ONNX as chains of Gather, ScatterElements / ScatterND, degree counts
and divisions. This module lets a model say what it means instead: one `ai.weft::SegmentReduce` per
aggregation, `RowGather` for the per-edge lookups, `EdgeSoftmax` for attention, `TimeEncoding` and
`GRUCell` for temporal models. weft runs both forms with the same kernels (its compiler lowers the
standard chains to these ops); only weft can run the ai.weft form (ONNX Runtime does not know the
domain).

Use:

    import weft_export as wx

    y = wx.segment_reduce(src, index, num_segments, "mean")      # drop-in functions
    with wx.patch_pyg():                                          # or: PyG layers use them
        wx.export(model, args, "model.onnx", input_names=..., output_names=..., dynamic_axes=...)

Functions (eager: plain differentiable torch ops with exactly the schema's semantics; while
`torch.onnx.export` traces: one ai.weft node each):

    segment_reduce(src, index, num_segments, reduce="sum", init=None)
    row_gather(data, index)
    edge_softmax(scores, index, num_segments)
    time_encoding(t, w, b)
    gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None)

`patch_pyg()` is a context manager under which PyG's aggregations (sum, mean, max, min, mul: every
`Aggregation.reduce` over the node dimension), the per-edge gathers of `MessagePassing`, the attention
softmax of the GAT family, `torch_geometric.nn.models.tgn.TimeEncoder` and `torch.nn.GRUCell` use the
functions above. SAGEConv, GATConv, GraphConv, HeteroConv of those, ... therefore export to ai.weft
without changes to the model. Anything the patch does not cover (a `ptr`-based CSR aggregation, a
feature dimension other than the node one, SparseTensor adjacency) falls back to PyG's own code and
exports as standard ONNX.

Exporters: only the TorchScript exporter (`torch.onnx.export(..., dynamo=False)`, which `export()`
uses) is supported. The ai.weft nodes are emitted by `torch.autograd.Function.symbolic`, a hook that
only the TorchScript exporter calls. The dynamo exporter (torch.export + onnxscript) traces through
an autograd.Function into its aten ops: under `patch_pyg()` it succeeds but writes the eager
reference as standard ONNX (Gather, ScatterND, Max, Div: checked with torch 2.15), not ai.weft nodes,
and the eager index checks are skipped while it traces; supporting it would need each op registered as a `torch.library.custom_op` plus an
onnxscript translation passed as `custom_translation_table`, which this helper does not do.
"""
import contextlib
import math

import torch
import torch.nn.functional as F

DOMAIN = "ai.weft"
OPSET = 1
REDUCTIONS = ("sum", "mean", "max", "min", "mul")


# ---------------------------------------------------------------------------------------------
# Eager references: what each op computes (schemas/ai.weft.md), with differentiable torch ops.

def _count(n):
    return int(n)


def _check_index(index, n, what="index"):
    if index.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{what} must be int32 or int64, got {index.dtype}")
    if index.dim() != 1:
        raise ValueError(f"{what} must be 1-D, got shape {tuple(index.shape)}")
    # Value checks read the data: not possible while torch.export traces with symbolic values.
    tracing = torch.compiler.is_compiling() or getattr(torch.compiler, "is_exporting", lambda: False)()
    if index.numel() and not tracing:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{what} value {bad} is out of range [0, {n})")


def _ref_segment_reduce(src, index, n, reduce, init):
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if init is not None:
        if reduce == "mean":
            raise ValueError("reduce 'mean' cannot take init")
        n = init.shape[0]
    n = _count(n)
    if src.dim() < 1 or src.shape[0] != index.shape[0]:
        raise ValueError(f"src has shape {tuple(src.shape)}, index {tuple(index.shape)}")
    _check_index(index, n)
    index = index.long()
    shape = (n,) + tuple(src.shape[1:])
    idx = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    if init is not None:
        op = {"sum": "sum", "max": "amax", "min": "amin", "mul": "prod"}[reduce]
        return init.scatter_reduce(0, idx, src, op, include_self=True)
    # Without init an empty segment is 0 for every reduction (PyG's scatter): start from zeros and
    # leave the zeros out of the reduction.
    zeros = src.new_zeros(shape)
    if reduce == "sum":
        return zeros.index_add(0, index, src)
    if reduce == "mean":
        total = zeros.index_add(0, index, src)
        count = torch.zeros(n, dtype=src.dtype, device=src.device).index_add(
            0, index, torch.ones_like(index, dtype=src.dtype))
        return total / count.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))
    op = {"max": "amax", "min": "amin", "mul": "prod"}[reduce]
    return zeros.scatter_reduce(0, idx, src, op, include_self=False)


def _ref_row_gather(data, index):
    if data.dim() < 1:
        raise ValueError("data must have rank >= 1")
    _check_index(index, data.shape[0])
    return data.index_select(0, index.long())


def _ref_edge_softmax(scores, index, n):
    n = _count(n)
    if scores.dim() not in (1, 2) or scores.shape[0] != index.shape[0]:
        raise ValueError(f"scores must be [E] or [E, H] with E = {index.shape[0]}, got {tuple(scores.shape)}")
    _check_index(index, n)
    index = index.long()
    idx = index.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)
    full = (n,) + tuple(scores.shape[1:])
    m = scores.new_full(full, -math.inf).scatter_reduce(0, idx, scores.detach(), "amax", include_self=True)
    e = torch.exp(scores - m.index_select(0, index))
    s = scores.new_zeros(full).index_add(0, index, e)
    return e / s.index_select(0, index)


def _ref_time_encoding(t, w, b):
    if w.dim() != 1 or b.dim() != 1 or w.shape != b.shape:
        raise ValueError(f"w and b must be 1-D of one length, got {tuple(w.shape)} and {tuple(b.shape)}")
    return torch.cos(t.unsqueeze(-1) * w + b)


def _ref_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    if w_ih.shape != (3 * H, x.shape[1]) or w_hh.shape != (3 * H, H) or x.shape[0] != h.shape[0]:
        raise ValueError("GRUCell: x [B, I], h [B, H], w_ih [3H, I], w_hh [3H, H] required")
    gi = x @ w_ih.t()
    gh = h @ w_hh.t()
    if b_ih is not None:
        gi = gi + b_ih
    if b_hh is not None:
        gh = gh + b_hh
    i_r, i_z, i_n = gi.split(H, dim=1)   # PyTorch's gate order: r, z, n
    h_r, h_z, h_n = gh.split(H, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


# ---------------------------------------------------------------------------------------------
# autograd.Functions: while tracing for ONNX, `symbolic` emits the ai.weft node; `forward` runs the
# reference so the traced values (and everything after them) are right.

def _like(g, value, first_dim=None):
    """The type of an ai.weft output: value's dtype and rank with the first dim unknown, so the
    exporter's shape inference does not warn and later nodes keep their ranks."""
    t = value.type()
    try:
        sizes = t.varyingSizes()
        if sizes is not None and first_dim is not None:
            return t.with_sizes([first_dim] + list(sizes[1:]))
        if sizes is not None:
            return t.with_sizes([None] + list(sizes[1:]))
    except RuntimeError:
        pass
    return t


def _as_segments(g, n):
    """num_segments as an int64 [1] value, whatever the tracer handed over (int or 0-d tensor)."""
    if isinstance(n, int):
        return g.op("Constant", value_t=torch.tensor([n], dtype=torch.int64))
    n = g.op("Cast", n, to_i=7)  # INT64
    return g.op("Reshape", n, g.op("Constant", value_t=torch.tensor([1], dtype=torch.int64)))


class SegmentReduceFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, index, num_segments, reduce, init):
        return _ref_segment_reduce(src, index, num_segments, reduce, init)

    @staticmethod
    def symbolic(g, src, index, num_segments, reduce, init):
        if init is None:
            out = g.op(f"{DOMAIN}::SegmentReduce", src, index, _as_segments(g, num_segments), reduce_s=reduce)
        else:
            empty = g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())
            out = g.op(f"{DOMAIN}::SegmentReduce", src, index, empty, init, reduce_s=reduce)
        out.setType(_like(g, src))
        return out


class RowGatherFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, data, index):
        return _ref_row_gather(data, index)

    @staticmethod
    def symbolic(g, data, index):
        out = g.op(f"{DOMAIN}::RowGather", data, index)
        out.setType(_like(g, data))
        return out


class EdgeSoftmaxFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, index, num_segments):
        return _ref_edge_softmax(scores, index, num_segments)

    @staticmethod
    def symbolic(g, scores, index, num_segments):
        out = g.op(f"{DOMAIN}::EdgeSoftmax", scores, index, _as_segments(g, num_segments))
        out.setType(scores.type())
        return out


class TimeEncodingFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, w, b):
        return _ref_time_encoding(t, w, b)

    @staticmethod
    def symbolic(g, t, w, b):
        return g.op(f"{DOMAIN}::TimeEncoding", t, w, b)


class GRUCellFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        return _ref_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)

    @staticmethod
    def symbolic(g, x, h, w_ih, w_hh, b_ih, b_hh):
        args = [x, h, w_ih, w_hh]
        if b_ih is not None or b_hh is not None:
            none = g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())
            args += [b_ih if b_ih is not None else none]
            if b_hh is not None:
                args += [b_hh]
        out = g.op(f"{DOMAIN}::GRUCell", *args)
        out.setType(h.type())
        return out


def _exporting():
    return torch.onnx.is_in_onnx_export()


# ---------------------------------------------------------------------------------------------
# The drop-in functions.

def segment_reduce(src, index, num_segments, reduce="sum", init=None):
    """out[n] = reduce(src[e] for index[e] == n), n in [0, num_segments); empty segments are 0.
    With `init` ([N, F...]): out[n] = reduce(init[n], rows...) (not for 'mean').
    num_segments: an int or a 0-d / [1] integer tensor (e.g. `x.size(0)` while tracing, which keeps
    the node count dynamic in the export)."""
    if _exporting():
        return SegmentReduceFn.apply(src, index, num_segments, reduce, init)
    return _ref_segment_reduce(src, index, num_segments, reduce, init)


def row_gather(data, index):
    """out[e] = data[index[e]]; negative indices are errors (unlike Gather)."""
    if _exporting():
        return RowGatherFn.apply(data, index)
    return _ref_row_gather(data, index)


def edge_softmax(scores, index, num_segments):
    """Softmax of scores ([E] or [E, H]) over the edges sharing a destination index[e]."""
    if _exporting():
        return EdgeSoftmaxFn.apply(scores, index, num_segments)
    return _ref_edge_softmax(scores, index, num_segments)


def time_encoding(t, w, b):
    """cos(t[..., None] * w + b): the TGN / TGAT time encoder; output shape t.shape + [D]."""
    if _exporting():
        return TimeEncodingFn.apply(t, w, b)
    return _ref_time_encoding(t, w, b)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of torch.nn.GRUCell (gates r, z, n)."""
    if _exporting():
        return GRUCellFn.apply(x, h, w_ih, w_hh, b_ih, b_hh)
    return _ref_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)


# ---------------------------------------------------------------------------------------------
# PyG (and torch.nn.GRUCell) integration.

@contextlib.contextmanager
def patch_pyg():
    """Within the block, PyG message passing and the temporal modules use the ai.weft functions.
    Eager results are unchanged (the references compute what PyG computes); exports get ai.weft
    nodes. Restores everything on exit, also on error."""
    import sys

    from torch_geometric.nn.aggr import Aggregation
    from torch_geometric.nn.conv import MessagePassing
    from torch_geometric.nn.models import tgn
    import torch_geometric.utils as pyg_utils

    saved = []

    def put(obj, name, value):
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    orig_reduce = Aggregation.reduce

    def reduce(self, x, index=None, ptr=None, dim_size=None, dim=-2, reduce="sum"):
        # Only the plain form: an index over the node dimension 0 and a known segment count.
        r = {"add": "sum", "prod": "mul"}.get(reduce, reduce)
        if (index is None or ptr is not None or dim_size is None or r not in REDUCTIONS
                or x.dim() < 1 or dim % x.dim() != 0 or index.dim() != 1):
            return orig_reduce(self, x, index, ptr, dim_size, dim, reduce)
        return segment_reduce(x, index, dim_size, r)

    orig_select = MessagePassing._index_select

    def index_select(self, src, index):
        if src.dim() >= 1 and self.node_dim % src.dim() == 0 and index.dim() == 1:
            return row_gather(src, index)
        return orig_select(self, src, index)

    orig_softmax = pyg_utils.softmax

    def softmax(src, index=None, ptr=None, num_nodes=None, dim=0):
        if index is None or ptr is not None or src.dim() not in (1, 2) or dim % src.dim() != 0:
            return orig_softmax(src, index, ptr, num_nodes, dim)
        if num_nodes is None:
            num_nodes = int(index.max()) + 1 if index.numel() else 0
        return edge_softmax(src, index, num_nodes)

    def tgn_time_forward(self, t):
        return time_encoding(t.reshape(-1), self.lin.weight.reshape(-1), self.lin.bias)

    orig_cell = torch.nn.GRUCell.forward

    def cell_forward(self, input, hx=None):
        if input.dim() != 2:
            return orig_cell(self, input, hx)
        if hx is None:
            hx = input.new_zeros(input.shape[0], self.hidden_size)
        return gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    try:
        put(Aggregation, "reduce", reduce)
        put(MessagePassing, "_index_select", index_select)
        # Conv modules import softmax by name: replace it wherever PyG's own softmax was imported.
        for name, mod in list(sys.modules.items()):
            if name.startswith("torch_geometric.") and getattr(mod, "softmax", None) is orig_softmax:
                put(mod, "softmax", softmax)
        if hasattr(tgn, "TimeEncoder"):
            put(tgn.TimeEncoder, "forward", tgn_time_forward)
        put(torch.nn.GRUCell, "forward", cell_forward)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


def export(model, args, path, opset_version=17, custom_opsets=None, **kwargs):
    """torch.onnx.export with the TorchScript exporter and the ai.weft opset declared. Use inside
    `patch_pyg()` (or with a model that calls the functions above). Other keyword arguments
    (input_names, output_names, dynamic_axes, ...) pass through."""
    opsets = {DOMAIN: OPSET}
    opsets.update(custom_opsets or {})
    kwargs.setdefault("do_constant_folding", True)
    torch.onnx.export(model, args, path, dynamo=False, opset_version=opset_version,
                      custom_opsets=opsets, **kwargs)


def count_weft_nodes(onnx_model):
    """{op_type: count} of the ai.weft nodes of an onnx.ModelProto (top-level graph)."""
    counts = {}
    for n in onnx_model.graph.node:
        if n.domain == DOMAIN:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts
