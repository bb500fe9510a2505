"""Small real PyG models shared by the core tests (importable, so spawned workers can use it)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch.nn import BatchNorm1d, Dropout, Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge, SAGEConv, global_mean_pool

from graphseq import Sequential


def graph(num_nodes: int = 6, channels: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """A small graph: a ring plus chords, two graphs in the batch."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.arange(num_nodes)
    dst = (src + 1) % num_nodes
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    half = num_nodes // 2
    return {
        "x": torch.randn(num_nodes, channels, generator=gen),
        "edge_index": edge_index,
        "edge_weight": torch.rand(edge_index.size(1), generator=gen),
        "batch": torch.tensor([0] * half + [1] * (num_nodes - half)),
    }


def gcn_steps(channels: int = 8, hidden: int = 16, out: int = 3) -> list[Any]:
    """The reference's first docstring example."""
    torch.manual_seed(0)
    return [
        (GCNConv(channels, hidden), "x, edge_index -> x"),
        ReLU(inplace=True),
        (GCNConv(hidden, hidden), "x, edge_index -> x"),
        ReLU(inplace=True),
        Linear(hidden, out),
    ]


def jk_steps(channels: int = 8, hidden: int = 16, out: int = 3) -> list[Any]:
    """The reference's jumping-knowledge example, with list packing instead of a lambda."""
    torch.manual_seed(0)
    return [
        (Dropout(p=0.5), "x -> x"),
        (GCNConv(channels, hidden), "x, edge_index -> x1"),
        ReLU(inplace=True),
        (GCNConv(hidden, hidden), "x1, edge_index -> x2"),
        ReLU(inplace=True),
        (JumpingKnowledge("cat", hidden, num_layers=2), "[x1, x2] -> x"),
        (global_mean_pool, "x, batch -> x"),
        Linear(2 * hidden, out),
    ]


def rich_steps(channels: int = 8, hidden: int = 16) -> dict[str, Any]:
    """Keywords, buffers, SAGE, a tuple of outputs: named steps."""
    torch.manual_seed(0)
    return {
        "conv1": (GCNConv(channels, hidden), "x, edge_index, edge_weight=edge_weight -> h1"),
        "norm": (BatchNorm1d(hidden), "h1 -> h1"),
        "act": ReLU(),
        "conv2": (SAGEConv(hidden, hidden), "h1, edge_index -> h2"),
        "jk": (JumpingKnowledge("max"), "xs=[h1, h2] -> h"),
        "pool": (global_mean_pool, "h, batch -> g"),
        "head": (Linear(hidden, 2), "g -> out"),
    }


def jk_model() -> Sequential:
    """The reference's jumping-knowledge example at 16 -> 64 -> 3 channels."""
    return Sequential("x, edge_index, batch", jk_steps(16, 64, 3))


def jk_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ten nodes with 16 features, 30 random edges, two graphs."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10, 16, generator=gen)
    edge_index = torch.randint(0, 10, (2, 30), generator=gen)
    return x, edge_index, torch.tensor([0] * 5 + [1] * 5)


def named_gcn() -> Sequential:
    """A named GCN whose steps read ``x``, ``x1`` and ``x2`` and return ``out`` (eval mode)."""
    torch.manual_seed(0)
    return Sequential("x, edge_index, batch", OrderedDict(
        drop=(Dropout(0.5), "x -> x"),
        conv1=(GCNConv(8, 16), "x, edge_index -> x1"),
        act1=ReLU(),
        conv2=(GCNConv(16, 16), "x1, edge_index -> x2"),
        act2=ReLU(),
        head=(Linear(16, 3), "x2 -> out"),
    )).eval()


def freeing_steps() -> tuple[list[Any], dict[str, Any]]:
    """Steps for ``Sequential("x", ...)`` whose last one records whether ``big`` was freed.

    ``refs["freed"]`` says whether ``big`` was gone when the last step ran.
    """
    import gc
    import weakref

    refs: dict[str, Any] = {}

    def produce(x: torch.Tensor) -> torch.Tensor:
        out = x * 2
        refs["big"] = weakref.ref(out)
        return out

    def probe(s: torch.Tensor) -> torch.Tensor:
        gc.collect()
        refs["freed"] = refs["big"]() is None
        return s

    return [(produce, "x -> big"), (lambda big: big.sum(), "big -> s"), (probe, "s -> s")], refs
