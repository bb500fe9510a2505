"""Graph classification with jumping knowledge and ``global_mean_pool``.

The data is PyG's ``FakeDataset`` (generated, no download): random graphs whose node features
are shifted by the graph's class, so the classes can be learnt. Jumping knowledge reads the
outputs of both GCN layers as one packed list, ``'[x1, x2] -> x'``: no lambda needed.

    python examples/graph_classification_jk.py --epochs 10
"""

from __future__ import annotations

import argparse
import random

import torch
from torch.nn import Linear, ReLU
from torch_geometric.datasets import FakeDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, JumpingKnowledge, global_mean_pool

import graphseq


def build_model(in_channels: int, hidden: int, classes: int) -> graphseq.Sequential:
    """Two GCN layers, their outputs concatenated by jumping knowledge, pooled per graph."""
    return graphseq.Sequential("x, edge_index, batch", {
        "conv1": (GCNConv(in_channels, hidden), "x, edge_index -> x1"),
        "act1": ReLU(),
        "conv2": (GCNConv(hidden, hidden), "x1, edge_index -> x2"),
        "act2": ReLU(),
        "jk": (JumpingKnowledge("cat"), "[x1, x2] -> x"),
        "pool": (global_mean_pool, "x, batch -> x"),
        "head": (Linear(2 * hidden, classes), "x -> x"),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--graphs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draw", metavar="FILE.svg", help="also write the model's diagram")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)  # FakeDataset draws graph labels with `random`
    dataset = FakeDataset(
        num_graphs=args.graphs, avg_num_nodes=20, avg_degree=4, num_channels=8, num_classes=3
    )
    split = int(0.8 * len(dataset))
    train_loader = DataLoader(dataset[:split], batch_size=32, shuffle=True)
    test_loader = DataLoader(dataset[split:], batch_size=64)

    model = build_model(dataset.num_features, 32, dataset.num_classes)
    print(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for batch in train_loader:
            optimizer.zero_grad()
            out = model(batch.x, batch.edge_index, batch.batch)
            loss = torch.nn.functional.cross_entropy(out, batch.y)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.num_graphs
        losses.append(total / split)
        print(f"epoch {epoch:3d}  loss {losses[-1]:.4f}")

    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in test_loader:
            pred = model(batch.x, batch.edge_index, batch.batch).argmax(dim=-1)
            correct += int((pred == batch.y).sum())
    print(f"first loss: {losses[0]:.4f}")
    print(f"final loss: {losses[-1]:.4f}")
    print(f"test accuracy: {correct / (len(dataset) - split):.3f}")
    if args.draw:
        print(f"wrote {model.draw(args.draw)}")


if __name__ == "__main__":
    main()
