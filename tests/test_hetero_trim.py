"""Per-type trimming of typed models: seed outputs and gradients equal the untrimmed model's.

Typed hop-ordered batches are made here without pyg-lib (each type's nodes hop by hop, each edge
type's edges in blocks, block k pointing into hop k - 1); a differential test compares with a
hand-written hierarchical_sage-style model that calls PyG's trim_to_layer, and, where pyg-lib
is installed, real NeighborLoader batches over HeteroData are trimmed too.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.nn import Linear, ReLU
from torch_geometric.nn import GraphConv, HeteroConv, SAGEConv
from torch_geometric.utils import trim_to_layer

import graphseq
from graphseq._analysis import TrimError
from graphseq.hetero import key_name

NODES = ["paper", "author", "venue"]
EDGES = [("author", "writes", "paper"), ("paper", "rev_writes", "author"),
         ("paper", "cites", "paper"), ("paper", "in", "venue"), ("venue", "has", "paper")]
METADATA = (NODES, EDGES)


def hop_batch(hops: int, seed: int, channels: int = 6) -> dict[str, Any]:
    """A typed mini-batch laid out hop by hop, as NeighborLoader lays out HeteroData."""
    rng = random.Random(seed)
    counts = {t: [rng.randint(1, 3)] + [rng.randint(0, 4) for _ in range(hops)] for t in NODES}
    start = {t: [sum(c[:k]) for k in range(hops + 2)] for t, c in counts.items()}
    edge_index, edge_counts = {}, {}
    for et in EDGES:
        src, _, dst = et
        blocks, per_block = [], []
        for k in range(1, hops + 1):
            pairs = []
            for d in range(start[dst][k - 1], start[dst][k]):
                reach = start[src][k + 1]  # sources found by hop k
                for _ in range(rng.randint(0, 3) if reach else 0):
                    pairs.append((rng.randrange(reach), d))
            per_block.append(len(pairs))
            blocks += pairs
        edge_index[et] = torch.tensor(blocks, dtype=torch.long).t().reshape(2, -1)
        edge_counts[et] = per_block
    gen = torch.Generator().manual_seed(seed)
    x = {t: torch.randn(sum(c), channels, generator=gen) for t, c in counts.items()}
    return {"x": x, "edge_index": edge_index, "nodes": counts, "edges": edge_counts}


def random_model(rng: random.Random, channels: int = 6) -> tuple[graphseq.Sequential, int]:
    """A chain of 1-3 layers with ReLUs, Linears and skips; returns it and its layer count."""
    steps: dict[str, Any] = {}
    layers = rng.randint(1, 3)
    for i in range(layers):
        conv = SAGEConv(channels, channels) if rng.random() < 0.6 else GraphConv(channels, channels)
        if rng.random() < 0.4:
            steps[f"conv{i}"] = (conv, "x, edge_index -> h")
            steps[f"skip{i}"] = (Linear(channels, channels), "x -> s")
            steps[f"add{i}"] = (torch.add, "h, s -> x")
        else:
            steps[f"conv{i}"] = (conv, "x, edge_index -> x")
        if rng.random() < 0.7:
            steps[f"act{i}"] = (ReLU(), "x -> x")
    return graphseq.Sequential("x, edge_index", steps), layers


def _seed_rows(out: dict[str, Tensor], nodes: dict[str, list[int]]) -> dict[str, Tensor]:
    return {t: v[: nodes[t][0]] for t, v in out.items()}


@pytest.mark.parametrize("seed", range(6))
def test_trimmed_seed_rows_and_gradients_equal_untrimmed(seed: int) -> None:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model, layers = random_model(rng)
    typed = graphseq.to_hetero(model, METADATA, aggr=rng.choice(["sum", "mean", "max"]))
    batch = hop_batch(layers + rng.randint(0, 1), seed)
    x, edge_index = batch["x"], batch["edge_index"]

    full = _seed_rows(typed(x, edge_index), batch["nodes"])
    sum(v.square().sum() for v in full.values()).backward()
    want = {n: p.grad.clone() for n, p in typed.named_parameters() if p.grad is not None}
    typed.zero_grad(set_to_none=True)

    out = typed(x, edge_index, num_sampled_nodes_per_hop=batch["nodes"],
                num_sampled_edges_per_hop=batch["edges"])
    trimmed = _seed_rows(out, batch["nodes"])
    assert list(trimmed) == list(full)
    for t in full:
        torch.testing.assert_close(trimmed[t], full[t], rtol=1e-5, atol=1e-6)
    sum(v.square().sum() for v in trimmed.values()).backward()
    for name, p in typed.named_parameters():
        if name in want:
            assert p.grad is not None, name
            torch.testing.assert_close(p.grad, want[name], rtol=1e-5, atol=1e-6)
        else:
            assert p.grad is None or not p.grad.any(), name


def test_trimming_drops_rows_per_type() -> None:
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(6, 6), "x, edge_index -> x"),
        "conv2": (SAGEConv(6, 6), "x, edge_index -> x"),
    })
    typed = graphseq.to_hetero(model, METADATA)
    batch = hop_batch(2, 3)
    sizes: dict[str, list[int]] = {}

    def record(module: Any, args: tuple[Any, ...], output: Any) -> None:
        sizes.setdefault("conv2", []).extend(v.size(0) for v in args[0].values())

    handle = typed.conv2.register_forward_hook(record)
    typed(batch["x"], batch["edge_index"], num_sampled_nodes_per_hop=batch["nodes"],
          num_sampled_edges_per_hop=batch["edges"])
    handle.remove()
    assert sizes["conv2"] == [sum(batch["nodes"][t][:2]) for t in NODES]  # hops 0 and 1 only


def test_bad_typed_counts_are_refused() -> None:
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(6, 6), "x, edge_index -> x"),
        "conv2": (SAGEConv(6, 6), "x, edge_index -> x"),
    })
    typed = graphseq.to_hetero(model, METADATA)
    batch = hop_batch(2, 1)
    x, edge_index = batch["x"], batch["edge_index"]
    with pytest.raises(TrimError, match="both counts as dicts"):
        typed(x, edge_index, num_sampled_nodes_per_hop=batch["nodes"],
              num_sampled_edges_per_hop=[1, 2])
    short = {t: c[:2] for t, c in batch["nodes"].items()}
    with pytest.raises(TrimError, match="need at least 3 counts"):
        typed(x, edge_index, num_sampled_nodes_per_hop=short,
              num_sampled_edges_per_hop=batch["edges"])
    wrong = {t: [c[0] + 1, *c[1:]] for t, c in batch["nodes"].items()}
    with pytest.raises(TrimError, match="rows for 'paper'"):
        typed(x, edge_index, num_sampled_nodes_per_hop=wrong,
              num_sampled_edges_per_hop=batch["edges"])


class HierarchicalSage(torch.nn.Module):
    """PyG's examples/hetero/hierarchical_sage.py model: HeteroConv with trim_to_layer."""

    def __init__(self, edge_types: list[Any], hidden: int, out: int, num_layers: int) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(
            HeteroConv({et: SAGEConv((-1, -1), hidden) for et in edge_types}, aggr="sum")
            for _ in range(num_layers))
        self.lin = Linear(hidden, out)

    def forward(self, x_dict: Any, edge_index_dict: Any, num_sampled_edges_dict: Any,
                num_sampled_nodes_dict: Any) -> Tensor:
        for i, conv in enumerate(self.convs):
            x_dict, edge_index_dict, _ = trim_to_layer(
                layer=i, num_sampled_nodes_per_hop=num_sampled_nodes_dict,
                num_sampled_edges_per_hop=num_sampled_edges_dict, x=x_dict,
                edge_index=edge_index_dict)
            x_dict = conv(x_dict, edge_index_dict)
            x_dict = {key: x.relu() for key, x in x_dict.items()}
        out: Tensor = self.lin(x_dict["paper"])
        return out


def graphseq_sage(hidden: int, out: int) -> graphseq.Sequential:
    """The same model declared for graphseq.to_hetero (the head runs per type)."""
    return graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act1": ReLU(),
        "conv2": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act2": ReLU(),
        "lin": (Linear(hidden, out), "x -> x"),
    })


def _paired(batch: dict[str, Any]) -> tuple[graphseq.Sequential, HierarchicalSage]:
    torch.manual_seed(0)
    typed = graphseq.to_hetero(graphseq_sage(8, 3), METADATA)
    hand = HierarchicalSage(EDGES, 8, 3, 2)
    with torch.no_grad():
        typed(batch["x"], batch["edge_index"])
        hand(batch["x"], batch["edge_index"], batch["edges"], batch["nodes"])
    for i in range(2):
        conv = getattr(typed, f"conv{i + 1}")
        for et in EDGES:
            hand.convs[i].convs[et].load_state_dict(  # type: ignore[index]
                getattr(conv, key_name(et)).state_dict())
    hand.lin.load_state_dict(typed.lin.paper.state_dict())
    return typed, hand


def _compare(typed: graphseq.Sequential, hand: HierarchicalSage, batch: dict[str, Any]) -> None:
    seeds = batch["nodes"]["paper"][0]
    ours = typed(batch["x"], batch["edge_index"], num_sampled_nodes_per_hop=batch["nodes"],
                 num_sampled_edges_per_hop=batch["edges"])["paper"][:seeds]
    theirs = hand(batch["x"], batch["edge_index"], batch["edges"], batch["nodes"])[:seeds]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    ours.square().sum().backward()
    theirs.square().sum().backward()
    for i in range(2):
        conv = getattr(typed, f"conv{i + 1}")
        for et in EDGES:
            mine = getattr(conv, key_name(et))
            other = hand.convs[i].convs[et]  # type: ignore[index]
            for (name, p), q in zip(mine.named_parameters(), other.parameters(), strict=True):
                if p.grad is None:
                    assert q.grad is None or not q.grad.any(), (et, name)
                else:
                    torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_trimmed_typed_model_equals_hand_written_hierarchical_sage(seed: int) -> None:
    batch = hop_batch(2, 10 + seed)
    typed, hand = _paired(batch)
    _compare(typed, hand, batch)


def _hetero_data(seed: int = 0) -> Any:
    from torch_geometric.data import HeteroData

    gen = torch.Generator().manual_seed(seed)
    data = HeteroData()
    sizes = {"paper": 40, "author": 30, "venue": 5}
    for t, n in sizes.items():
        data[t].x = torch.randn(n, 6, generator=gen)
    for src, rel, dst in EDGES:
        m = 4 * sizes[dst]
        data[src, rel, dst].edge_index = torch.stack([
            torch.randint(sizes[src], (m,), generator=gen),
            torch.randint(sizes[dst], (m,), generator=gen)])
    return data


def test_real_neighbor_loader_batches_are_trimmed_exactly() -> None:
    pytest.importorskip("pyg_lib")
    from torch_geometric.loader import NeighborLoader

    data = _hetero_data()
    loader = NeighborLoader(data, num_neighbors=[3, 2], input_nodes=("paper", torch.arange(8)),
                            batch_size=4)
    for sampled in loader:
        batch = {"x": sampled.x_dict, "edge_index": sampled.edge_index_dict,
                 "nodes": {t: list(c) for t, c in sampled.num_sampled_nodes_dict.items()},
                 "edges": {et: list(c) for et, c in sampled.num_sampled_edges_dict.items()}}
        typed, hand = _paired(batch)
        seeds = batch["nodes"]["paper"][0]
        full = typed(batch["x"], batch["edge_index"])["paper"][:seeds]
        trimmed = typed(batch["x"], batch["edge_index"], num_sampled_nodes_per_hop=batch["nodes"],
                        num_sampled_edges_per_hop=batch["edges"])["paper"][:seeds]
        torch.testing.assert_close(trimmed, full, rtol=1e-5, atol=1e-6)
        _compare(typed, hand, batch)
