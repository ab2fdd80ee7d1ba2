#!/usr/bin/env python3
"""Writes PyTorch gradients of some reference models as test vectors for weft's autodiff.

For each export named in GRAD_MODELS (with the test input set it uses) it rebuilds the PyTorch model as models/export_all.py does (same
seed, same class), checks that every parameter equals one of the export's float initializers (as it
is, or transposed: exporters store Linear weights both ways and rename them), and computes on
test_data_set_<k> the gradient of

    loss = sum_j sum(output_j * weights_j)        weights_j ~ N(0, 1), seeded per model

with respect to every parameter. It writes models/<name>/grad_set_<k>/:

    weights_<j>.pb   weights_j (TensorProto named after output j)
    grad_<k>.pb      the gradient of the initializer it is named after, in the initializer's layout
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
    "gat_ts17": _gnn("gat"),  # written, not yet checked: the If of GATConv (an edge count test) has no rule
    "traffic_encoder_ts17": _traffic(traffic_models.TrafficEncoder),
    "traffic_encoder_dynamo18": _traffic(traffic_models.TrafficEncoder),
}


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


def match_params(net, model):
    """torch parameter name -> (initializer name, transposed?), by value."""
    inits = [(i.name, onnx.numpy_helper.to_array(i)) for i in model.graph.initializer]
    inits = [(n, a) for n, a in inits if a.dtype == np.float32]
    out = {}
    for pname, p in net.named_parameters():
        v = p.detach().numpy()
        hit = None
        for n, a in inits:
            if a.shape == v.shape and np.array_equal(a, v):
                hit = (n, False)
            elif v.ndim == 2 and a.shape == v.T.shape and np.array_equal(a, v.T):
                hit = (n, True)
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
    mapping = match_params(net, model)
    outs = net(*[torch.from_numpy(a.copy()) for a in arrays])
    if isinstance(outs, torch.Tensor):
        outs = (outs,)
    rng = np.random.default_rng(sum(map(ord, name)))  # a seed per model that hash randomisation leaves alone
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in outs]
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, weights))
    params = dict(net.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    gdir = os.path.join(mdir, f"grad_set_{case}")
    shutil.rmtree(gdir, ignore_errors=True)
    os.makedirs(gdir)
    for j, (o, w) in enumerate(zip(model.graph.output, weights)):
        write_tensor(os.path.join(gdir, f"weights_{j}.pb"), w, o.name)
    total = 0
    for k, (pname, g) in enumerate(zip(params, grads)):
        init, transposed = mapping[pname]
        g = np.zeros(tuple(params[pname].shape), np.float32) if g is None else g.detach().numpy()
        if transposed:
            g = g.T
        g = np.ascontiguousarray(g)
        if g.size > MAX_FULL:
            pos = np.unique(np.random.default_rng(k).integers(0, g.size, SAMPLES)).astype(np.int64)
            write_tensor(os.path.join(gdir, f"sample_{k}.pb"), pos, init)
            g = g.reshape(-1)[pos]
        write_tensor(os.path.join(gdir, f"grad_{k}.pb"), g, init)
        total += g.size
    print(f"{name}: {len(params)} parameters, {total} gradient values, loss {float(loss.detach()):.6g}")


def main(argv):
    only = argv[1:]
    torch.set_num_threads(1)  # the same sums in the same order on every machine
    for name, (build, case) in GRAD_MODELS.items():
        if not only or any(o in name for o in only):
            export(name, build, case)


if __name__ == "__main__":
    main(sys.argv)
