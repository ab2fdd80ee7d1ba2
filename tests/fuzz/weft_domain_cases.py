"""Cases for the ai.weft ops (schemas/ai.weft.md), which ONNX Runtime does not know: each case comes with
a numpy reference written from the schema. The reference raises IndexError for an index outside its
range (weft must then refuse: the schema promises an error, never a wrong result) and ValueError for
other inputs the schema rules out.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPS = ["SegmentReduce", "RowGather", "EdgeSoftmax", "TimeEncoding", "GRUCell"]
FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]


def _model(op, inputs, feeds, inits, attrs, out_type):
    names = [n for n, _ in inputs]
    node = helper.make_node(op, names, ["out"], domain="ai.weft", **attrs)
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
           for n, a in inputs if n in feeds]
    g = helper.make_graph([node], "fuzz", vis, [helper.make_tensor_value_info("out", out_type, None)],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inputs if n in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.weft", 1)])
    m.ir_version = 8
    return m


def _split(g, inputs):
    feeds, inits = {}, set()
    for n, a in inputs:
        if n and g.random() < 0.3:
            inits.add(n)
        elif n:
            feeds[n] = a
    return feeds, inits


def _vals(g, dt, shape):
    if np.dtype(dt).kind == "f":
        return (g.standard_normal(shape) * 2).astype(dt)
    return g.integers(-20, 20, size=shape).astype(dt)


def _index(g, dt, e, n, hostile):
    idx = g.integers(0, max(n, 1), size=e) if n > 0 else np.zeros(e, np.int64)
    if hostile and e and g.random() < 0.6:
        idx[int(g.integers(e))] = int(g.choice([n, -1, -n - 1, 2**31 - 1, -(2**31)]))
    return idx.astype(dt)


def _num_segments(n, g):
    return np.array(n, np.int64) if g.random() < 0.5 else np.array([n], np.int64)


def segment_reduce(g, hostile):
    dt = FLOATS[int(g.integers(2))] if g.random() < 0.6 else INTS[int(g.integers(2))]
    e, n = int(g.integers(0, 8)), int(g.integers(0 if hostile else 1, 6))
    fshape = [int(x) for x in g.integers(0 if hostile else 1, 4, size=int(g.integers(0, 3)))]
    src = _vals(g, dt, [e] + fshape)
    use_init = g.random() < 0.35
    idx = _index(g, INTS[int(g.integers(2))], e, n, hostile)
    if use_init and not hostile and e:
        idx = np.where(g.random(e) < 0.3, idx - n, idx).astype(idx.dtype)  # negative: from the end
    reduce = str(g.choice(["sum", "mean", "max", "min", "mul"] + (["bogus"] if hostile else [])))
    ns = _num_segments(n if not (hostile and g.random() < 0.2) else int(g.choice([-1, 2**40])), g)
    inputs = [("src", src), ("index", idx)]
    init = None
    if use_init:
        init = _vals(g, dt, [n] + fshape)
        inputs += [("num_segments", ns) if g.random() < 0.5 else ("", None), ("init", init)]
    else:
        inputs.append(("num_segments", ns))

    def ref(feeds):
        if reduce not in ("sum", "mean", "max", "min", "mul"):
            raise ValueError("reduce")
        if use_init and reduce == "mean":
            raise ValueError("mean with init")
        nseg = n if use_init else int(np.asarray(ns).reshape(-1)[0])
        if nseg < 0 or nseg > 1 << 20:
            raise ValueError("num_segments")
        lo = -nseg if use_init else 0
        if e and (idx.min() < lo or idx.max() >= nseg):
            raise IndexError("index")
        ii = np.where(idx < 0, idx + nseg, idx).astype(np.int64)
        wide = np.float64 if np.dtype(dt).kind == "f" else np.int64
        out = init.astype(wide).copy() if use_init else np.zeros([nseg] + fshape, wide)
        cnt = np.zeros(nseg, np.int64)
        for k in range(e):
            row, s = ii[k], src[k].astype(wide)
            if not use_init and cnt[row] == 0:
                out[row] = s
            elif reduce in ("sum", "mean"):
                out[row] = out[row] + s
            elif reduce == "max":
                out[row] = np.maximum(out[row], s)
            elif reduce == "min":
                out[row] = np.minimum(out[row], s)
            else:
                out[row] = out[row] * s
            cnt[row] += 1
        if reduce == "mean":
            for r in range(nseg):
                if cnt[r]:
                    out[r] = out[r] / cnt[r] if wide == np.float64 else np.trunc(out[r] / cnt[r]).astype(np.int64)
        return {"out": out.astype(dt)}
    return inputs, {"reduce": reduce}, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), ref


def row_gather(g, hostile):
    dt = [np.float32, np.float64, np.int64, np.int32, np.uint8][int(g.integers(5))]
    n, e = int(g.integers(0 if hostile else 1, 6)), int(g.integers(0, 8))
    data = _vals(g, dt, [n] + [int(x) for x in g.integers(1, 4, size=int(g.integers(0, 3)))])
    idx = _index(g, INTS[int(g.integers(2))], e, n, hostile)
    if hostile and g.random() < 0.2:
        data = np.asarray(data.reshape(-1)[0]) if data.size else np.zeros((), dt)  # a scalar: no rows

    def ref(feeds):
        if data.ndim < 1:
            raise ValueError("rank")
        if e and (idx.min() < 0 or idx.max() >= data.shape[0]):
            raise IndexError("index")
        return {"out": data[idx.astype(np.int64)]}
    return [("data", data), ("index", idx)], {}, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), ref


def edge_softmax(g, hostile):
    dt = FLOATS[int(g.integers(2))]
    e, n = int(g.integers(0, 9)), int(g.integers(1, 5))
    shape = [e] if g.random() < 0.5 else [e, int(g.integers(1, 4))]
    s = _vals(g, dt, shape) * (50 if g.random() < 0.2 else 1)
    idx = _index(g, INTS[int(g.integers(2))], e, n, hostile)
    ns = _num_segments(n, g)

    def ref(feeds):
        if e and (idx.min() < 0 or idx.max() >= n):
            raise IndexError("index")
        s2 = s.astype(np.float64).reshape(e, shape[1] if len(shape) == 2 else 1)
        out = np.zeros_like(s2)
        for seg in range(n):
            sel = idx == seg
            if sel.any():
                x = s2[sel]
                ex = np.exp(x - x.max(axis=0))
                out[sel] = ex / ex.sum(axis=0)
        return {"out": out.reshape(shape).astype(dt)}
    return [("scores", s), ("index", idx), ("num_segments", ns)], {}, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), ref


def time_encoding(g, hostile):
    dt = FLOATS[int(g.integers(2))]
    t = _vals(g, dt, [int(x) for x in g.integers(0, 4, size=int(g.integers(0, 3)))])
    d = int(g.integers(0 if hostile else 1, 5))
    w, b = _vals(g, dt, [d]), _vals(g, dt, [d + (1 if hostile and g.random() < 0.3 else 0)])

    def ref(feeds):
        if w.shape != b.shape:
            raise ValueError("w/b")
        return {"out": np.cos(t.astype(np.float64)[..., None] * w + b).astype(dt)}
    return [("t", t), ("w", w), ("b", b)], {}, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), ref


def gru_cell(g, hostile):
    dt = FLOATS[int(g.integers(2))]
    B, I, H = int(g.integers(0 if hostile else 1, 3)), int(g.integers(1, 4)), int(g.integers(1, 4))
    x, h = _vals(g, dt, [B, I]) * 0.3, _vals(g, dt, [B, H]) * 0.3
    wih, whh = _vals(g, dt, [3 * H, I]) * 0.3, _vals(g, dt, [3 * H, H + (1 if hostile and g.random() < 0.3 else 0)]) * 0.3
    bih = _vals(g, dt, [3 * H]) * 0.3 if g.random() < 0.7 else None
    bhh = _vals(g, dt, [3 * H]) * 0.3 if g.random() < 0.7 else None
    inputs = [("x", x), ("h", h), ("w_ih", wih), ("w_hh", whh)]
    if bih is not None or bhh is not None:
        inputs.append(("b_ih", bih) if bih is not None else ("", None))
    if bhh is not None:
        inputs.append(("b_hh", bhh))

    def ref(feeds):
        if whh.shape != (3 * H, H):
            raise ValueError("w_hh")
        f = np.float64
        gi = x.astype(f) @ wih.astype(f).T + (bih if bih is not None else 0)
        gh = h.astype(f) @ whh.astype(f).T + (bhh if bhh is not None else 0)
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        r = sig(gi[:, :H] + gh[:, :H])
        z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        nn = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return {"out": ((1 - z) * nn + z * h).astype(dt)}
    return inputs, {}, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), ref


MAKERS = {"SegmentReduce": segment_reduce, "RowGather": row_gather, "EdgeSoftmax": edge_softmax,
          "TimeEncoding": time_encoding, "GRUCell": gru_cell}


def make_case(op, rng):
    hostile = rng.random() < 0.35
    inputs, attrs, out_type, ref = MAKERS[op](rng, hostile)
    # Trailing absent inputs are dropped; interior ones stay as "".
    while inputs and inputs[-1][0] == "":
        inputs.pop()
    present = [(n, a) for n, a in inputs if n]
    feeds, inits = _split(rng, present)
    model = _model(op, [(n, a) for n, a in inputs], feeds, inits, attrs, out_type)
    return model, feeds, f"ai.weft.{op}{' hostile' if hostile else ''}", ref
