#!/usr/bin/env python3
"""Exports every reference model into models/<name>/ (ONNX test layout) and writes models/MANIFEST.

Run with a Python that has torch, torch_geometric, onnx, onnxscript and onnxruntime:
    python models/export_all.py                 # everything
    python models/export_all.py gcn traffic_enc # only families/exports whose name contains these
Reproducible: every model and graph comes from a fixed seed.
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import EDGE_TYPES, export_family, seed_all, traffic_graph  # noqa: E402
import gnn_models  # noqa: E402
import traffic_models  # noqa: E402

MANIFEST_COLUMNS = ["name", "file", "sha256", "status", "reference", "exporter", "versions", "opset",
                    "params", "io", "data", "deviation", "notes"]

TRAFFIC_DATA = ("set 0 (the export example): a synthetic traffic graph built like "
                "schemas/traffic_graph.md (zipf-popular hosts, 5 slices, flow memory 20, flows carried "
                "into the next slice, duplicate edges, isolated ip nodes); set 1: a smaller synthetic one; sets 2, 3: real graphs "
                "from ../shared/data/slips/test5-mixed.binetflow through `weft flows` and `weft graph` "
                "(reference configuration; graphs 5 and 1, the latter with an empty edge type)")
REAL_TRAFFIC = ("slips/test5-mixed.binetflow", ["graph_00005", "graph_00001"])


def weft_binary():
    """WEFT_BIN, else the newest build*/weft that has the `graph` command."""
    root = os.path.dirname(common.MODELS_DIR)
    cands = sorted(glob.glob(os.path.join(root, "build*", "weft")), key=os.path.getmtime, reverse=True)
    if os.environ.get("WEFT_BIN"):
        cands = [os.environ["WEFT_BIN"]]
    for c in cands:
        if os.access(c, os.X_OK) and subprocess.run([c, "graph", "--help"],
                                                    capture_output=True).returncode == 0:
            return c
    raise SystemExit("no weft binary with `weft graph` (build weft_cli or set WEFT_BIN): the "
                     "traffic models' real test graphs come from weft's traffic pipeline")


def real_traffic_graphs():
    """Graphs of REAL_TRAFFIC made by weft's own traffic pipeline, as a user would make them."""
    root = os.path.dirname(common.MODELS_DIR)
    data = os.path.join(root, "..", "shared", "data", REAL_TRAFFIC[0])
    weft = weft_binary()
    with tempfile.TemporaryDirectory() as tmp:
        flows = os.path.join(tmp, "flows.csv")
        subprocess.run([weft, "flows", data, "-o", flows], check=True, capture_output=True)
        subprocess.run([weft, "graph", flows, "--out-dir", tmp], check=True, capture_output=True)
        out = []
        for g in REAL_TRAFFIC[1]:
            d = os.path.join(tmp, g)
            case = {"x_con": np.load(os.path.join(d, "x_con.npy")),
                    "x_ip": np.load(os.path.join(d, "x_ip.npy"))}
            for t in EDGE_TYPES:
                case["edge_index__" + t] = np.load(os.path.join(d, f"edge_index__{t}.npy"))
            out.append(case)
    return out
HOMO_DATA = "synthetic random multigraphs (E = 8N + duplicates, isolated nodes, N(0,1) features)"


def traffic_cases(pairs=False):
    rng = np.random.default_rng(2024)
    cases = [traffic_graph(rng, 60, 30), traffic_graph(rng, 12, 8)] + real_traffic_graphs()
    for g in cases:
        if pairs:
            n = {"con": g["x_con"].shape[0], "ip": g["x_ip"].shape[0]}
            for t in EDGE_TYPES:
                s, _, d = common.edge_triple(t)
                e = g["edge_index__" + t]
                k = max(3, e.shape[1] // 4)
                pos = e[:, rng.integers(0, e.shape[1], k)] if e.shape[1] else np.zeros((2, 0), np.int64)
                neg = np.stack([rng.integers(0, n[s], k), rng.integers(0, n[d], k)])
                g["pairs__" + t] = np.ascontiguousarray(np.concatenate([pos, neg], 1).astype(np.int64))
    return cases


def traffic_dyn(names, outputs):
    dyn = {"x_con": {0: "num_con"}, "x_ip": {0: "num_ip"}}
    for t in EDGE_TYPES:
        dyn["edge_index__" + t] = {1: "num_edges_" + t}
        dyn["pairs__" + t] = {1: "num_pairs_" + t}
        dyn["score__" + t] = {0: "num_pairs_" + t}
    dyn.update({"h_con": {0: "num_con"}, "h_ip": {0: "num_ip"}, "logits": {0: "num_con"}})
    return {k: v for k, v in dyn.items() if k in names or k in outputs}


def export_traffic(only):
    rows = []
    seed = 7
    enc_notes = ("HeteroConv steps keep every node type (each receives messages; a type that "
                 "received none would keep its previous features); LeakyReLU slope 0.01 after each "
                 "of the 4 steps; 449,280 encoder parameters with 2 layers as model-notes.md "
                 "describes (the paper quotes about 715k: a third layer would make 712,448)")

    def make(cls):
        def f():
            seed_all(seed)
            return cls()
        return f

    cases = traffic_cases()
    names = list(cases[0].keys())
    rows += export_family("traffic_encoder", make(traffic_models.TrafficEncoder), cases, names,
                          ["h_con", "h_ip"], traffic_dyn(names, ["h_con", "h_ip"]),
                          enc_notes, TRAFFIC_DATA, only)
    rows += export_family("traffic_classifier", make(traffic_models.TrafficClassifier), cases,
                          names, ["logits"], traffic_dyn(names, ["logits"]),
                          enc_notes + "; 8 classes", TRAFFIC_DATA, only)
    cases = traffic_cases(pairs=True)
    names = list(cases[0].keys())
    outs = ["score__" + t for t in EDGE_TYPES]
    rows += export_family("traffic_linkpred", make(traffic_models.TrafficLinkPred), cases, names,
                          outs, traffic_dyn(names, outs),
                          enc_notes + "; scores are dot products of the endpoint embeddings (logits)",
                          TRAFFIC_DATA, only)
    return rows


def write_manifest(rows):
    path = os.path.join(common.MODELS_DIR, "MANIFEST")
    old = {}
    if os.path.exists(path):  # a partial run keeps the other models' rows
        with open(path) as f:
            lines = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("#")]
        hdr = lines[0]
        for ln in lines[1:]:
            r = dict(zip(hdr, ln))
            old[r["name"]] = r
    for r in rows:
        old[r["name"]] = r
    with open(path, "w") as f:
        f.write("# weft reference models: one row per export (tab-separated; written by "
                "models/export_all.py). status: ok = ONNX Runtime matches PyTorch eager within "
                "1e-4 rel + 1e-5 abs; deviates = the export computes something else than eager "
                "(see deviation; test_data_set_*/onnx_output_*.pb then hold ONNX Runtime's "
                "outputs, the reference weft is checked against); export-failed = no model.\n")
        f.write("\t".join(MANIFEST_COLUMNS) + "\n")
        for name in sorted(old):
            r = old[name]
            f.write("\t".join(str(r.get(c, "-")).replace("\t", " ").replace("\n", " ")
                              for c in MANIFEST_COLUMNS) + "\n")


def main(argv):
    only = argv[1:] or None
    rows = []
    rows += export_traffic(only)
    rows += gnn_models.export_all(only, HOMO_DATA)
    write_manifest(rows)


if __name__ == "__main__":
    main(sys.argv)
