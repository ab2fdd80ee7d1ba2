#!/usr/bin/env python3
"""Exports reference models in both forms into models/weft_ops/<name>/ (ONNX test layout):

    <model>_weft   through models/weft_export.py: ai.weft ops (SegmentReduce, RowGather, EdgeSoftmax,
                   TimeEncoding, GRUCell) instead of scatter chains
    <model>_std    the same weights, the standard TorchScript export (opset 17)

Both get the same test_data_set_*/input_N.pb and the PyTorch eager outputs as output_N.pb, so
`weft conformance models/weft_ops` checks each against eager and tests/models/test_weft_ops.py checks
the two forms against each other.

Models (same constructors and seeds as models/export_all.py, so the weights equal those of the
models/<family>_ts17 exports):
    traffic_encoder  the paper's encoder (models/traffic_models.py, seed 7), two traffic graphs
    sage_mean        2 x SAGEConv(mean) (models/gnn_models.py, seed 100)
    sage_max         2 x SAGEConv(max) (seed 101); only the ai.weft form: the standard export of max
                     aggregation deviates from eager on negative values (see models/MANIFEST)
    gat              GATConv(2 heads, concat) -> ELU -> GATConv(2 heads, mean) (seed 103)
    time_encoder     TGN's TimeEncoder cos(Linear(1, 100)(t)) (seed 300)
    gru_cell         torch.nn.GRUCell(16, 32) unrolled over 3 steps (seed 400)

Run with the torch / PyG python:  python models/weft_ops/export_weft_ops.py [name-filter ...]
"""
import io
import os
import shutil
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
sys.path.insert(0, MODELS)
import common  # noqa: E402
import export_all  # noqa: E402
import gnn_models  # noqa: E402
import traffic_models  # noqa: E402
import weft_export as wx  # noqa: E402

OPSET = 17


class TimeEncoderWeft(torch.nn.Module):
    """gnn_models.TimeEncoder's weights through wx.time_encoding."""

    def __init__(self, te):
        super().__init__()
        self.lin = te.lin

    def forward(self, t):
        return wx.time_encoding(t, self.lin.weight.reshape(-1), self.lin.bias)


class GRUCellSteps(torch.nn.Module):
    """h_{k+1} = GRUCell(x[k], h_k) for the steps of x [S, B, I]; returns the last state. The standard
    form writes the cell with MatMul / Sigmoid / Tanh (the eager reference of the helper), the weft
    form with one ai.weft GRUCell per step."""

    def __init__(self, steps=3, i=16, h=32, weft=False):
        super().__init__()
        self.cell = torch.nn.GRUCell(i, h)
        self.steps, self.weft = steps, weft

    def forward(self, x, h):
        c = self.cell
        fn = wx.gru_cell if self.weft else wx._ref_gru_cell
        for k in range(self.steps):
            h = fn(x[k], h, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
        return h


def _seeded(seed, make):
    common.seed_all(seed)
    return make().eval()


def families():
    """name -> (make_std, make_weft, cases, input names, output names, dynamic axes, weft only?)"""
    out = {}
    tcases = export_all.traffic_cases()
    tnames = list(tcases[0].keys())
    tdyn = export_all.traffic_dyn(tnames, ["h_con", "h_ip"])
    mk = lambda: _seeded(7, traffic_models.TrafficEncoder)  # noqa: E731
    out["traffic_encoder"] = (mk, mk, tcases, tnames, ["h_con", "h_ip"], tdyn, False)

    hcases = gnn_models._homo_cases()
    fam = gnn_models.FAMILIES
    for k, name in enumerate(fam):
        if name not in ("sage_mean", "sage_max", "gat"):
            continue
        mk = (lambda k=k, name=name: _seeded(100 + k, fam[name][0]))
        out[name] = (mk, mk, hcases, ["x", "edge_index"], ["out"], gnn_models.HOMO_DYN, name == "sage_max")

    rng = np.random.default_rng(13)
    ecases = [{"t": rng.uniform(0, 50, n).astype(np.float32)} for n in (200, 7)]
    te = lambda: _seeded(300, gnn_models.TimeEncoder)  # noqa: E731
    out["time_encoder"] = (te, lambda: TimeEncoderWeft(te()), ecases, ["t"], ["out"],
                           {"t": {0: "num_events"}, "out": {0: "num_events"}}, False)

    rng = np.random.default_rng(14)
    gcases = [{"x": rng.standard_normal((3, b, 16)).astype(np.float32),
               "h": rng.standard_normal((b, 32)).astype(np.float32)} for b in (50, 4)]
    out["gru_cell"] = (lambda: _seeded(400, GRUCellSteps), lambda: _seeded(400, lambda: GRUCellSteps(weft=True)),
                       gcases, ["x", "h"], ["h_last"],
                       {"x": {1: "batch"}, "h": {0: "batch"}, "h_last": {0: "batch"}}, False)
    return out


def _export(model, example, path, names, outs, dyn, weft):
    args = tuple(torch.from_numpy(a) for a in example.values())
    log = io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(log), redirect_stderr(log):
        warnings.simplefilter("ignore")
        kw = dict(input_names=names, output_names=outs, dynamic_axes=dyn)
        if weft:
            with wx.patch_pyg():
                wx.export(model, args, path, opset_version=OPSET, **kw)
        else:
            torch.onnx.export(model, args, path, dynamo=False, opset_version=OPSET,
                              do_constant_folding=True, **kw)


def write_manifest(rows):
    """models/weft_ops/MANIFEST: one tab-separated row per export (a partial run keeps other rows)."""
    path = os.path.join(HERE, "MANIFEST")
    cols = ["name", "file", "sha256", "form", "exporter", "versions", "opset", "ai.weft ops", "io"]
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            lines = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("#")]
        old = {ln[0]: dict(zip(lines[0], ln)) for ln in lines[1:]}
    old.update({r["name"]: r for r in rows})
    with open(path, "w") as f:
        f.write("# ai.weft exports and their standard twins (models/weft_ops/export_weft_ops.py); "
                "expected outputs are PyTorch eager's\n")
        f.write("\t".join(cols) + "\n")
        for n in sorted(old):
            f.write("\t".join(str(old[n].get(c, "-")) for c in cols) + "\n")


def main(argv):
    only = argv[1:]
    rows = []
    for name, (make_std, make_weft, cases, names, outs, dyn, weft_only) in families().items():
        if only and not any(o in name for o in only):
            continue
        ref = make_std()
        want = [common.eager_outputs(ref, c) for c in cases]
        for form in (("weft",) if weft_only else ("weft", "std")):
            model = make_weft() if form == "weft" else make_std()
            d = os.path.join(HERE, f"{name}_{form}")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            path = os.path.join(d, "model.onnx")
            _export(model, cases[0], path, names, outs, dyn, form == "weft")
            m = onnx.load(path)
            onnx.checker.check_model(m)
            counts = wx.count_weft_nodes(m)
            if (form == "weft") != bool(counts):
                raise SystemExit(f"{name}_{form}: ai.weft nodes {counts}")
            for k, c in enumerate(cases):
                if form == "weft":  # the helper's eager path must equal the model's own eager outputs
                    with wx.patch_pyg():
                        got = common.eager_outputs(model, c)
                    for g, w in zip(got, want[k]):
                        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
                common.write_case(os.path.join(d, f"test_data_set_{k}"), path, c, want[k])
            print(f"{name}_{form}: {os.path.getsize(path)} bytes, ai.weft nodes {counts or '-'}")
            inits = {i.name for i in m.graph.initializer}
            io_ = [common.sym_shape(i) for i in m.graph.input if i.name not in inits]
            io_ += ["-> " + common.sym_shape(o) for o in m.graph.output]
            rows.append({"name": f"{name}_{form}", "file": f"models/weft_ops/{name}_{form}/model.onnx",
                         "sha256": common.sha256(path), "form": form,
                         "exporter": "weft_export.export (TorchScript, patch_pyg)" if form == "weft"
                         else "torch.onnx.export dynamo=False (TorchScript)",
                         "versions": common.versions(), "opset": OPSET,
                         "ai.weft ops": ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "-",
                         "io": "; ".join(io_)})
    write_manifest(rows)


if __name__ == "__main__":
    main(sys.argv)
