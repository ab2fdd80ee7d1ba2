"""The seed paper's traffic models (models/README.md, ../shared/seeds/model-notes.md):

- TrafficEncoder: 2 layers of (temporal HeteroConv, spatial HeteroConv); every edge type its own
  SAGEConv(mean, normalize=True) with hidden size 128; per destination node type the convolutions'
  outputs are summed; LeakyReLU after each step. Outputs h_con, h_ip.
- TrafficLinkPred: the encoder + a dot-product score per given node pair, per edge type.
- TrafficClassifier: the encoder + Linear(128) -> LeakyReLU -> Linear(num_classes) on con nodes.

Inputs are positional in the order of schemas/traffic_graph.md: x_con, x_ip, then
edge_index__<type> for the 8 edge types in common.EDGE_TYPES order (then pairs__<type>).

Node types that receive no message in a step: PyG's HeteroConv leaves them out of its output. With
the contract's edge types every node type receives messages in every step (temporal: con from the
three con->con types, ip from ip__next__ip; spatial: con from the two ip->con types, ip from the two
con->ip types), so nothing is dropped; the code still carries the previous features of a type that
got nothing, so a configuration without some edge type keeps its nodes instead of losing them.
(An individual node without incoming edges gets a zero aggregate, as in eager PyG.)
"""
import torch
import torch.nn.functional as F
from torch_geometric.nn import HeteroConv, SAGEConv

from common import EDGE_TYPES, SPATIAL, TEMPORAL, CON_FEATURES, IP_FEATURES, edge_triple

HIDDEN = 128


class TrafficEncoder(torch.nn.Module):
    def __init__(self, hidden=HIDDEN, layers=2, in_dims=None, negative_slope=0.01):
        super().__init__()
        dims = dict(in_dims or {"con": CON_FEATURES, "ip": IP_FEATURES})
        self.slope = negative_slope
        self.steps = torch.nn.ModuleList()
        for _ in range(layers):
            for group in (TEMPORAL, SPATIAL):
                convs = {}
                for t in group:
                    s, r, d = edge_triple(t)
                    convs[(s, r, d)] = SAGEConv((dims[s], dims[d]), hidden, aggr="mean",
                                                normalize=True)
                self.steps.append(HeteroConv(convs, aggr="sum"))
                for t in group:
                    dims[edge_triple(t)[2]] = hidden

    def encode(self, x_con, x_ip, edge_indices):
        x = {"con": x_con, "ip": x_ip}
        ei = {edge_triple(t): e for t, e in zip(EDGE_TYPES, edge_indices)}
        for step in self.steps:
            out = step(x, ei)
            # Carry node types that received nothing (see the module comment).
            x = {k: F.leaky_relu(out[k], self.slope) if k in out else x[k] for k in x}
        return x["con"], x["ip"]

    def forward(self, x_con, x_ip, *edge_indices):
        return self.encode(x_con, x_ip, edge_indices)


class TrafficLinkPred(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = TrafficEncoder()

    def forward(self, x_con, x_ip, *rest):
        n = len(EDGE_TYPES)
        edge_indices, pairs = rest[:n], rest[n:]
        h_con, h_ip = self.encoder.encode(x_con, x_ip, edge_indices)
        h = {"con": h_con, "ip": h_ip}
        scores = []
        for t, p in zip(EDGE_TYPES, pairs):
            s, _, d = edge_triple(t)
            scores.append((h[s][p[0]] * h[d][p[1]]).sum(dim=-1))
        return tuple(scores)


class TrafficClassifier(torch.nn.Module):
    def __init__(self, num_classes=8, negative_slope=0.01):
        super().__init__()
        self.encoder = TrafficEncoder()
        self.fc1 = torch.nn.Linear(HIDDEN, HIDDEN)
        self.fc2 = torch.nn.Linear(HIDDEN, num_classes)
        self.slope = negative_slope

    def forward(self, x_con, x_ip, *edge_indices):
        h_con, _ = self.encoder.encode(x_con, x_ip, edge_indices)
        return self.fc2(F.leaky_relu(self.fc1(h_con), self.slope))
