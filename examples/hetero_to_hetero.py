"""A heterogeneous GNN: one graphseq model, made typed by ``graphseq.to_hetero``.

``graphseq.to_hetero`` makes one copy of each layer per edge type (combined per destination
node type with ``aggr``) and of each row-wise step per node type, as PyG's ``to_hetero``
does, but the result is still a graphseq model: the same headers, a summary, diagrams,
surgery and per-type trimming. Its ``state_dict`` is PyG's, so the end of this script loads
it into PyG's own ``to_hetero`` of the same model and checks that the outputs agree. The
recipe is PyG's: lazy ``SAGEConv((-1, -1), ...)`` layers, one forward to initialise them,
then train. The data is PyG's generated ``FakeHeteroDataset``; the task is to classify the
nodes of type ``v0``, whose features are shifted by their class.

    python examples/hetero_to_hetero.py --epochs 30
"""

from __future__ import annotations

import argparse
import random
import warnings

import torch
from torch.nn import ReLU
from torch_geometric.datasets import FakeHeteroDataset
from torch_geometric.nn import SAGEConv, to_hetero

import graphseq


def build_model(hidden: int, classes: int) -> graphseq.Sequential:
    """A homogeneous two-layer GraphSAGE with lazy input sizes."""
    return graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act": ReLU(),
        "conv2": (SAGEConv((-1, -1), classes), "x, edge_index -> x"),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data = FakeHeteroDataset(avg_num_nodes=200, avg_degree=5, avg_num_channels=16,
                             num_classes=3)[0]
    labelled = data["v0"]
    # The generated labels are random; shift the features by the class (as FakeDataset
    # does for homogeneous graphs) so that there is something to learn.
    labelled.x = labelled.x + labelled.y.unsqueeze(1)
    train = torch.rand(labelled.num_nodes) < 0.8
    test = ~train

    model = build_model(32, 3)
    print(model)
    hetero = graphseq.to_hetero(model, data.metadata(), aggr="sum")
    with torch.no_grad():  # initialise the lazy layers
        hetero(data.x_dict, data.edge_index_dict)
    optimizer = torch.optim.Adam(hetero.parameters(), lr=0.01)

    first = last = float("nan")
    for epoch in range(1, args.epochs + 1):
        hetero.train()
        optimizer.zero_grad()
        out = hetero(data.x_dict, data.edge_index_dict)["v0"]
        loss = torch.nn.functional.cross_entropy(out[train], labelled.y[train])
        loss.backward()
        optimizer.step()
        first = loss.item() if epoch == 1 else first
        last = loss.item()
        if epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {last:.4f}")

    hetero.eval()
    with torch.no_grad():
        pred = hetero(data.x_dict, data.edge_index_dict)["v0"].argmax(dim=-1)
    accuracy = (pred[test] == labelled.y[test]).float().mean().item()
    with warnings.catch_warnings():  # PyG's to_hetero notes node types that no edge updates
        warnings.simplefilter("ignore", UserWarning)
        pyg = to_hetero(model, data.metadata(), aggr="sum")
    with torch.no_grad():
        pyg(data.x_dict, data.edge_index_dict)  # initialise its lazy layers, then load ours
        pyg.load_state_dict(hetero.state_dict(), strict=True)
        same = torch.equal(pyg(data.x_dict, data.edge_index_dict)["v0"],
                           hetero(data.x_dict, data.edge_index_dict)["v0"])
    print(f"PyG's to_hetero with this checkpoint: {'same' if same else 'different'} outputs")
    print(f"parameters: {sum(p.numel() for p in hetero.parameters()):,}")
    print(f"first loss: {first:.4f}")
    print(f"final loss: {last:.4f}")
    print(f"test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
