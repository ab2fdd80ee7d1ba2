#!/usr/bin/env python3
"""Structured fuzzer: single-node and small multi-node models for every op weft registers, with
plausible and deliberately hostile attributes and inputs, run through `weft run` (sanitizer build) and
ONNX Runtime. See fuzzlib.py for what counts as a failure.

Every case is a pure function of (seed, case index): `--replay N` regenerates case N exactly.

  fuzz_ops.py [--weft PATH] [--seed S] [--seconds T] [--cases N] [--ops REGEX] [--findings DIR]
"""
import argparse
import collections
import glob
import os
import re
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzlib  # noqa: E402
import weft_domain_cases  # noqa: E402

# Every default-domain op weft registers (ops/*.c weft_op_def tables), less the control-flow ops,
# whose subgraphs the mutation fuzzer covers.
OPS = """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh BatchNormalization BitShift
BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Cast CastLike Ceil Celu Clip Compress Concat Constant
ConstantOfShape Cos Cosh CumSum DepthToSpace Div Dropout Elu Equal Erf Exp Expand EyeLike Flatten Floor
GRU Gather GatherElements GatherND Gelu Gemm Greater GreaterOrEqual GroupNormalization HardSigmoid
HardSwish Hardmax Identity InstanceNormalization IsInf IsNaN LSTM LayerNormalization LeakyRelu Less
LessOrEqual Log LogSoftmax LpNormalization MatMul MatMulInteger Max Mean MeanVarianceNormalization Min
Mish Mod Mul Neg NonZero Not OneHot Or PRelu Pad Pow RMSNormalization RNN Range Reciprocal ReduceL1
ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
ReduceSumSquare Relu Reshape Round Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin
Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
ThresholdedRelu Tile TopK Transpose Trilu Unique Unsqueeze Where Xor""".split()


def registered_ops():
    """The list above plus every default-domain name in the weft_op_def tables of ops/*.c (new op
    families join the fuzzing without an edit here), then the ai.weft ops."""
    names = set(OPS)
    pat = re.compile(r'\{\s*"([A-Z][A-Za-z0-9]*)",\s*""|^\s*[A-Z_]+\("([A-Z][A-Za-z0-9]*)"', re.M)
    for path in glob.glob(os.path.join(fuzzlib.REPO, "ops", "*.c")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for a, b in pat.findall(f.read()):
                names.add(a or b)
    names -= {"If", "Loop", "Scan"}
    return sorted(names) + ["ai.weft." + o for o in weft_domain_cases.OPS]

DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16, "tensor(uint32)": np.uint32, "tensor(uint64)": np.uint64,
}
ALL_NP = list(DTYPES.values())
I64 = np.iinfo(np.int64)
INDEX_INPUTS = {"indices", "index"}
AXES_LIKE = {"axes"}
OPSETS = list(range(7, 23))

STRING_CHOICES = {
    "mode": ["DCR", "CRD", "constant", "reflect", "edge", "wrap", "bogus"],
    "reduction": ["none", "add", "mul", "max", "min", "bogus"],
    "direction": ["LEFT", "RIGHT", "forward", "reverse", "bidirectional", "sideways"],
    "approximate": ["none", "tanh", "bogus"],
    "auto_pad": ["NOTSET"],
    "activations": None,
}


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.hostile = rng.random() < 0.35

    def chance(self, p):
        return self.rng.random() < p

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    # --- shapes and values ------------------------------------------------------------------------
    def shape(self, rank=None):
        r = int(self.rng.integers(0, 5)) if rank is None else rank
        dims = [int(self.rng.integers(1, 5)) for _ in range(r)]
        if dims and self.chance(0.08):
            dims[int(self.rng.integers(r))] = 0
        return dims

    def values(self, dtype, shape, kind=None, dim=None, rank=None):
        n = int(np.prod(shape)) if shape else 1
        dt = np.dtype(dtype)
        if kind == "index" and dt.kind in "iu":
            hi = max(dim or 1, 1)
            v = self.rng.integers(-hi, hi, size=n)
            if self.hostile and n and self.chance(0.5):
                v[int(self.rng.integers(n))] = self.choice([hi, -hi - 1, I64.max, I64.min, 1 << 40])
            return self._cast(v, dt).reshape(shape)
        if kind == "axes" and dt.kind in "iu":
            r = max(rank or 1, 1)
            v = self.rng.integers(-r, r, size=n)
            if self.hostile and n and self.chance(0.5):
                v[int(self.rng.integers(n))] = self.choice([r, -r - 1, I64.max, I64.min])
            return self._cast(v, dt).reshape(shape)
        if dt == np.bool_:
            return (self.rng.random(n) < 0.5).reshape(shape)
        if dt.kind == "f":
            v = self.rng.standard_normal(n) * self.choice([1.0, 3.0, 0.1])
            if self.hostile and n and self.chance(0.5):
                for _ in range(int(self.rng.integers(1, 3))):
                    v[int(self.rng.integers(n))] = self.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30])
            return v.astype(dt).reshape(shape)
        info = np.iinfo(dt)
        lo, hi = max(int(info.min), -10), min(int(info.max), 10)
        v = self.rng.integers(lo, hi + 1, size=n)
        v = v.astype(dt)
        if self.hostile and n and self.chance(0.5):
            v[int(self.rng.integers(n))] = self.choice([info.min, info.max, 0])
        return v.reshape(shape)

    @staticmethod
    def _cast(v, dt):
        info = np.iinfo(dt)
        return np.clip(v, info.min, info.max).astype(dt)

    def int_list_values(self, n, lo, hi):
        return [int(x) for x in self.rng.integers(lo, hi + 1, size=n)]


def schema_for(op, opset):
    try:
        return defs.get_schema(op, opset, "")
    except Exception:  # noqa: BLE001
        return None


def allowed_dtypes(schema, formal):
    tc = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}
    strs = tc.get(formal.type_str, [formal.type_str])
    return [DTYPES[s] for s in strs if s in DTYPES]


def attr_value(g, op, name, atype, rank, data_shape):
    """A plausible value for attribute `name`; hostile generators sometimes get a bad one."""
    A = onnx.AttributeProto
    r = max(rank, 1)
    hostile = g.hostile and g.chance(0.4)
    if name == "axis":
        return g.choice([r, -r - 1, 1 << 40, -(1 << 62)]) if hostile else int(g.rng.integers(-r, r))
    if name == "axes" and atype == A.INTS:
        k = int(g.rng.integers(0, r + 1))
        v = g.int_list_values(k, -r, r - 1)
        if hostile:
            v = v + g.choice([[r], [-r - 1], v[:1] or [0]])
        return v
    if name == "perm":
        p = [int(x) for x in g.rng.permutation(rank)]
        if hostile:
            p = g.choice([p + [0], p[:-1], [rank] + p[1:], [0] * rank, [-1] + p[1:]])
        return p
    if name in ("keepdims", "noop_with_empty_axes", "select_last_index", "exclusive", "reverse", "upper",
                "largest", "sorted", "transA", "transB", "training_mode", "layout", "linear_before_reset",
                "input_forget", "stash_type"):
        return g.choice([2, -1]) if hostile else int(g.rng.integers(0, 2))
    if name == "blocksize":
        return g.choice([0, -2, 1 << 40]) if hostile else int(g.rng.integers(1, 3))
    if name in ("k",):
        return int(g.rng.integers(-1, 5))
    if name == "batch_dims":
        return int(g.rng.integers(-1, r + 1)) if hostile else int(g.rng.integers(0, max(r - 1, 1)))
    if name == "num_groups":
        return g.choice([0, -1, 3]) if hostile else int(g.rng.integers(1, 3))
    if name == "to":
        return g.choice([1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13] + ([0, 8, 99] if hostile else []))
    if name == "dtype":
        return g.choice([1, 6, 7, 11, 9] + ([0, 8, 99] if hostile else []))
    if name == "hidden_size":
        return g.choice([0, -1]) if hostile else int(g.rng.integers(1, 4))
    if name in ("p",):
        return g.choice([0, 3, -1]) if hostile else g.choice([1, 2])
    if name in ("split",) and atype == A.INTS:
        d = data_shape[0] if data_shape else 1
        return g.choice([[d], [1, d - 1], [-1, d + 1], [d + 1]])
    if name in ("pads",) and atype == A.INTS:
        return g.int_list_values(2 * rank, -1 if hostile else 0, 2)
    if name in ("starts", "ends"):
        return g.int_list_values(r, -5, 5)
    if name == "value":
        if atype == A.TENSOR:
            dt = g.choice([np.float32, np.int64, np.int32, np.float64])
            shape = [1] if not hostile else g.choice([[2], [], [0]])
            return numpy_helper.from_array(g.values(dt, shape))
        if atype == A.FLOAT:
            return float(g.rng.standard_normal())
        if atype == A.INT:
            return int(g.rng.integers(-5, 5))
        if atype == A.INTS:
            return g.int_list_values(int(g.rng.integers(0, 4)), -5, 5)
        if atype == A.FLOATS:
            return [float(x) for x in g.rng.standard_normal(int(g.rng.integers(0, 4)))]
    if name in STRING_CHOICES and atype == A.STRING and STRING_CHOICES[name]:
        return g.choice(STRING_CHOICES[name])
    if name in ("activations",):
        return None
    if atype == A.FLOAT:
        return float(g.choice([np.nan, np.inf, -1.0, 0.0])) if hostile else float(g.rng.uniform(-2, 2))
    if atype == A.INT:
        return int(g.choice([-(1 << 62), -1, 0, 1 << 62])) if hostile else int(g.rng.integers(0, 3))
    if atype == A.INTS:
        return g.int_list_values(int(g.rng.integers(0, r + 1)), -r - (1 if hostile else 0), r)
    if atype == A.FLOATS:
        return [float(x) for x in g.rng.uniform(-1, 1, int(g.rng.integers(0, 4)))]
    if atype == A.STRING:
        return g.choice(["", "bogus"])
    return None  # graphs, tensors lists, sparse: not generated


def wrong_type(g, v):
    """The same attribute, carrying a value of another type."""
    if isinstance(v, int):
        return g.choice([float(v) + 0.5, [v, v], str(v)])
    if isinstance(v, float):
        return g.choice([int(v) if np.isfinite(v) else 7, [v], "x"])
    if isinstance(v, list):
        return g.choice([v[0] if v else 0, "x", 1.5])
    if isinstance(v, str):
        return g.choice([1, [1, 2], 1.0])
    return 3


def value_dependent_input(g, op, name, data_shape, rank):
    """Values for inputs whose values shape the output (shape, repeats, k, starts...), or None."""
    r = max(rank, 1)
    H = g.hostile
    if op in ("Reshape", "Expand", "ConstantOfShape") and name in ("shape", "input"):
        n = int(np.prod(data_shape)) if data_shape else 1
        if op == "Reshape":
            opts = [[n], [-1], [1, n], [n, 1, -1][:2], list(data_shape) or [1], [0] * len(data_shape) or [1]]
            if H:
                opts += [[-1, -1], [n + 1], [-2], [1 << 31, 1 << 31, 1 << 31], [0, -1]]
        elif op == "Expand":
            opts = [list(data_shape), [1] * r, [2] + list(data_shape), [1] * len(data_shape)]
            if H:
                opts += [[1 << 40, 1 << 40], [-1], [3] * r, [I64.max]]
        else:
            opts = [[2, 3], [0], [], [4]]
            if H:
                opts += [[-1], [1 << 62, 4], [1 << 31, 1 << 31, 1 << 31]]
        return np.array(g.choice(opts), dtype=np.int64)
    if op == "Tile" and name == "repeats":
        v = g.int_list_values(len(data_shape), 0, 3)
        if H:
            v = g.choice([v + [1], [-1] * len(data_shape), [1 << 40] * len(data_shape), v])
        return np.array(v, dtype=np.int64)
    if op == "TopK" and name == "K":
        d = data_shape[-1] if data_shape else 1
        return np.array([g.choice([0, 1, d] + ([-1, d + 1, 1 << 40] if H else []))], dtype=np.int64)
    if op == "Slice" and name in ("starts", "ends", "steps", "axes"):
        return None  # handled by slice_inputs
    if op == "Range":
        return None
    if op == "Split" and name == "split":
        d = data_shape[0] if data_shape else 1
        return np.array(g.choice([[d], [1, d - 1], [d, 0]] + ([[-1, d + 1], [d + 1]] if H else [])), dtype=np.int64)
    if op == "Pad" and name == "pads":
        v = g.int_list_values(2 * len(data_shape), -1 if H else 0, 2)
        if H and g.chance(0.3):
            v = v + [1]
        return np.array(v, dtype=np.int64)
    if op == "OneHot" and name == "depth":
        return np.array(g.choice([3, 1] + ([0, -2, 1 << 40] if H else [])), dtype=np.int64)
    if name in AXES_LIKE:
        k = int(g.rng.integers(0, r + 1))
        v = g.int_list_values(k, -r, r - 1)
        if H:
            v = v + g.choice([[r], [-r - 1], v[:1] or [0], []])
        return np.array(v, dtype=np.int64)
    return None


def make_case(op, rng, ort=None):
    """(model, feeds, note) for one generated case, or None when the op has no schema here."""
    g = Gen(rng)
    opset = g.choice(OPSETS)
    schema = schema_for(op, opset)
    if schema is None or schema.since_version < 1:
        return None
    if g.hostile and g.chance(0.1):
        opset = g.choice([opset, max(7, schema.since_version - 1)])
    data_shape = g.shape()
    rank = len(data_shape)
    inits, feeds, in_names, vinfos = [], {}, [], []
    nodes = []
    formals = list(schema.inputs)
    if not formals and schema.max_input:
        formals = []
    # Variadic inputs: 1-3 copies.
    expanded = []
    for f in formals:
        if f.option == defs.OpSchema.FormalParameterOption.Variadic:
            expanded += [f] * int(g.rng.integers(1, 4))
        else:
            expanded.append(f)
    chosen_dtype = {}
    for idx, f in enumerate(expanded):
        optional = f.option == defs.OpSchema.FormalParameterOption.Optional
        if optional and g.chance(0.35):
            in_names.append("")
            continue
        types = allowed_dtypes(schema, f)
        if not types:
            in_names.append("")
            continue
        tp = f.type_str
        if tp in chosen_dtype and not (g.hostile and g.chance(0.15)):
            dt = chosen_dtype[tp]
        else:
            dt = g.choice(types) if not (g.hostile and g.chance(0.1)) else g.choice(ALL_NP)
            chosen_dtype.setdefault(tp, dt)
        name = f"in{idx}"
        fname = f.name
        vd = value_dependent_input(g, op, fname, data_shape, rank)
        if vd is not None:
            arr = vd.astype(dt) if np.dtype(dt).kind in "iu" and dt != np.int64 and op != "Reshape" else vd
        elif op == "Slice" and fname in ("starts", "ends", "steps", "axes"):
            k = max(rank, 1)
            if fname == "steps":
                arr = np.array(g.int_list_values(k, -2, 2), dtype=np.int64)
                if not g.hostile:
                    arr[arr == 0] = 1
            elif fname == "axes":
                arr = np.array(g.rng.permutation(k)[:k], dtype=np.int64)
                if g.hostile and g.chance(0.5):
                    arr[0] = g.choice([k, -k - 1, arr[-1]])
            else:
                v = g.int_list_values(k, -6, 6)
                if g.hostile and g.chance(0.5):
                    v[0] = int(g.choice([I64.max, I64.min, -(1 << 62)]))
                arr = np.array(v, dtype=np.int64)
            if np.dtype(dt) == np.int32:
                arr = np.clip(arr, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        elif op == "Range":
            arr = np.array(g.choice([0, 1, 5, -3, 2.5] + ([1e18, np.nan, np.inf] if g.hostile else []))).astype(dt) \
                if np.dtype(dt).kind == "f" else np.array(g.choice([0, 1, 5, -3] + ([I64.max, I64.min] if g.hostile else []))).astype(dt, casting="unsafe")
            if fname == "delta" and not g.hostile and arr == 0:
                arr = np.ones((), dt)
        elif fname in INDEX_INPUTS or (op == "OneHot" and fname == "indices"):
            ax_dim = data_shape[0] if data_shape else 1
            ishape = g.shape(rank=g.choice([rank, 1, max(rank - 1, 0)])) if op not in ("GatherElements", "ScatterElements", "Scatter") else \
                [min(d, int(g.rng.integers(0, d + 1)) or d) if d else 0 for d in data_shape]
            if op == "GatherND" or op == "ScatterND":
                last = int(g.rng.integers(1, max(rank, 1) + 1))
                ishape = g.shape(rank=int(g.rng.integers(0, 2))) + [last]
            arr = g.values(dt, ishape, kind="index", dim=ax_dim)
        else:
            if idx == 0 or g.chance(0.6):
                shp = list(data_shape)
                # broadcasting variants of the data shape
                if idx > 0 and shp and g.chance(0.4):
                    shp = [1 if g.chance(0.4) else d for d in shp][int(g.rng.integers(0, len(shp) + 1)):]
                if g.hostile and idx > 0 and g.chance(0.2):
                    shp = [d + 1 for d in shp] or [2]
            else:
                shp = g.shape()
            arr = g.values(dt, shp)
        arr = np.asarray(arr)
        if arr.dtype != np.dtype(dt) and not (op == "Reshape" and fname == "shape"):
            arr = arr.astype(dt, casting="unsafe") if arr.dtype.kind != "f" or np.dtype(dt).kind == "f" else \
                np.nan_to_num(arr).astype(dt)
        in_names.append(name)
        if g.chance(0.35):
            inits.append(numpy_helper.from_array(arr, name))
        else:
            feeds[name] = arr
            declared = g.choice(["exact", "symbolic", "none"])
            if g.hostile and g.chance(0.05):
                # The feed contradicts the declaration: binding must refuse it cleanly.
                wrong_dt = g.choice([TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.DOUBLE])
                vinfos.append(helper.make_tensor_value_info(
                    name, wrong_dt, [d + 1 for d in arr.shape] if g.chance(0.5) else list(arr.shape) + [1]))
            elif declared == "exact":
                vinfos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), list(arr.shape)))
            elif declared == "symbolic":
                vinfos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype),
                                                            [f"d{idx}_{j}" for j in range(arr.ndim)]))
            else:
                vinfos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), None))
    while in_names and in_names[-1] == "":
        in_names.pop()
    attrs = {}
    for aname, a in schema.attributes.items():
        if not a.required and g.chance(0.5):
            continue
        if a.required and g.hostile and g.chance(0.15):
            continue  # missing required attribute
        v = attr_value(g, op, aname, a.type, rank, data_shape)
        if v is None:
            if a.required:
                return None
            continue
        if g.hostile and g.chance(0.08):
            v = wrong_type(g, v)
        attrs[aname] = v
    if g.hostile and g.chance(0.05) and op != "Constant":
        attrs["not_an_attribute"] = 1  # (ORT reads any attribute of a Constant as its value)
    n_out = max(1, min(len(schema.outputs), int(g.rng.integers(1, len(schema.outputs) + 1)) if schema.outputs else 1))
    if schema.outputs and schema.outputs[-1].option == defs.OpSchema.FormalParameterOption.Variadic:
        n_out = int(g.rng.integers(1, 4))
    outs = [f"out{i}" for i in range(n_out)]
    try:
        node = helper.make_node(op, in_names, outs, **attrs)
    except Exception:  # noqa: BLE001
        return None
    nodes.append(node)
    graph_outs = list(outs)
    # Multi-node: feed the first output through a second op (exercises inference on op results and,
    # with constant inputs, constant folding).
    if g.chance(0.3):
        follow = g.choice(["Identity", "Shape", "Size", "ReduceSum", "Transpose", "Flatten", "Add", "Not"])
        if follow == "Add":
            nodes.append(helper.make_node("Add", [outs[0], outs[0]], ["post"]))
        elif follow == "ReduceSum":
            nodes.append(helper.make_node("ReduceSum", [outs[0]], ["post"], keepdims=0))
        else:
            nodes.append(helper.make_node(follow, [outs[0]], ["post"]))
        graph_outs = ["post"] + outs[1:]
    out_vis = [onnx.ValueInfoProto(name=o) for o in graph_outs]
    graph = helper.make_graph(nodes, "fuzz", vinfos, out_vis, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="weft-fuzz")
    model.ir_version = 8
    # Give the outputs their types where ONNX can infer them (ORT needs types on graph outputs).
    types = ort.output_types(model.SerializeToString()) if ort else {}
    for o in model.graph.output:
        o.type.tensor_type.elem_type = types.get(o.name) or TensorProto.FLOAT
    note = f"{op} opset {opset}{' hostile' if g.hostile else ''}"
    return model, feeds, note


# Comparisons that are not meaningful: implementation-defined results (float->int casts of values out of
# range, integer division by zero, scatters with duplicate indices whose winner is unspecified).
def compare_is_meaningful(model, feeds):
    arrays = list(feeds.values()) + [numpy_helper.to_array(t) for t in model.graph.initializer]
    int_in = any(a.dtype.kind in "iu" for a in arrays)
    for a in arrays:
        # Integer overflow at the type's extremes (|INT_MIN|, wrapping sums) is where engines differ.
        if a.dtype.kind in "iu" and a.size and (a.min() == np.iinfo(a.dtype).min or a.max() == np.iinfo(a.dtype).max):
            return False
    for n in model.graph.node:
        if n.op_type == "ReduceMean" and any(a.size == 0 for a in arrays):
            return False  # the mean of an empty set is undefined (weft: NaN, ORT: 0)
        if n.op_type == "ReduceProd" and int_in:
            return False  # integer products overflow; engines wrap at different widths
        if n.op_type == "Pow" and int_in:
            return False  # an integer base to a fractional power: NaN back to an integer type
        if n.op_type in ("ReduceLogSum", "ReduceLogSumExp", "ReduceL2", "ReduceMean") and int_in:
            return False  # NaN / inf / fractions back to an integer type: implementation-defined
        if n.op_type in ("Dropout",):
            return False
        if n.op_type == "TopK" and any(a.name == "sorted" and a.i == 0 for a in n.attribute):
            return False  # unsorted TopK: any order of the k elements is right
        if n.op_type == "MeanVarianceNormalization" and (any(a.dtype == np.float16 for a in feeds.values()) or
                                                         any(i.data_type == 10 for i in model.graph.initializer)):
            return False  # ORT's float16 MVN takes E[x^2]-E[x]^2 in half precision: NaN from a negative
        if n.op_type in ("Cast", "CastLike"):
            return False  # float->int of NaN/inf/out-of-range is implementation-defined
        if n.op_type in ("ScatterElements", "ScatterND", "Scatter"):
            return False  # duplicate indices: unspecified winner
        if n.op_type in ("Div", "Mod") and any(a.dtype.kind in "iu" for a in feeds.values()):
            return False
        if n.op_type in ("Div", "Mod") and any(i.data_type in (2, 3, 4, 5, 6, 7, 12, 13) for i in model.graph.initializer):
            return False
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", default=fuzzlib.default_weft())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cases", type=int, default=0, help="stop after N cases (0: time bound only)")
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--ops", default="", help="regex over op names")
    ap.add_argument("--replay", type=int, default=None, help="run only case N")
    ap.add_argument("--findings", default=os.path.join(fuzzlib.REPO, "build-fuzz", "findings"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    all_ops = registered_ops()
    ops = [o for o in all_ops if re.search(args.ops, o)] if args.ops else all_ops
    ort = fuzzlib.OrtWorker()
    scratch = fuzzlib.scratch_dir()
    counts = collections.Counter()
    refusals = collections.Counter()
    failures = []
    t0 = time.time()
    i = args.start if args.replay is None else args.replay
    try:
        while True:
            if args.replay is not None and i != args.replay:
                break
            if args.cases and i - args.start >= args.cases:
                break
            if args.replay is None and time.time() - t0 > args.seconds:
                break
            rng = np.random.default_rng([args.seed, i])
            op = ops[int(rng.integers(len(ops)))]
            reference = None
            try:
                if op.startswith("ai.weft."):
                    model, feeds, note, reference = weft_domain_cases.make_case(op[len("ai.weft."):], rng)
                    case = model, feeds, note
                else:
                    case = make_case(op, rng, ort)
            except (ValueError, OverflowError, TypeError) as e:  # a generator corner, not a finding
                print(f"[{i}] generator: {type(e).__name__}: {e}", file=sys.stderr)
                case = None
            idx = i
            i += 1
            if case is None:
                counts["skipped"] += 1
                continue
            model, feeds, note = case
            v = fuzzlib.judge(args.weft, model, feeds, os.path.join(scratch, "c"), ort,
                              skip_compare=not compare_is_meaningful(model, feeds), reference=reference)
            if v.kind == "FAIL-wrong" and op == "MeanVarianceNormalization" and "NaN positions" in v.detail:
                # ORT takes the variance as E[x^2] - E[x]^2, which rounds below zero for a group of
                # one (or equal) values: sqrt gives NaN where the variance is 0.
                v = fuzzlib.Verdict("ort-deviates", v.detail)
            counts[v.kind] += 1
            if v.kind == "ort-refuses" and reference is not None:
                refusals[(op, "weft accepts, the reference refuses: " + v.detail)] += 1
            if v.kind in ("nonfinite-divergence", "ort-deviates") and not args.quiet:
                print(f"note [{idx}] {note}: {v.kind}: {v.detail}", flush=True)
            if v.kind == "weft-refuses":
                why = re.sub(r"^weft: [^']*'[^']*': ", "", v.detail)
                refusals[(op, re.sub(r"\d+", "N", why)[:160])] += 1
            if v.failed or args.replay is not None:
                tag = f"ops-s{args.seed}-c{idx}-{op}"
                d = fuzzlib.save_finding(args.findings, tag, model, feeds, v) if v.failed else ""
                failures.append((idx, note, v))
                print(f"[{idx}] {note}: {v.kind}: {v.detail} {d}", flush=True)
    finally:
        ort.close()
        fuzzlib.rmtree(scratch)
    if not args.quiet:
        print(f"cases {sum(counts.values())} in {time.time() - t0:.0f} s: " +
              ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
        for (op, why), n in sorted(refusals.items()):
            print(f"  refusal x{n}: {op}: {why}")
    return 1 if any(v.failed for _, _, v in failures) else 0


if __name__ == "__main__":
    sys.exit(main())
