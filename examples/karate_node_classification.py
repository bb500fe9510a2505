"""Node classification on Zachary's Karate Club with a two-layer GCN.

PyG's ``KarateClub`` is built in (no download): 34 members, 4 communities, and one labelled
member per community (``train_mask``). The other 30 members are the test set.

    python examples/karate_node_classification.py --epochs 100
"""

from __future__ import annotations

import argparse

import torch
from torch.nn import Dropout, ReLU
from torch_geometric.datasets import KarateClub
from torch_geometric.nn import GCNConv

import graphseq


def build_model(in_channels: int, hidden: int, classes: int) -> graphseq.Sequential:
    """The model: two GCN layers; headerless steps pass ``x`` through."""
    return graphseq.Sequential("x, edge_index", {
        "conv1": (GCNConv(in_channels, hidden), "x, edge_index -> x"),
        "act": ReLU(),
        "drop": Dropout(0.5),
        "conv2": (GCNConv(hidden, classes), "x, edge_index -> x"),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draw", metavar="FILE.svg", help="also write the model's diagram")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dataset = KarateClub()
    data = dataset[0]
    model = build_model(dataset.num_features, 16, dataset.num_classes)
    print(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

    first = last = float("nan")
    for epoch in range(1, args.epochs + 1):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        loss = torch.nn.functional.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        first = loss.item() if epoch == 1 else first
        last = loss.item()
        if epoch % 20 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {last:.4f}")

    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(dim=-1)
    test = ~data.train_mask
    accuracy = (pred[test] == data.y[test]).float().mean().item()
    print(f"first loss: {first:.4f}")
    print(f"final loss: {last:.4f}")
    print(f"test accuracy: {accuracy:.3f}")
    if args.draw:
        print(f"wrote {model.draw(args.draw)}")


if __name__ == "__main__":
    main()
