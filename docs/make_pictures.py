"""Regenerate the diagrams in the README and the docs: ``python docs/make_pictures.py``.

Needs Graphviz's ``dot``. ``jk.svg`` is the model of the README's tour and of "Looking at a
model"; ``gcn.svg`` the GCN with edge weights of the same page.
"""

from pathlib import Path

import torch
from torch.nn import Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge, global_mean_pool

import graphseq

HERE = Path(__file__).parent

jk = graphseq.Sequential('x, edge_index, batch', {
    'conv1': (GCNConv(16, 64), 'x, edge_index -> x1'),
    'act1': ReLU(inplace=True),
    'conv2': (GCNConv(64, 64), 'x1, edge_index -> x2'),
    'act2': ReLU(inplace=True),
    'jk': (JumpingKnowledge('cat', 64, num_layers=2), '[x1, x2] -> x'),
    'pool': (global_mean_pool, 'x, batch -> x'),
    'head': Linear(2 * 64, 3),
})
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
gcn.summary(x=torch.randn(8, 16), edge_index=torch.randint(0, 8, (2, 20)), w=torch.rand(20))
print(gcn.draw(HERE / "gcn.svg"))
