"""Homogeneous and temporal GNN reference models: GraphSAGE (mean, max), GCN, GAT (2 heads),
GraphConv, a GRU over GCN snapshot embeddings, and TGN's TimeEncoder.

Each takes `x` float32 [num_nodes, 32] and `edge_index` int64 [2, num_edges] (the temporal model:
`x` [3, num_nodes, 16] and one edge index per snapshot; the time encoder: `t` [num_events]).
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv, GCNConv, GraphConv, SAGEConv

from common import export_family, homogeneous_graph, seed_all

IN, HID, OUT = 32, 64, 32


class TwoLayer(torch.nn.Module):
    """conv -> ReLU -> conv, the usual two-layer node encoder."""

    def __init__(self, make_conv):
        super().__init__()
        self.conv1 = make_conv(IN, HID, 1)
        self.conv2 = make_conv(HID, OUT, 2)

    def forward(self, x, edge_index):
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


class GAT(torch.nn.Module):
    """GATConv with 2 heads concatenated, ELU, then GATConv with 2 heads averaged."""

    def __init__(self):
        super().__init__()
        self.conv1 = GATConv(IN, HID // 2, heads=2)
        self.conv2 = GATConv(HID, OUT, heads=2, concat=False)

    def forward(self, x, edge_index):
        return self.conv2(F.elu(self.conv1(x, edge_index)), edge_index)


SNAPSHOTS, T_IN, T_HID = 3, 16, 32


class GRUTemporal(torch.nn.Module):
    """A GCN embedding of each of SNAPSHOTS graph snapshots over the same node set, then a GRU over
    time per node (nodes are the GRU's batch). Outputs every step's state and the last one."""

    def __init__(self):
        super().__init__()
        self.gcn = GCNConv(T_IN, T_HID)
        self.gru = torch.nn.GRU(T_HID, T_HID)

    def forward(self, x, *edge_indices):
        seq = torch.stack([F.relu(self.gcn(x[i], e)) for i, e in enumerate(edge_indices)])
        out, h = self.gru(seq)
        return out, h[0]


class TimeEncoder(torch.nn.Module):
    """TGN's time encoder: cos(t w + b), w initialised to 10^-linspace(0, 9, dim)."""

    def __init__(self, dim=100):
        super().__init__()
        self.lin = torch.nn.Linear(1, dim)
        with torch.no_grad():
            self.lin.weight.copy_(torch.from_numpy(
                (1.0 / 10 ** np.linspace(0, 9, dim)).astype(np.float32)).reshape(dim, 1))
            self.lin.bias.uniform_(-math.pi, math.pi)

    def forward(self, t):
        return torch.cos(self.lin(t.unsqueeze(-1)))


def _homo_cases():
    rng = np.random.default_rng(11)
    return [dict(zip(("x", "edge_index"), homogeneous_graph(rng, n, 8, IN))) for n in (120, 30)]


HOMO_DYN = {"x": {0: "num_nodes"}, "edge_index": {1: "num_edges"}, "out": {0: "num_nodes"}}

MAX_TS = ("PyG's scatter(reduce='max') under ONNX export (torch_geometric/utils/_scatter.py) "
          "starts from zeros, scatters the global min of the messages with include_self=True, then "
          "the messages: every non-empty segment's max is max(0, true max), so nodes whose incoming "
          "messages are all negative get 0 instead of their maximum (eager uses include_self=False)")
GAT_DYNAMO = ("GATConv's remove_self_loops keeps the edges with a boolean mask (a data-dependent edge "
              "count), and GATConv.edge_update then branches on `index.numel() == 0`: torch.export "
              "cannot guard on a data-dependent size")
EXPLAIN = {"sage_max": {"ts17": MAX_TS, "ts18": MAX_TS},
           "gat": {"dynamo18": GAT_DYNAMO}}

FAMILIES = {
    "sage_mean": (lambda: TwoLayer(lambda i, o, _: SAGEConv(i, o, aggr="mean")),
                  "SAGEConv(aggr=mean) x2, ReLU between"),
    "sage_max": (lambda: TwoLayer(lambda i, o, _: SAGEConv(i, o, aggr="max")),
                 "SAGEConv(aggr=max) x2, ReLU between"),
    "gcn": (lambda: TwoLayer(lambda i, o, _: GCNConv(i, o)),
            "GCNConv x2 (self loops, symmetric normalisation), ReLU between"),
    "gat": (GAT, "GATConv(heads=2, concat) -> ELU -> GATConv(heads=2, mean); self loops added"),
    "graphconv": (lambda: TwoLayer(lambda i, o, _: GraphConv(i, o, aggr="add")),
                  "GraphConv(aggr=add) x2, ReLU between"),
}


def export_all(only, data_note):
    rows = []
    cases = _homo_cases()
    for k, (family, (make, notes)) in enumerate(FAMILIES.items()):
        def build(make=make, k=k):
            seed_all(100 + k)
            return make()
        rows += export_family(family, build, cases, ["x", "edge_index"], ["out"], HOMO_DYN,
                              notes, data_note, only, EXPLAIN.get(family))

    rng = np.random.default_rng(12)
    tcases = []
    for n in (80, 25):
        snaps = [homogeneous_graph(rng, n, 6, T_IN, isolated=2 + i) for i in range(SNAPSHOTS)]
        case = {"x": np.stack([s[0] for s in snaps])}
        for i, s in enumerate(snaps):
            case[f"edge_index_{i}"] = s[1]
        tcases.append(case)
    dyn = {"x": {1: "num_nodes"}, "h_seq": {1: "num_nodes"}, "h_last": {0: "num_nodes"}}
    for i in range(SNAPSHOTS):
        dyn[f"edge_index_{i}"] = {1: f"num_edges_{i}"}

    def build_gru():
        seed_all(200)
        return GRUTemporal()
    rows += export_family("gru_temporal", build_gru, tcases, list(tcases[0]), ["h_seq", "h_last"],
                          dyn, f"GCNConv per snapshot ({SNAPSHOTS} snapshots, a fixed count) -> "
                          "ReLU -> torch.nn.GRU over time, nodes as the batch", data_note, only)

    rng = np.random.default_rng(13)
    ecases = [{"t": rng.uniform(0, 50, n).astype(np.float32)} for n in (200, 7)]

    def build_te():
        seed_all(300)
        return TimeEncoder()
    rows += export_family("time_encoder", build_te, ecases, ["t"], ["out"],
                          {"t": {0: "num_events"}, "out": {0: "num_events"}},
                          "TGN TimeEncoder: cos(Linear(1, 100)(t)), t in [0, 50) s",
                          "uniform random event times", only)
    return rows
