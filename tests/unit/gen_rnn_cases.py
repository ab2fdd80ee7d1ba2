#!/usr/bin/env python3
"""Generates the reference cases of tests/unit/test_ops_rnn.c.

Each case is a random RNN / GRU / LSTM configuration. Expected outputs come from ONNX Runtime when it
runs the configuration (float32, layout 0), else from the numpy reference below (float64, layout 1).
The numpy reference is itself checked against ONNX Runtime on every float32 case (layout 1 cases are
checked by running ONNX Runtime on the transposed layout-0 problem), so both sources agree.

Usage: python gen_rnn_cases.py           rewrites the GENERATED block of test_ops_rnn.c in place
Needs numpy, onnx and onnxruntime.
"""
import os
import re
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
NACT = {"RNN": 1, "GRU": 2, "LSTM": 3}
DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
# (uses alpha, uses beta, default alpha, default beta), as in the ONNX operators of the same names.
ACT_PARAMS = {
    "sigmoid": (0, 0, 0, 0), "tanh": (0, 0, 0, 0), "relu": (0, 0, 0, 0),
    "hardsigmoid": (1, 1, 0.2, 0.5), "affine": (1, 1, 1.0, 0.0), "leakyrelu": (1, 0, 0.01, 0),
    "thresholdedrelu": (1, 0, 1.0, 0), "scaledtanh": (1, 1, 1.0, 1.0), "elu": (1, 0, 1.0, 0),
    "softsign": (0, 0, 0, 0), "softplus": (0, 0, 0, 0),
}


def act(name, a, b):
    n = name.lower()
    if n == "sigmoid": return lambda x: 1 / (1 + np.exp(-x))
    if n == "tanh": return np.tanh
    if n == "relu": return lambda x: np.maximum(x, 0)
    if n == "hardsigmoid": return lambda x: np.clip(a * x + b, 0, 1)
    if n == "affine": return lambda x: a * x + b
    if n == "leakyrelu": return lambda x: np.where(x < 0, a * x, x)
    if n == "thresholdedrelu": return lambda x: np.where(x > a, x, 0)
    if n == "scaledtanh": return lambda x: a * np.tanh(b * x)
    if n == "elu": return lambda x: np.where(x < 0, a * (np.exp(x) - 1), x)
    if n == "softsign": return lambda x: x / (1 + np.abs(x))
    if n == "softplus": return lambda x: np.log1p(np.exp(x))
    raise ValueError(name)


def act_fns(cfg):
    """The activation functions per direction; alpha / beta consumed in order by functions that use them."""
    op, dirs = cfg["op"], 2 if cfg.get("direction") == "bidirectional" else 1
    names = cfg.get("activations") or DEFAULT_ACTS[op] * dirs
    alphas, betas = list(cfg.get("alpha", [])), list(cfg.get("beta", []))
    fns = []
    for n in names:
        ua, ub, da, db = ACT_PARAMS[n.lower()]
        a = alphas.pop(0) if ua and alphas else da
        b = betas.pop(0) if ub and betas else db
        fns.append(act(n, a, b))
    k = NACT[op]
    return [fns[d * k:(d + 1) * k] for d in range(dirs)]


def reference(cfg, ins):
    """numpy reference in float64, layout 0 semantics on layout-0 arrays."""
    op, H = cfg["op"], cfg["hidden"]
    G = GATES[op]
    X, W, R = ins["X"], ins["W"], ins["R"]
    S, Bt, _ = X.shape
    dirs = W.shape[0]
    Bi = ins.get("B")
    if Bi is None: Bi = np.zeros((dirs, 2 * G * H))
    sl = ins.get("sequence_lens")
    if sl is None: sl = np.full(Bt, S)
    h0 = ins.get("initial_h")
    if h0 is None: h0 = np.zeros((dirs, Bt, H))
    c0 = ins.get("initial_c")
    if c0 is None: c0 = np.zeros((dirs, Bt, H))
    P = ins.get("P")
    if P is None: P = np.zeros((dirs, 3 * H))
    clip = cfg.get("clip")
    cl = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    fns = act_fns(cfg)
    Y = np.zeros((S, dirs, Bt, H))
    Yh = np.zeros((dirs, Bt, H))
    Yc = np.zeros((dirs, Bt, H))
    for d in range(dirs):
        rev = cfg.get("direction") == "reverse" or d == 1
        f = fns[d]
        Wb, Rb = Bi[d, :G * H], Bi[d, G * H:]
        for b in range(Bt):
            L = int(sl[b])
            h, c = h0[d, b].astype(np.float64), c0[d, b].astype(np.float64)
            if L == 0:
                h, c = np.zeros(H), np.zeros(H)
            for s in range(L):
                t = L - 1 - s if rev else s
                x = X[t, b].astype(np.float64)
                gx = W[d] @ x + Wb
                if op == "RNN":
                    h = f[0](cl(gx + R[d] @ h + Rb))
                elif op == "GRU":
                    gh = R[d] @ h + Rb
                    z = f[0](cl(gx[:H] + gh[:H]))
                    r = f[0](cl(gx[H:2 * H] + gh[H:2 * H]))
                    if cfg.get("linear_before_reset"):
                        cand = gx[2 * H:] + r * (R[d][2 * H:] @ h + Rb[2 * H:])
                    else:
                        cand = gx[2 * H:] + R[d][2 * H:] @ (r * h) + Rb[2 * H:]
                    hh = f[1](cl(cand))
                    h = (1 - z) * hh + z * h
                else:
                    g = gx + R[d] @ h + Rb
                    i = f[0](cl(g[:H] + P[d, :H] * c))
                    if cfg.get("input_forget"):
                        fg = 1 - i
                    else:
                        fg = f[0](cl(g[2 * H:3 * H] + P[d, 2 * H:] * c))
                    cc = f[1](cl(g[3 * H:]))
                    c = fg * c + i * cc
                    o = f[0](cl(g[H:2 * H] + P[d, H:2 * H] * c))
                    h = o * f[2](c)
                Y[t, d, b] = h
            Yh[d, b], Yc[d, b] = h, c
    return Y, Yh, Yc


def onnx_attrs(cfg):
    a = {"hidden_size": cfg["hidden"]}
    for k, n in (("direction", "direction"), ("clip", "clip"), ("linear_before_reset", "linear_before_reset"),
                 ("input_forget", "input_forget"), ("activations", "activations"),
                 ("alpha", "activation_alpha"), ("beta", "activation_beta"), ("layout", "layout")):
        if k in cfg: a[n] = cfg[k]
    return a


NAMES = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]


def run_ort(cfg, ins, n_out):
    names = NAMES[:max(i for i, n in enumerate(NAMES) if n in ins) + 1]
    node = helper.make_node(cfg["op"], [n if n in ins else "" for n in names], ["Y", "Y_h", "Y_c"][:n_out],
                            **onnx_attrs(cfg))
    gi = [helper.make_tensor_value_info(n, TensorProto.INT32 if n == "sequence_lens" else TensorProto.FLOAT,
                                        ins[n].shape) for n in names if n in ins]
    go = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ["Y", "Y_h", "Y_c"][:n_out]]
    m = helper.make_model(helper.make_graph([node], "g", gi, go), opset_imports=[helper.make_opsetid("", 22)])
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {n: ins[n] for n in names if n in ins})


def make_inputs(cfg, rng):
    op, H, S, Bt, I = cfg["op"], cfg["hidden"], cfg["seq"], cfg["batch"], cfg["input"]
    G = GATES[op]
    dirs = 2 if cfg.get("direction") == "bidirectional" else 1
    dt = np.float64 if cfg.get("dtype") == "double" else np.float32
    r = lambda *s: (rng.standard_normal(s) * 0.7).astype(dt)
    ins = {"X": r(S, Bt, I), "W": r(dirs, G * H, I), "R": r(dirs, G * H, H)}
    for k in cfg.get("with", []):
        if k == "B": ins["B"] = r(dirs, 2 * G * H)
        if k == "sequence_lens": ins["sequence_lens"] = np.array(cfg["seq_lens"], np.int32)
        if k == "initial_h": ins["initial_h"] = r(dirs, Bt, H)
        if k == "initial_c": ins["initial_c"] = r(dirs, Bt, H)
        if k == "P": ins["P"] = r(dirs, 3 * H)
    return ins


CASES = [
    dict(name="rnn_bidir_seqlens", op="RNN", hidden=3, seq=4, batch=3, input=2, direction="bidirectional",
         with_=None, with_list=["B", "sequence_lens", "initial_h"], seq_lens=[4, 2, 1]),
    dict(name="rnn_bidir_acts", op="RNN", hidden=2, seq=3, batch=2, input=3, direction="bidirectional",
         activations=["LeakyRelu", "HardSigmoid"], alpha=[0.3, 0.25], beta=[0.4], with_list=["B"]),
    dict(name="rnn_zero_len_clip", op="RNN", hidden=2, seq=3, batch=3, input=2, direction="reverse", clip=0.5,
         with_list=["sequence_lens", "initial_h"], seq_lens=[0, 3, 2]),
    dict(name="gru_bidir_seqlens", op="GRU", hidden=3, seq=3, batch=2, input=2, direction="bidirectional",
         with_list=["B", "sequence_lens", "initial_h"], seq_lens=[2, 3]),
    dict(name="gru_lbr_clip", op="GRU", hidden=4, seq=3, batch=2, input=3, linear_before_reset=1, clip=0.8,
         with_list=["B", "initial_h"]),
    dict(name="gru_acts", op="GRU", hidden=2, seq=2, batch=2, input=2, direction="reverse",
         activations=["HardSigmoid", "Softsign"], alpha=[0.3], beta=[0.45], with_list=["B"]),
    dict(name="gru_bidir_params", op="GRU", hidden=2, seq=3, batch=2, input=2, direction="bidirectional",
         activations=["HardSigmoid", "ScaledTanh", "Sigmoid", "Affine"], alpha=[0.15, 0.8, 0.6],
         beta=[0.55, 1.3, -0.2], with_list=["B", "initial_h"]),
    dict(name="lstm_bidir_peep_seqlens", op="LSTM", hidden=3, seq=3, batch=2, input=2, direction="bidirectional",
         clip=1.5, with_list=["B", "sequence_lens", "initial_h", "initial_c", "P"], seq_lens=[3, 2]),
    dict(name="lstm_input_forget", op="LSTM", hidden=2, seq=3, batch=2, input=2, input_forget=1,
         with_list=["B", "initial_h", "initial_c"]),
    dict(name="lstm_acts", op="LSTM", hidden=2, seq=2, batch=1, input=3,
         activations=["Sigmoid", "Elu", "ScaledTanh"], alpha=[0.7, 1.1], beta=[0.9], with_list=["B"]),
    # Cases ONNX Runtime does not run: layout 1 and float64 (numpy reference).
    dict(name="lstm_layout1", op="LSTM", hidden=2, seq=3, batch=2, input=2, layout=1, direction="bidirectional",
         with_list=["B", "sequence_lens", "initial_h", "initial_c"], seq_lens=[1, 3]),
    dict(name="gru_layout1_lbr", op="GRU", hidden=3, seq=2, batch=2, input=2, layout=1, linear_before_reset=1,
         with_list=["B", "initial_h"]),
    dict(name="gru_f64_bidir", op="GRU", hidden=2, seq=3, batch=2, input=2, dtype="double",
         direction="bidirectional", with_list=["B", "sequence_lens"], seq_lens=[3, 1]),
    dict(name="lstm_f64_peep", op="LSTM", hidden=2, seq=2, batch=2, input=3, dtype="double",
         with_list=["B", "initial_h", "initial_c", "P"]),
]


def lit(a, fmt):
    return "{" + ", ".join(fmt % v for v in np.asarray(a).ravel()) + "}"


def main():
    rng = np.random.default_rng(20240611)
    out = []
    entries = []
    for cfg in CASES:
        cfg["with"] = cfg.pop("with_list")
        cfg.pop("with_", None)
        ins = make_inputs(cfg, rng)
        op = cfg["op"]
        n_out = 3 if op == "LSTM" else 2
        ref = reference(cfg, ins)
        layout = cfg.get("layout", 0)
        is_double = cfg.get("dtype") == "double"
        # Check the numpy reference against ONNX Runtime (float32, layout 0 problem).
        if not is_double:
            o = run_ort({k: v for k, v in cfg.items() if k != "layout"}, ins, n_out)
            for got, want in zip(ref, o):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        if not is_double and not layout:
            expected = o
        else:
            expected = list(ref)
        if layout:  # present inputs and outputs batch-first
            ins = dict(ins)
            ins["X"] = ins["X"].transpose(1, 0, 2)
            for k in ("initial_h", "initial_c"):
                if k in ins: ins[k] = ins[k].transpose(1, 0, 2)
            expected = [expected[0].transpose(2, 0, 1, 3)] + [e.transpose(1, 0, 2) for e in expected[1:]]
        fmt = "%.17g" if is_double else "%.9g"
        p = "c_" + cfg["name"]
        for k in NAMES:
            if k in ins:
                if k == "sequence_lens":
                    out.append(f"static const int32_t {p}_{k}[] = {lit(ins[k], '%d')};")
                else:
                    out.append(f"static const double {p}_{k}[] = {lit(ins[k], fmt)};")
        for i, e in enumerate(expected[:n_out]):
            out.append(f"static const double {p}_o{i}[] = {lit(e, fmt)};")
        acts = cfg.get("activations", [])
        fields = [
            f'.name = "{cfg["name"]}"', f'.op = "{op}"', f'.dtype = {"WEFT_FLOAT64" if is_double else "WEFT_FLOAT32"}',
            f'.direction = "{cfg.get("direction", "forward")}"', f'.hidden = {cfg["hidden"]}', f".layout = {layout}",
            f'.seq = {cfg["seq"]}', f'.batch = {cfg["batch"]}', f'.input = {cfg["input"]}',
        ]
        if "clip" in cfg: fields += [".has_clip = 1", f'.clip = {cfg["clip"]}f']
        if "linear_before_reset" in cfg: fields.append(f'.linear_before_reset = {cfg["linear_before_reset"]}')
        if "input_forget" in cfg: fields.append(f'.input_forget = {cfg["input_forget"]}')
        if acts:
            fields.append(f".n_act = {len(acts)}")
            fields.append(".acts = {" + ", ".join(f'"{a}"' for a in acts) + "}")
        if "alpha" in cfg: fields += [f'.n_alpha = {len(cfg["alpha"])}', ".alpha = " + lit(cfg["alpha"], "%gf")]
        if "beta" in cfg: fields += [f'.n_beta = {len(cfg["beta"])}', ".beta = " + lit(cfg["beta"], "%gf")]
        for k, f in (("X", "x"), ("W", "w"), ("R", "r"), ("B", "b"), ("sequence_lens", "seq_lens"),
                     ("initial_h", "h0"), ("initial_c", "c0"), ("P", "p")):
            if k in ins: fields.append(f".{f} = {p}_{k}")
        fields.append(f".n_out = {n_out}")
        fields += [f".out = {{{', '.join(f'{p}_o{i}' for i in range(n_out))}}}"]
        entries.append("    {" + ", ".join(fields) + "},")
    block = "\n".join(out) + "\nstatic const rnn_case gen_cases[] = {\n" + "\n".join(entries) + "\n};\n"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_ops_rnn.c")
    src = open(path).read()
    begin, end = "/* BEGIN GENERATED by gen_rnn_cases.py */\n", "/* END GENERATED */"
    i, j = src.index(begin) + len(begin), src.index(end)
    open(path, "w").write(src[:i] + block + src[j:])
    print(f"{len(entries)} cases written to {path}")


if __name__ == "__main__":
    sys.exit(main())
