"""Graph classification on typed graphs: a graphseq model made typed by ``graphseq.to_hetero``.

PyG's ``to_hetero`` keeps a pooled value per node type only through its own aggregation;
graphseq pools each node type with that type's ``batch`` vector, then combines the types as
``combine`` says: ``'cat'`` here (one block of features per node type), or ``'sum'``,
``'mean'``, ``'max'``, ... or one chosen node type. The graphs are made in memory: papers
and authors, with the class of a graph shifting its papers' features.

    python examples/hetero_graph_level.py --epochs 30
"""

from __future__ import annotations

import argparse

import torch
from torch.nn import Linear, ReLU
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader
from torch_geometric.nn import SAGEConv, global_mean_pool

import graphseq

METADATA = (["paper", "author"], [("author", "writes", "paper"), ("paper", "rev_writes", "author")])


def make_graph(label: int, gen: torch.Generator) -> HeteroData:
    """One typed graph whose papers' features are shifted by its class."""
    papers = int(torch.randint(4, 9, (1,), generator=gen))
    authors = int(torch.randint(2, 6, (1,), generator=gen))
    data = HeteroData()
    data["paper"].x = torch.randn(papers, 8, generator=gen) + label
    data["author"].x = torch.randn(authors, 4, generator=gen)
    writes = torch.stack([torch.randint(authors, (2 * papers,), generator=gen),
                          torch.randint(papers, (2 * papers,), generator=gen)])
    data["author", "writes", "paper"].edge_index = writes
    data["paper", "rev_writes", "author"].edge_index = writes.flip(0)
    data.y = torch.tensor([label])
    return data


def build_model(hidden: int, classes: int) -> graphseq.Sequential:
    """A homogeneous graph classifier; ``pool`` gets the number of graphs as its size."""
    return graphseq.Sequential("x, edge_index, batch, num_graphs", {
        "conv1": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act": ReLU(),
        "conv2": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "pool": (global_mean_pool, "x, batch, size=num_graphs -> g"),
        "head": (Linear(2 * hidden, classes), "g -> g"),  # 'cat' of two node types
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--graphs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    graphs = [make_graph(i % 2, gen) for i in range(args.graphs)]
    split = int(0.8 * len(graphs))
    train = DataLoader(graphs[:split], batch_size=32, shuffle=True)
    test = DataLoader(graphs[split:], batch_size=64)

    model = build_model(16, 2)
    print(model)
    typed = graphseq.to_hetero(model, METADATA, input_map={"num_graphs": "graph"}, combine="cat")

    def run(batch: HeteroData) -> torch.Tensor:
        out: torch.Tensor = typed(batch.x_dict, batch.edge_index_dict, batch.batch_dict,
                                  batch.num_graphs)
        return out

    with torch.no_grad():  # initialise the lazy layers
        run(next(iter(train)))
    optimizer = torch.optim.Adam(typed.parameters(), lr=0.01)
    first = last = float("nan")
    for epoch in range(1, args.epochs + 1):
        typed.train()
        total = count = 0.0
        for batch in train:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(run(batch), batch.y)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.num_graphs
            count += batch.num_graphs
        last = total / count
        first = last if epoch == 1 else first
        if epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {last:.4f}")

    typed.eval()
    correct = seen = 0
    with torch.no_grad():
        for batch in test:
            correct += int((run(batch).argmax(-1) == batch.y).sum())
            seen += batch.num_graphs
    print(f"parameters: {sum(p.numel() for p in typed.parameters()):,}")
    print(f"first loss: {first:.4f}")
    print(f"final loss: {last:.4f}")
    print(f"test accuracy: {correct / seen:.3f}")


if __name__ == "__main__":
    main()
