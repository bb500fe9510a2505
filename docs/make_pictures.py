"""Regenerate the README's diagrams: ``python docs/make_pictures.py`` (needs Graphviz ``dot``)."""

from pathlib import Path

import torch
from torch.nn import Dropout, Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge, global_mean_pool

import graphseq

HERE = Path(__file__).parent

jk = graphseq.Sequential('x, edge_index, batch', [
    (Dropout(p=0.5), 'x -> x'),
    (GCNConv(16, 64), 'x, edge_index -> x1'),
    ReLU(inplace=True),
    (GCNConv(64, 64), 'x1, edge_index -> x2'),
    ReLU(inplace=True),
    (JumpingKnowledge("cat", 64, num_layers=2), '[x1, x2] -> x'),
    (global_mean_pool, 'x, batch -> x'),
    Linear(2 * 64, 3),
])
jk.summary(  # records the shapes that label the edges
    x=torch.randn(10, 16),
    edge_index=torch.randint(0, 10, (2, 30)),
    batch=torch.tensor([0] * 5 + [1] * 5),
)
print(jk.draw(HERE / "jk.svg"))

gcn = graphseq.Sequential('x, edge_index, w', [
    (GCNConv(16, 32), 'x, edge_index, edge_weight=w -> x'),
    ReLU(inplace=True),
    (GCNConv(32, 7), 'x, edge_index, edge_weight=w -> x'),
])
print(gcn.draw(HERE / "gcn.svg"))
