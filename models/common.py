"""Shared machinery of the reference-model exports: seeding, synthetic graphs, the three exporters,
the ONNX test layout and the manifest rows.

Every model is exported three ways: the TorchScript exporter at opsets 17 and 18
(`torch.onnx.export(..., dynamo=False)`) and the dynamo exporter at opset 18. Each export is written in
ONNX's node-test layout (`models/<name>/model.onnx`, `test_data_set_<k>/input_<i>.pb`,
`output_<j>.pb`), the expected outputs being PyTorch eager's. Each export is then run by ONNX Runtime;
where ONNX Runtime disagrees with eager beyond 1e-4 relative, the export itself deviates (it means
something else than the eager model), and the manifest says so: the test then checks weft against
ONNX Runtime instead of eager.
"""
import hashlib
import inspect
import io
import os
import random
import shutil
import traceback
import warnings
from contextlib import redirect_stdout, redirect_stderr

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import torch

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
RTOL, ATOL = 1e-4, 1e-5

# (suffix, dynamo?, opset)
EXPORTERS = [("ts17", False, 17), ("ts18", False, 18), ("dynamo18", True, 18)]


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Synthetic homogeneous graphs: E >> N, duplicate edges, isolated nodes.

def homogeneous_graph(rng, num_nodes, avg_degree, num_features, isolated=3, duplicates=5):
    """Random directed graph on `num_nodes` nodes whose last `isolated` nodes have no edge at all,
    with `duplicates` edges repeated verbatim (multigraph), features from N(0, 1) (negative values
    on purpose: max aggregation of negative values is where exports differ)."""
    active = num_nodes - isolated
    e = num_nodes * avg_degree
    src = rng.integers(0, active, e)
    dst = rng.integers(0, active, e)
    dup = rng.integers(0, e, duplicates)
    ei = np.stack([np.concatenate([src, src[dup]]), np.concatenate([dst, dst[dup]])]).astype(np.int64)
    x = rng.standard_normal((num_nodes, num_features)).astype(np.float32)
    return x, ei


# ---------------------------------------------------------------------------------------------
# Synthetic traffic graphs with the shape of schemas/traffic_graph.md.

SPATIAL = ["ip__src__con", "con__dst__ip", "con__rev_src__ip", "ip__rev_dst__con"]
TEMPORAL = ["ip__next__ip", "con__next_src__con", "con__next_dst__con", "con__repeat__con"]
EDGE_TYPES = SPATIAL + TEMPORAL
CON_FEATURES, IP_FEATURES, PE_DIM = 60, 31, 30


def edge_triple(name):
    src, rel, dst = name.split("__")
    return src, rel, dst


def positional_encoding(p, d=PE_DIM):
    i = np.arange(d // 2)
    ang = p / np.power(10000.0, 2 * i / d)
    pe = np.zeros(d)
    pe[0::2] = np.sin(ang)
    pe[1::2] = np.cos(ang)
    return pe


def traffic_graph(rng, flows_per_slice, num_hosts, slices=5, flow_memory=20, duplicates=4,
                  isolated_ips=2):
    """A synthetic traffic graph built the way the contract says a real one is: flows between a
    few hosts, cut into `slices` window slices (a flow lasting past its window reappears in the
    next slice), con and ip nodes per slice, the 4 spatial and 4 temporal edge types. Adds
    `duplicates` repeated edges to some types and `isolated_ips` ip nodes with no edge."""
    con_feats, ip_feats = [], []
    ip_node = {}          # (host, slice) -> ip node index
    edges = {t: [] for t in EDGE_TYPES}
    prev_flows = {}       # five-tuple -> con node in the previous slice

    def ip_of(host, s):
        if (host, s) not in ip_node:
            ip_node[(host, s)] = len(ip_feats)
            ip_feats.append(np.concatenate([[1.0], positional_encoding(s)]))
        return ip_node[(host, s)]

    carried = []  # five-tuples lasting into the next slice
    for s in range(slices):
        # A skewed host popularity: a few servers get most flows (E >> N for the temporal types).
        tuples = list(carried)
        while len(tuples) < flows_per_slice:
            a = int(min(rng.zipf(1.6), num_hosts) - 1)
            b = int(rng.integers(0, num_hosts))
            if a == b:
                b = (b + 1) % num_hosts
            tuples.append((a, b, int(rng.integers(1024, 65535)), int(rng.choice([80, 443, 53])),
                           int(rng.choice([6, 17, 1]))))
        rng.shuffle(tuples)
        cons = []
        for order, t in enumerate(tuples):
            c = len(con_feats)
            stats = rng.uniform(0, 1, 24)
            proto = np.zeros(4)
            proto[{6: 0, 17: 1, 1: 2}.get(t[4], 3)] = 1
            ipver = np.array([1.0, 0.0])
            con_feats.append(np.concatenate([stats, proto, ipver, positional_encoding(order)]))
            src_ip, dst_ip = ip_of(t[0], s), ip_of(t[1], s)
            edges["ip__src__con"].append((src_ip, c))
            edges["con__rev_src__ip"].append((c, src_ip))
            edges["con__dst__ip"].append((c, dst_ip))
            edges["ip__rev_dst__con"].append((dst_ip, c))
            if t in prev_flows:
                edges["con__repeat__con"].append((prev_flows[t], c))
            cons.append((c, t))
        for key, etype in ((0, "con__next_src__con"), (1, "con__next_dst__con")):
            for i, (c, t) in enumerate(cons):
                later = [c2 for c2, t2 in cons[i + 1:] if t2[key] == t[key]][:flow_memory]
                edges[etype].extend((c, c2) for c2 in later)
        prev_flows = {t: c for c, t in cons}
        carried = [t for _, t in cons if rng.uniform() < 0.2]
    for (host, s), n in list(ip_node.items()):
        if (host, s + 1) in ip_node:
            edges["ip__next__ip"].append((n, ip_node[(host, s + 1)]))
    for k in range(isolated_ips):
        ip_feats.append(np.concatenate([[1.0], positional_encoding(k)]))
    out = {"x_con": np.asarray(con_feats, np.float32), "x_ip": np.asarray(ip_feats, np.float32)}
    for i, t in enumerate(EDGE_TYPES):
        e = np.asarray(edges[t], np.int64).reshape(-1, 2).T
        if duplicates and e.shape[1] and i % 2 == 1:
            dup = rng.integers(0, e.shape[1], duplicates)
            e = np.concatenate([e, e[:, dup]], axis=1)
        out["edge_index__" + t] = np.ascontiguousarray(e)
    return out


# ---------------------------------------------------------------------------------------------
# Export, layout, verification.

def _to_torch(arrays):
    return tuple(torch.from_numpy(a) for a in arrays)


def eager_outputs(model, inputs):
    with torch.no_grad():
        out = model(*_to_torch(inputs.values()))
    if isinstance(out, torch.Tensor):
        out = (out,)
    return [o.detach().numpy() for o in out]


def _export(model, example, path, dynamo, opset, input_names, output_names, dyn):
    """dyn: input name -> {axis: symbol name}; the output axes are given by the spec too."""
    args = _to_torch(example.values())
    log = io.StringIO()
    # Under no_grad, as one exports a trained model: with autograd on, PyG's ONNX path of max/min
    # aggregation (torch.full with fill_value=src.min()) fails in the TorchScript exporter because
    # torch refuses a fill value that requires grad.
    with warnings.catch_warnings(), redirect_stdout(log), redirect_stderr(log), torch.no_grad():
        warnings.simplefilter("ignore")
        if not dynamo:
            torch.onnx.export(model, args, path, dynamo=False, opset_version=opset,
                              input_names=input_names, output_names=output_names,
                              dynamic_axes=dyn, do_constant_folding=True)
        else:
            # Positional dynamic shapes (the forward may take *args).
            dims = {}
            shapes = []
            for name in input_names:
                spec = {}
                for axis, sym in dyn.get(name, {}).items():
                    dims.setdefault(sym, torch.export.Dim(sym))
                    spec[axis] = dims[sym]
                shapes.append(spec)
            # torch.export sees a *args parameter as one tuple argument.
            sig = inspect.signature(model.forward).parameters.values()
            if any(p.kind == p.VAR_POSITIONAL for p in sig):
                named = sum(p.kind == p.POSITIONAL_OR_KEYWORD for p in sig)
                shapes = shapes[:named] + [tuple(shapes[named:])]
            shapes = tuple(shapes)
            prog = torch.onnx.export(model, args, dynamo=True, opset_version=opset,
                                     input_names=input_names, output_names=output_names,
                                     dynamic_shapes=shapes, optimize=True)
            prog.save(path, external_data=False)


def failure_cause(e):
    """One line: the innermost exception's first line, plus the model-side location torch.export
    names ('Caused by: ...'), if any."""
    inner = e
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner).strip()
    first = text.splitlines()[0][:300] if text else ""
    where = [ln.strip() for ln in text.splitlines() if ln.startswith("Caused by:")]
    return f"{type(inner).__name__}: {first}" + (f" [{where[0]}]" if where else "")


def _max_rel(got, want):
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = np.abs(want.astype(np.float64))
    bad = err > ATOL + RTOL * scale
    worst = float((err / np.maximum(scale, ATOL)).max()) if err.size else 0.0
    return bool(bad.any()), float(err.max()) if err.size else 0.0, worst


def write_case(dirpath, model_path, input_arrays, output_arrays, onnx_arrays=None):
    """input_arrays: name -> array in the model's graph-input order. onnx_arrays (for exports
    that deviate from eager): ONNX Runtime's outputs, written as onnx_output_<j>.pb beside the
    eager output_<j>.pb."""
    os.makedirs(dirpath, exist_ok=True)
    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    gin = [i.name for i in m.graph.input if i.name not in inits]
    for i, name in enumerate(gin):
        t = onnx.numpy_helper.from_array(input_arrays[name], name=name)
        with open(os.path.join(dirpath, f"input_{i}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    for j, (o, arr) in enumerate(zip(m.graph.output, output_arrays)):
        t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name=o.name)
        with open(os.path.join(dirpath, f"output_{j}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    for j, (o, arr) in enumerate(zip(m.graph.output, onnx_arrays or [])):
        t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name=o.name)
        with open(os.path.join(dirpath, f"onnx_output_{j}.pb"), "wb") as f:
            f.write(t.SerializeToString())


def sym_shape(vi):
    dims = []
    for d in vi.type.tensor_type.shape.dim:
        dims.append(d.dim_param if d.HasField("dim_param") else str(d.dim_value)
                    if d.HasField("dim_value") else "?")
    elem = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name
    return f"{vi.name}:{elem}[{','.join(dims)}]"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def versions():
    import torch_geometric
    return f"torch {torch.__version__}, PyG {torch_geometric.__version__}, onnx {onnx.__version__}"


def describe_case(k, inputs):
    """'set k: x_con[300,60] x_ip[75,31] edges 5123 (min 12 per type)' -- the graph size of a case."""
    parts = [f"{n}[{','.join(map(str, a.shape))}]" for n, a in inputs.items()
             if not n.startswith(("edge_index", "pairs__"))]
    e = [a.shape[1] for n, a in inputs.items() if n.startswith("edge_index")]
    if e:
        parts.append(f"{sum(e)} edges" + (f" (min {min(e)} per type)" if len(e) > 1 else ""))
    return f"set {k}: " + " ".join(parts)


def export_family(family, make_model, cases, input_names, output_names, dyn, notes="",
                  data_note="synthetic", only=None, explain=None):
    """Exports one model family with every exporter. `cases`: list of input dicts (name -> array,
    in forward-argument order), the first is the export example. `explain`: exporter suffix ->
    the known cause of that export's failure or deviation (added to the manifest). Returns
    manifest rows."""
    rows = []
    for suffix, dynamo, opset in EXPORTERS:
        name = f"{family}_{suffix}"
        if only and not any(o in name for o in only):
            continue
        model = make_model().eval()
        outdir = os.path.join(MODELS_DIR, name)
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        path = os.path.join(outdir, "model.onnx")
        exporter = (f"torch.onnx.export dynamo=True (torch.export + onnxscript)" if dynamo
                    else "torch.onnx.export dynamo=False (TorchScript)")
        row = {"name": name, "file": f"models/{name}/model.onnx", "exporter": exporter,
               "versions": versions(), "opset": opset, "params": param_count(model),
               "data": data_note + "; " + "; ".join(describe_case(k, c) for k, c in enumerate(cases)),
               "notes": notes}
        try:
            _export(model, cases[0], path, dynamo, opset, input_names, output_names, dyn)
            onnx.checker.check_model(path)
        except Exception as e:  # an exporter failure is a finding, recorded, not hidden
            shutil.rmtree(outdir, ignore_errors=True)
            msg = failure_cause(e)
            print(f"  {name}: EXPORT FAILED: {msg}")
            traceback.print_exc(limit=3)
            row.update(status="export-failed", file="-", sha256="-", io="-", reference="-",
                       deviation=msg + (f" -- cause: {explain[suffix]}" if explain and suffix in explain
                                        else ""))
            rows.append(row)
            continue
        m = onnx.load(path)
        inits = {i.name for i in m.graph.initializer}
        ios = [sym_shape(i) for i in m.graph.input if i.name not in inits]
        ios += ["-> " + sym_shape(o) for o in m.graph.output]
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ort_in = [i.name for i in sess.get_inputs()]
        deviations = []
        results = []
        for k, inputs in enumerate(cases):
            want = eager_outputs(model, inputs)
            got = sess.run(None, {n: inputs[n] for n in ort_in})
            for o, g, w in zip(m.graph.output, got, want):
                if g.shape != w.shape:
                    deviations.append(f"set {k} {o.name}: ORT shape {g.shape} vs eager {w.shape}")
                    continue
                bad, maxabs, worst = _max_rel(g, w)
                if bad:
                    deviations.append(f"set {k} {o.name}: ONNX Runtime differs from eager by "
                                      f"up to {maxabs:.3g} abs")
            results.append((inputs, want, got))
        for k, (inputs, want, got) in enumerate(results):
            write_case(os.path.join(outdir, f"test_data_set_{k}"), path, inputs, want,
                       got if deviations else None)
        row.update(status="ok" if not deviations else "deviates",
                   reference="eager" if not deviations else "onnxruntime",
                   sha256=sha256(path), io="; ".join(ios),
                   deviation=("; ".join(deviations) + (f" -- cause: {explain[suffix]}"
                                                       if explain and suffix in explain else ""))
                   if deviations else "-")
        print(f"  {name}: {row['status']} ({os.path.getsize(path)} bytes) {row['deviation'][:200]}")
        rows.append(row)
    return rows
