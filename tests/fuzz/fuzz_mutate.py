#!/usr/bin/env python3
"""Mutation fuzzer over the ONNX node tests weft passes (tests/conformance/expected_pass.txt): each case
takes one test's model and inputs and applies 1-3 mutations (attributes, input values, shapes and dtypes,
inputs turned into initializers, optional inputs dropped, the opset changed), then runs weft (sanitizer
build) and ONNX Runtime on the result. See fuzzlib.py for what counts as a failure.

Every case is a pure function of (seed, case index): `--replay N` regenerates case N exactly.

  fuzz_mutate.py [--weft PATH] [--seed S] [--seconds T] [--cases N] [--tests REGEX] [--findings DIR]
"""
import argparse
import collections
import copy
import glob
import os
import re
import sys
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzlib  # noqa: E402

NODE_DIR = os.environ.get(
    "ONNX_NODE_TESTS",
    os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node"))
EXPECTED = os.path.join(fuzzlib.REPO, "tests", "conformance", "expected_pass.txt")
NP_OK = (np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16,
         np.uint32, np.uint64, np.bool_)
I64 = np.iinfo(np.int64)
# Ops whose results are implementation-defined or random for some inputs: run for crashes only.
NO_COMPARE = {"Dropout", "Cast", "CastLike", "ScatterElements", "ScatterND", "Scatter", "RandomNormal",
              "RandomUniform", "Bernoulli", "Multinomial", "RandomNormalLike", "RandomUniformLike"}


def load_seeds(regex=""):
    names = [ln.strip() for ln in open(EXPECTED) if ln.strip() and not ln.startswith("#")]
    seeds = []
    for n in names:
        if regex and not re.search(regex, n):
            continue
        d = os.path.join(NODE_DIR, n)
        ds = os.path.join(d, "test_data_set_0")
        if not os.path.isdir(ds):
            continue
        m = onnx.load(os.path.join(d, "model.onnx"))
        init_names = {i.name for i in m.graph.initializer}
        gin = [i for i in m.graph.input if i.name not in init_names]
        if any(not i.type.HasField("tensor_type") for i in gin):
            continue
        feeds = {}
        ok = True
        for k, i in enumerate(gin):
            p = os.path.join(ds, f"input_{k}.pb")
            if not os.path.exists(p):
                ok = False
                break
            t = onnx.TensorProto()
            with open(p, "rb") as f:
                t.ParseFromString(f.read())
            a = numpy_helper.to_array(t)
            if a.dtype.type not in NP_OK:
                ok = False
                break
            feeds[i.name] = a
        if ok:
            seeds.append((n, m.SerializeToString(), feeds))
    return seeds


class Mutator:
    def __init__(self, rng):
        self.rng = rng

    def chance(self, p):
        return self.rng.random() < p

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    # --- attributes -----------------------------------------------------------------------------
    def mutate_attr(self, node):
        A = onnx.AttributeProto
        attrs = [a for a in node.attribute if a.type in (A.INT, A.INTS, A.FLOAT, A.FLOATS, A.STRING, A.TENSOR)]
        if not attrs or self.chance(0.1):
            return self.add_attr(node)
        a = self.choice(attrs)
        if self.chance(0.1):
            node.attribute.remove(a)
            return f"drop attr {a.name}"
        if a.type == A.INT:
            a.i = int(self.choice([min(a.i + 1, I64.max), max(a.i - 1, I64.min), -max(a.i, -I64.max), 0, -1, 2, 1 << 31, -(1 << 62), I64.max, I64.min]))
        elif a.type == A.INTS:
            v = list(a.ints)
            op = self.choice(["neg", "dup", "drop", "add", "big", "zero", "shuffle"])
            if op == "neg" and v:
                j = int(self.rng.integers(len(v)))
                v[j] = -v[j] - 1
            elif op == "dup" and v:
                v.append(v[int(self.rng.integers(len(v)))])
            elif op == "drop" and v:
                v.pop(int(self.rng.integers(len(v))))
            elif op == "add":
                v.append(int(self.rng.integers(-4, 5)))
            elif op == "big" and v:
                v[int(self.rng.integers(len(v)))] = int(self.choice([I64.max, I64.min, 1 << 40, -(1 << 40)]))
            elif op == "zero" and v:
                v[int(self.rng.integers(len(v)))] = 0
            else:
                self.rng.shuffle(v)
            del a.ints[:]
            a.ints.extend(v)
        elif a.type == A.FLOAT:
            a.f = float(self.choice([np.nan, np.inf, -np.inf, 0.0, -a.f, a.f * 1e6, 1e-30]))
        elif a.type == A.FLOATS:
            v = list(a.floats)
            if v:
                v[int(self.rng.integers(len(v)))] = float(self.choice([np.nan, np.inf, 0.0]))
            else:
                v = [1.0]
            del a.floats[:]
            a.floats.extend(v)
        elif a.type == A.STRING:
            a.s = self.choice([b"", b"bogus", b"LEFT", b"constant", b"reflect", b"edge", b"wrap", b"DCR", b"CRD",
                               b"add", b"max", b"tanh", b"none", b"reverse", b"bidirectional"])
        elif a.type == A.TENSOR:
            arr = numpy_helper.to_array(a.t)
            if arr.size and arr.dtype.type in NP_OK:
                arr = self.mutate_values(arr.copy())
                a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
            else:
                a.t.CopyFrom(numpy_helper.from_array(np.zeros(self.choice([(0,), (2, 0), ()]), np.float32)))
        return f"attr {a.name}"

    def add_attr(self, node):
        name = self.choice(["axis", "axes", "keepdims", "perm", "batch_dims", "blocksize", "mode", "reduction"])
        existing = {a.name for a in node.attribute}
        if name in existing:
            return "no-op"
        value = self.choice([0, 1, -1, 5, [0, 0], [1, -1], "bogus", 1.5])
        node.attribute.append(helper.make_attribute(name, value))
        return f"add attr {name}"

    # --- tensors --------------------------------------------------------------------------------
    def mutate_values(self, a):
        if a.size == 0:
            return a
        flat = a.reshape(-1)
        j = int(self.rng.integers(flat.size))
        if a.dtype.kind == "f":
            flat[j] = self.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, 1e30 if a.dtype != np.float16 else 6e4])
        elif a.dtype == np.bool_:
            flat[j] = not flat[j]
        else:
            info = np.iinfo(a.dtype)
            big = [int(info.min), int(info.max), 0, -1 if info.min < 0 else 1]
            # index-like inputs: values just outside a plausible range
            dims_guess = max(int(np.abs(flat).max()) + 1 if flat.size else 1, 1)
            big += [dims_guess, -dims_guess - 1 if info.min < 0 else dims_guess + 1]
            flat[j] = np.array(self.choice(big)).astype(a.dtype, casting="unsafe")
        return flat.reshape(a.shape)

    def mutate_shape(self, a):
        op = self.choice(["zero", "drop", "add", "swap", "grow", "scalar", "empty"])
        shape = list(a.shape)
        if op == "zero" and shape:
            shape[int(self.rng.integers(len(shape)))] = 0
        elif op == "drop" and shape:
            shape.pop(int(self.rng.integers(len(shape))))
        elif op == "add":
            shape.insert(int(self.rng.integers(len(shape) + 1)), int(self.choice([1, 2])))
        elif op == "swap" and len(shape) >= 2:
            i, j = self.rng.choice(len(shape), 2, replace=False)
            shape[i], shape[j] = shape[j], shape[i]
        elif op == "grow" and shape:
            j = int(self.rng.integers(len(shape)))
            shape[j] += 1
        elif op == "scalar":
            shape = []
        elif op == "empty":
            shape = [0]
        n = int(np.prod(shape)) if shape else 1
        if n > 1 << 16:
            return a
        flat = a.reshape(-1)
        if flat.size == 0:
            return np.zeros(shape, a.dtype)
        return np.resize(flat, n).reshape(shape).astype(a.dtype)

    def mutate_dtype(self, a):
        to = self.choice([np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8, np.bool_])
        with np.errstate(all="ignore"):
            if a.dtype.kind == "f" and np.dtype(to).kind in "iub":
                a = np.nan_to_num(a, nan=0, posinf=0, neginf=0)
            return a.astype(to)


def ort_fails_seed(entry, ort, cache):
    """Whether ONNX Runtime itself disagrees with the unmutated test's expected outputs (it does on a
    few Resize / Attention tests): then a disagreement on a mutant says nothing about weft."""
    name, model_bytes, feeds = entry
    if name not in cache:
        status, outs = ort.run(model_bytes, feeds)
        fails = status != "ok"
        if not fails:
            m = onnx.load_from_string(model_bytes)
            for k, o in enumerate(m.graph.output):
                p = os.path.join(NODE_DIR, name, "test_data_set_0", f"output_{k}.pb")
                if not os.path.exists(p) or o.name not in outs:
                    continue
                t = onnx.TensorProto()
                with open(p, "rb") as f:
                    t.ParseFromString(f.read())
                want = numpy_helper.to_array(t)
                got = outs[o.name]
                if want.shape != got.shape or (want.dtype.kind == "f" and not np.allclose(
                        want.astype(np.float64), got.astype(np.float64), rtol=1e-3, atol=1e-4, equal_nan=True)) or (
                        want.dtype.kind != "f" and not np.array_equal(want, got)):
                    fails = True
        cache[name] = fails
    return cache[name]


def set_input_type(model, name, arr, declared):
    for vi in model.graph.input:
        if vi.name == name:
            tt = vi.type.tensor_type
            tt.elem_type = helper.np_dtype_to_tensor_dtype(arr.dtype)
            tt.ClearField("shape")
            if declared == "exact":
                for d in arr.shape:
                    tt.shape.dim.add().dim_value = d
            elif declared == "symbolic":
                for k in range(arr.ndim):
                    tt.shape.dim.add().dim_param = f"{name}_d{k}"


def make_case(seed_entry, rng):
    name, model_bytes, feeds0 = seed_entry
    model = onnx.load_from_string(model_bytes)
    feeds = {k: v.copy() for k, v in feeds0.items()}
    mu = Mutator(rng)
    notes = []
    changed_inputs = set()
    for _ in range(int(rng.integers(1, 4))):
        what = mu.choice(["attr", "attr", "values", "values", "shape", "dtype", "to_init", "drop_opt", "opset"])
        nodes = list(model.graph.node)
        if what == "attr" and nodes:
            notes.append(mu.mutate_attr(mu.choice(nodes)))
        elif what in ("values", "shape", "dtype") and feeds:
            k = mu.choice(list(feeds))
            feeds[k] = getattr(mu, "mutate_" + what)(feeds[k])
            changed_inputs.add(k)
            notes.append(f"{what} {k}")
        elif what == "to_init" and feeds:
            # A constant input goes down the constant-folding path instead.
            k = mu.choice(list(feeds))
            arr = feeds.pop(k)
            model.graph.initializer.append(numpy_helper.from_array(arr, k))
            for vi in list(model.graph.input):
                if vi.name == k:
                    model.graph.input.remove(vi)
            notes.append(f"initializer {k}")
        elif what == "drop_opt" and nodes:
            n = mu.choice(nodes)
            if len(n.input) > 1:
                j = int(rng.integers(1, len(n.input)))
                dropped = n.input[j]
                n.input[j] = ""
                while n.input and n.input[-1] == "":
                    n.input.pop()
                notes.append(f"drop input {j} of {n.op_type}")
                if dropped in feeds and all(dropped not in m.input for m in model.graph.node):
                    feeds.pop(dropped)
                    for vi in list(model.graph.input):
                        if vi.name == dropped:
                            model.graph.input.remove(vi)
        elif what == "opset":
            for o in model.opset_import:
                if o.domain in ("", "ai.onnx"):
                    o.version = int(mu.choice([7, 9, 11, 12, 13, 15, 17, 18, 20, 21, 22]))
                    notes.append(f"opset {o.version}")
    declared = mu.choice(["exact", "symbolic", "none"])
    for k in changed_inputs:
        if k in feeds:
            set_input_type(model, k, feeds[k], declared)
    # Declared output shapes would contradict mutated shapes: keep only the element types.
    for o in model.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    if model.ir_version > 10:
        model.ir_version = 10
    return model, feeds, f"{name}: " + "; ".join(notes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", default=fuzzlib.default_weft())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cases", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--tests", default="", help="regex over test names")
    ap.add_argument("--replay", type=int, default=None)
    ap.add_argument("--findings", default=os.path.join(fuzzlib.REPO, "build-fuzz", "findings"))
    args = ap.parse_args(argv)

    seeds = load_seeds(args.tests)
    if not seeds:
        print("no seed tests found", file=sys.stderr)
        return 2
    ort = fuzzlib.OrtWorker()
    ort_seed_cache = {}
    scratch = fuzzlib.scratch_dir()
    counts = collections.Counter()
    refusals = collections.Counter()
    failed = 0
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
            rng = np.random.default_rng([args.seed, i, 7])
            entry = seeds[int(rng.integers(len(seeds)))]
            idx = i
            i += 1
            try:
                model, feeds, note = make_case(entry, rng)
            except (ValueError, OverflowError, TypeError) as e:  # a mutator corner, not a finding
                print(f"[{idx}] mutator: {type(e).__name__}: {e}", file=sys.stderr)
                counts["skipped"] += 1
                continue
            skip = any(n.op_type in NO_COMPARE or (n.op_type == "TopK" and any(
                a.name == "sorted" and a.i == 0 for a in n.attribute)) for n in model.graph.node)
            if any(n.op_type in ("Div", "Mod") for n in model.graph.node) and \
                    any(a.dtype.kind in "iu" for a in feeds.values()):
                skip = True  # integer division by zero: implementation-defined
            if any(n.op_type in ("ReduceProd", "Pow") for n in model.graph.node) and \
                    any(a.dtype.kind in "iu" for a in feeds.values()):
                skip = True  # integer overflow / fractional powers back to integers
            if any(n.op_type == "ReduceMean" for n in model.graph.node) and any(a.size == 0 for a in feeds.values()):
                skip = True  # the mean of an empty set is undefined (weft: NaN, ORT: 0)
            v = fuzzlib.judge(args.weft, model, feeds, os.path.join(scratch, "c"), ort, skip_compare=skip)
            if v.kind == "FAIL-wrong" and ort_fails_seed(entry, ort, ort_seed_cache):
                v = fuzzlib.Verdict("ort-deviates", f"ORT fails {entry[0]} itself; {v.detail}")
            counts[v.kind] += 1
            if v.kind in ("nonfinite-divergence", "ort-deviates") and True:
                print(f"note [{idx}] {note}: {v.kind}: {v.detail}", flush=True)
            if v.kind == "weft-refuses":
                why = re.sub(r"^weft: [^']*'[^']*': ", "", v.detail)
                refusals[(entry[0], re.sub(r"\d+", "N", why)[:160])] += 1
            if v.failed or args.replay is not None:
                d = fuzzlib.save_finding(args.findings, f"mut-s{args.seed}-c{idx}-{entry[0]}", model, feeds, v) \
                    if v.failed else ""
                failed += v.failed
                print(f"[{idx}] {note}: {v.kind}: {v.detail} {d}", flush=True)
    finally:
        ort.close()
        fuzzlib.rmtree(scratch)
    print(f"cases {sum(counts.values())} in {time.time() - t0:.0f} s: " +
          ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    for (t, why), n in sorted(refusals.items()):
        print(f"  refusal x{n}: {t}: {why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
