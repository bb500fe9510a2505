"""Hop-ordered mini-batches laid out the way ``NeighborLoader`` lays them out, without pyg-lib.

A batch lists the seed nodes first, then the nodes first reached at hop 1, hop 2, ...; its edges
come in blocks, block ``k`` (hop ``k``) holding the sampled in-edges of the nodes of hop
``k - 1``, as ``[source, target]`` pairs. ``num_sampled_nodes`` has one count per hop and one
for the seeds; ``num_sampled_edges`` one per hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class HopBatch:
    """A sampled mini-batch: local ids, global ids and the counts per hop."""

    x: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    n_id: Tensor  # global id of each local node
    e_id: Tensor  # global id of each local edge
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]

    @property
    def batch_size(self) -> int:
        return self.num_sampled_nodes[0]


def random_graph(num_nodes: int, num_edges: int, channels: int, seed: int = 0) -> dict[str, Tensor]:
    """A random directed graph with features and edge weights."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(num_nodes, channels, generator=gen),
        "edge_index": torch.randint(0, num_nodes, (2, num_edges), generator=gen),
        "edge_weight": torch.rand(num_edges, generator=gen),
    }


def sample(graph: dict[str, Tensor], seeds: Tensor, fanouts: list[int], seed: int = 0) -> HopBatch:
    """Sample up to ``fanouts[k]`` in-edges of each node of hop ``k``, without replacement."""
    gen = torch.Generator().manual_seed(seed)
    src, dst = graph["edge_index"]
    local: dict[int, int] = {}
    n_id: list[int] = []
    for node in seeds.tolist():
        if node not in local:
            local[node] = len(n_id)
            n_id.append(node)
    counts_n = [len(n_id)]
    counts_e: list[int] = []
    rows: list[int] = []
    cols: list[int] = []
    e_id: list[int] = []
    frontier = list(n_id)
    for fanout in fanouts:
        new: list[int] = []
        edges = 0
        for node in frontier:
            incoming = (dst == node).nonzero().flatten()
            if incoming.numel() > fanout:
                incoming = incoming[torch.randperm(incoming.numel(), generator=gen)[:fanout]]
            for edge in incoming.tolist():
                source = int(src[edge])
                if source not in local:
                    local[source] = len(n_id)
                    n_id.append(source)
                    new.append(source)
                rows.append(local[source])
                cols.append(local[node])
                e_id.append(edge)
                edges += 1
        counts_n.append(len(new))
        counts_e.append(edges)
        frontier = new
    nodes = torch.tensor(n_id, dtype=torch.long)
    edge_ids = torch.tensor(e_id, dtype=torch.long)
    return HopBatch(
        graph["x"][nodes],
        torch.tensor([rows, cols], dtype=torch.long).view(2, -1),
        graph["edge_weight"][edge_ids],
        nodes,
        edge_ids,
        counts_n,
        counts_e,
    )


def random_batch(
    num_sampled_nodes: list[int],
    num_sampled_edges: list[int],
    channels: int,
    seed: int = 0,
) -> HopBatch:
    """A hop-ordered batch with the given counts, its edges drawn at random within the layout.

    Each edge of hop ``k`` points at a node of hop ``k - 1``, from any node of hops ``0 .. k``
    (the nodes known once hop ``k`` is sampled). Hops with edges need a hop before them with
    nodes; the seeds must be at least one.
    """
    if num_sampled_nodes[0] < 1 or len(num_sampled_edges) != len(num_sampled_nodes) - 1:
        raise ValueError("need seeds and one edge count per hop")
    gen = torch.Generator().manual_seed(seed)
    starts = [0]
    for count in num_sampled_nodes:
        starts.append(starts[-1] + count)
    rows, cols = [], []
    for hop, count in enumerate(num_sampled_edges, start=1):
        targets = num_sampled_nodes[hop - 1]
        if count and not targets:
            raise ValueError(f"hop {hop} has edges but hop {hop - 1} has no nodes")
        cols.append(starts[hop - 1] + torch.randint(0, max(targets, 1), (count,), generator=gen))
        rows.append(torch.randint(0, starts[hop + 1], (count,), generator=gen))
    num_nodes, num_edges = starts[-1], sum(num_sampled_edges)
    edge_index = torch.stack([torch.cat(rows), torch.cat(cols)]) if rows else torch.empty(2, 0)
    return HopBatch(
        torch.randn(num_nodes, channels, generator=gen),
        edge_index.long(),
        torch.rand(num_edges, generator=gen),
        torch.arange(num_nodes),
        torch.arange(num_edges),
        list(num_sampled_nodes),
        list(num_sampled_edges),
    )
