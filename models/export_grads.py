#!/usr/bin/env python3
"""Writes PyTorch gradients of some reference models as test vectors for weft's autodiff.

For each export named in GRAD_MODELS (with the test input set it uses; models/weft_ops/<family>_{std,weft}
too, built as models/weft_ops/export_weft_ops.py builds them) it rebuilds the PyTorch model as
models/export_all.py does (same seed, same class), checks that every parameter equals one of the
export's float initializers (as it is, transposed or reshaped: exporters store Linear weights both
ways and rename them; parameters no output reads may be missing), and computes on test_data_set_<k>
the gradient of

    loss = sum_j sum(output_j * weights_j)        weights_j ~ N(0, 1), seeded per model

with respect to every parameter. It writes models/<name>/grad_set_<k>/:

    weights_<j>.pb   weights_j (TensorProto named after output j)
    grad_<k>.pb      the gradient of the initializer it is named after, in the initializer's layout
                     (a torch.nn.GRU's weights are one ONNX GRU's W, R and B: gates reordered from
                     torch's r, z, n to ONNX's z, r, h and the two biases concatenated, so their
                     gradients are composed the same way)
    sample_<k>.pb    (large parameters only) int64 flat positions: grad_<k>.pb then holds the gradient
                     at those positions, so that what is committed stays small

tests/unit/test_autodiff_models.c loads the model, makes its float initializers parameters, builds the
same loss, runs weft_autodiff and compares. Run with a Python that has torch, torch_geometric and onnx:
    python models/export_grads.py            # every model in GRAD_MODELS
    python models/export_grads.py gcn        # those whose name contains an argument
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import seed_all  # noqa: E402
import gnn_models  # noqa: E402
import traffic_models  # noqa: E402

MAX_FULL = 4096       # a parameter with more elements is sampled
SAMPLES = 128         # positions kept of a sampled parameter


def _gnn(family, case=0):
    k = list(gnn_models.FAMILIES).index(family)

    def build():
        seed_all(100 + k)
        return gnn_models.FAMILIES[family][0]()
    return build, case


def _gru_temporal(case=1):
    def build():
        seed_all(200)  # gnn_models.export_all's seed for gru_temporal
        return gnn_models.GRUTemporal()
    return build, case


def _time_encoder(case=1):
    def build():
        seed_all(300)  # gnn_models.export_all's seed for time_encoder
        return gnn_models.TimeEncoder()
    return build, case


def _traffic(cls, case=3):
    def build():
        seed_all(7)  # export_all.export_traffic's seed
        return cls()
    return build, case


# The traffic encoder on test set 3 (a real graph of 50 nodes with an empty edge type), so that its
# outputs' weights stay small.
GRAD_MODELS = {
    "sage_mean_ts17": _gnn("sage_mean"),
    "sage_mean_dynamo18": _gnn("sage_mean"),
    "gcn_ts17": _gnn("gcn"),
    "gcn_dynamo18": _gnn("gcn"),
    "gat_ts17": _gnn("gat"),
    "gat_ts18": _gnn("gat"),
    "gru_temporal_ts17": _gru_temporal(),       # test set 1: 25 nodes
    "gru_temporal_dynamo18": _gru_temporal(),
    "time_encoder_ts17": _time_encoder(),       # test set 1: 7 events
    "time_encoder_dynamo18": _time_encoder(),
    "traffic_encoder_ts17": _traffic(traffic_models.TrafficEncoder),
    "traffic_encoder_dynamo18": _traffic(traffic_models.TrafficEncoder),
    "graphconv_ts17": _gnn("graphconv", 1),     # test set 1: the small graph
    "graphconv_dynamo18": _gnn("graphconv", 1),
    # (not sage_max_ts17: its TorchScript export computes another function than eager: PyG's scatter max
    # under export starts from zeros, so a segment's max is max(0, its max) -- see models/MANIFEST)
    "sage_max_dynamo18": _gnn("sage_max", 1),
    "traffic_classifier_ts17": _traffic(traffic_models.TrafficClassifier),
    "traffic_classifier_dynamo18": _traffic(traffic_models.TrafficClassifier),
    "traffic_linkpred_ts17": _traffic(traffic_models.TrafficLinkPred),
    "traffic_linkpred_dynamo18": _traffic(traffic_models.TrafficLinkPred),
}


def _weft_ops():
    """models/weft_ops/<family>_{std,weft} (models/weft_ops/export_weft_ops.py), each on its small test set 1."""
    sys.path.insert(0, os.path.join(common.MODELS_DIR, "weft_ops"))
    import export_weft_ops as wo  # noqa: E402
    out = {}
    for family, (make_std, make_weft, _cases, _names, _outs, _dyn, weft_only) in wo.families().items():
        for form, make in (("std", make_std), ("weft", make_weft)):
            if form == "std" and weft_only:
                continue
            out[f"weft_ops/{family}_{form}"] = (make, 1)
    return out


GRAD_MODELS.update(_weft_ops())


def load_inputs(mdir, model, case):
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    arrays = []
    for k in range(len(names)):
        t = onnx.TensorProto()
        with open(os.path.join(mdir, f"test_data_set_{case}", f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        arrays.append(onnx.numpy_helper.to_array(t))
    return names, arrays


def _gru_gates(a):
    """torch's gate blocks r, z, n (axis 0) in ONNX's order z, r, h."""
    h = a.shape[0] // 3
    return np.concatenate([a[h:2 * h], a[:h], a[2 * h:]])


def gru_groups(net):
    """Each torch.nn.GRU layer as (its torch parameter names, compose): compose(get) builds the ONNX
    GRU's W, R, B from get(torch name) (values or gradients alike)."""
    groups = []
    for mname, mod in net.named_modules():
        if not isinstance(mod, torch.nn.GRU):
            continue
        for layer in range(mod.num_layers):
            sfx = [f"_l{layer}"] + ([f"_l{layer}_reverse"] if mod.bidirectional else [])
            names = [f"{mname}.{k}{s}" for s in sfx for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

            def compose(get, mname=mname, sfx=sfx):
                at = lambda k, s: _gru_gates(get(f"{mname}.{k}{s}"))  # noqa: E731
                return (np.stack([at("weight_ih", s) for s in sfx]), np.stack([at("weight_hh", s) for s in sfx]),
                        np.stack([np.concatenate([at("bias_ih", s), at("bias_hh", s)]) for s in sfx]))
            groups.append((names, compose))
    return groups


def match_params(net, model, skip=()):
    """torch parameter name -> (initializer name, layout), by value: layout False (as it is), True
    (transposed) or the initializer's shape (the same values reshaped)."""
    inits = [(i.name, onnx.numpy_helper.to_array(i)) for i in model.graph.initializer]
    inits = [(n, a) for n, a in inits if a.dtype == np.float32]
    out = {}
    for pname, p in net.named_parameters():
        if pname in skip:
            continue
        v = p.detach().numpy()
        hit = None
        for n, a in inits:
            if a.shape == v.shape and np.array_equal(a, v):
                hit = (n, False)
            elif v.ndim == 2 and a.shape == v.T.shape and np.array_equal(a, v.T):
                hit = (n, True)
            elif a.shape != v.shape and a.size == v.size and a.size > 1 and np.array_equal(a.reshape(-1), v.reshape(-1)):
                hit = (n, a.shape)  # reshaped (a [D, 1] weight stored as [D])
            if hit:
                break
        if hit is None:
            raise SystemExit(f"parameter {pname} {tuple(v.shape)} is no initializer of the export")
        out[pname] = hit
    return out


def write_tensor(path, arr, name):
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name=name).SerializeToString())


def export(name, build, case):
    mdir = os.path.join(common.MODELS_DIR, name)
    model = onnx.load(os.path.join(mdir, "model.onnx"))
    net = build().eval()
    names, arrays = load_inputs(mdir, model, case)
    groups = gru_groups(net)
    grouped = {n for names_, _ in groups for n in names_}
    outs = net(*[torch.from_numpy(a.copy()) for a in arrays])
    if isinstance(outs, torch.Tensor):
        outs = (outs,)
    rng = np.random.default_rng(sum(map(ord, name)))  # a seed per model that hash randomisation leaves alone
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in outs]
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, weights))
    params = dict(net.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    # parameters no output reads (a classifier's unused last encoder step) may be missing from the export
    unused = {pname for pname, g in zip(params, grads) if g is None}
    mapping = match_params(net, model, grouped | unused)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    values = {n: p.detach().numpy() for n, p in net.named_parameters()}
    composed = []  # (initializer names of W, R, B, compose) per GRU layer
    for names_, compose in groups:
        hit = []
        for arr in compose(values.__getitem__):
            found = [n for n, a in inits.items() if a.dtype == np.float32 and a.shape == arr.shape and np.array_equal(a, arr)]
            if not found:
                raise SystemExit(f"GRU parameters {names_[0]}... {tuple(arr.shape)} are no initializer of the export")
            hit.append(found[0])
        composed.append((hit, compose))
    gdir = os.path.join(mdir, f"grad_set_{case}")
    shutil.rmtree(gdir, ignore_errors=True)
    os.makedirs(gdir)
    for j, (o, w) in enumerate(zip(model.graph.output, weights)):
        write_tensor(os.path.join(gdir, f"weights_{j}.pb"), w, o.name)
    total = 0
    by_name = {pname: (np.zeros(tuple(params[pname].shape), np.float32) if g is None else g.detach().numpy())
               for pname, g in zip(params, grads)}
    entries = []  # (initializer, gradient in its layout)
    for pname in params:
        if pname in mapping:
            init, layout = mapping[pname]
            g = by_name[pname]
            entries.append((init, g.reshape(layout) if isinstance(layout, tuple) else g.T if layout else g))
    for hit, compose in composed:
        entries += list(zip(hit, compose(by_name.__getitem__)))
    for k, (init, g) in enumerate(entries):
        g = np.ascontiguousarray(g)
        if g.size > MAX_FULL:
            pos = np.unique(np.random.default_rng(k).integers(0, g.size, SAMPLES)).astype(np.int64)
            write_tensor(os.path.join(gdir, f"sample_{k}.pb"), pos, init)
            g = g.reshape(-1)[pos]
        write_tensor(os.path.join(gdir, f"grad_{k}.pb"), g, init)
        total += g.size
    print(f"{name}: {len(entries)} parameters, {total} gradient values, loss {float(loss.detach()):.6g}")


def main(argv):
    only = argv[1:]
    torch.set_num_threads(1)  # the same sums in the same order on every machine
    for name, (build, case) in GRAD_MODELS.items():
        if not only or any(o in name for o in only):
            export(name, build, case)


if __name__ == "__main__":
    main(sys.argv)
