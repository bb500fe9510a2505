"""The batches of layer-wise inference: target nodes with their in-neighbourhoods, cut from a CSR.

:class:`Graph` sorts a graph's edges by target once (a stable sort, skipped when they are
sorted already), so the in-edges of the targets ``start .. stop - 1`` are one slice of them,
and gives :class:`Batch` es of target ranges with their 1-hop (or *K*-hop) in-neighbourhoods,
laid out as ``NeighborLoader(num_neighbors=[-1])`` lays them out: the targets first, then the
other nodes. :class:`TypedGraph` does the same for a typed graph (one CSR per edge type, batch
*i* holding the *i*-th range of target nodes of every node type). ``view`` and ``targets`` are
what the generated level functions of :mod:`graphseq.inference` call to read a kept value for
a batch and to keep a layer's target rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Batch", "Graph", "TypedBatch", "TypedGraph", "targets", "view"]

NodeType = str
EdgeType = tuple[str, str, str]


@dataclass
class Batch:
    """One batch of target nodes ``start .. stop - 1`` and their in-edges ``e0 .. e1 - 1``.

    For levels with a layer, ``n_id`` lists the batch's nodes (the targets first, then the
    nodes first reached at each hop of in-edges) and ``edge_index`` is their in-edges in those
    local ids, on ``device``: the targets' in-edges first, then (for layers that reach
    further) the in-edges of the nodes of each hop but the last, whose positions among the
    sorted edges ``e_id`` holds (``None`` for one hop: ``e0 .. e1 - 1``).
    """

    start: int
    stop: int
    e0: int
    e1: int
    device: torch.device
    n_id: Tensor | None = None
    edge_index: Tensor | None = None
    e_id: Tensor | None = None

    @property
    def size(self) -> int:
        """The number of target nodes."""
        return self.stop - self.start

    def describe(self) -> str:
        """The batch's target nodes, for messages."""
        return f"target nodes {self.start}..{self.stop - 1}"


class Graph:
    """The edge index sorted by target once, with its CSR pointer, and the batches it gives."""

    def __init__(self, edge_index: Tensor | None, num_nodes: int) -> None:
        self.num_nodes = num_nodes
        self.perm: Tensor | None = None
        self._local: Tensor | None = None  # node -> local id while a K-hop batch is cut
        if edge_index is None:
            self.src = torch.empty(0, dtype=torch.long)
            self.ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
            self._ptr = [0] * (num_nodes + 1)
            return
        src, dst = edge_index[0], edge_index[1]
        if dst.numel() > 1 and bool((dst[1:] < dst[:-1]).any()):
            self.perm = torch.argsort(dst, stable=True)
            src, dst = src[self.perm], dst[self.perm]
        self.src = src
        counts = torch.bincount(dst, minlength=num_nodes)
        self.ptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=dst.device)
        torch.cumsum(counts, 0, out=self.ptr[1:])
        self._ptr = self.ptr.tolist()

    def count(self, batch_size: int) -> int:
        """How many batches of ``batch_size`` target nodes there are."""
        return -(-self.num_nodes // batch_size)

    def whole(self, device: torch.device) -> Batch:
        """One batch of all nodes and edges, without a neighbourhood."""
        return Batch(0, self.num_nodes, 0, self._ptr[-1], device)

    def permute(self, value: Any) -> Any:
        """An edge-level value in the order of the sorted edges."""
        if self.perm is None or not isinstance(value, Tensor):
            return value
        return value.index_select(0, self.perm.to(value.device))

    def unsort(self, value: Any) -> Any:
        """An edge-level value back in the order of the given edges."""
        if self.perm is None or not isinstance(value, Tensor):
            return value
        out = torch.empty_like(value)
        out[self.perm.to(value.device)] = value
        return out

    def batches(self, batch_size: int, device: torch.device) -> Iterator[Batch]:
        """The batches of ``batch_size`` target nodes, without neighbourhoods."""
        ptr = self._ptr
        for start in range(0, self.num_nodes, batch_size):
            stop = min(start + batch_size, self.num_nodes)
            yield Batch(start, stop, ptr[start], ptr[stop], device)

    def neighbourhood(self, batch: Batch, hops: int = 1) -> None:
        """Give ``batch`` its nodes and local edge index up to ``hops`` hops (targets first)."""
        src = self.src[batch.e0:batch.e1]
        degree = self.ptr[batch.start + 1:batch.stop + 1] - self.ptr[batch.start:batch.stop]
        dst = torch.repeat_interleave(torch.arange(batch.size, device=src.device), degree)
        if hops > 1:
            self._hops(batch, src, dst, hops)
            return
        unique, inverse = torch.unique(src, return_inverse=True)
        inside = (unique >= batch.start) & (unique < batch.stop)
        outside = ~inside
        local = torch.where(inside, unique - batch.start,
                            batch.size + torch.cumsum(outside, 0) - 1)
        batch.n_id = torch.cat([torch.arange(batch.start, batch.stop, device=src.device),
                                unique[outside]])
        batch.edge_index = torch.stack([local[inverse], dst]).to(batch.device)
        batch.e_id = None

    def _hops(self, batch: Batch, src: Tensor, dst: Tensor, hops: int) -> None:
        """:meth:`neighbourhood` for layers that reach ``hops`` > 1 hops of in-edges."""
        if self._local is None:
            self._local = torch.full((self.num_nodes,), -1, dtype=torch.long,
                                     device=src.device)
        local = self._local
        device = src.device
        targets = torch.arange(batch.start, batch.stop, device=device)
        local[targets] = torch.arange(batch.size, device=device)
        n_id, sources, dests = [targets], [], [dst]
        e_id = [torch.arange(batch.e0, batch.e1, device=device)]
        total = batch.size
        try:
            for hop in range(1, hops + 1):
                fresh = torch.unique(src[local[src] < 0])
                local[fresh] = torch.arange(total, total + fresh.numel(), device=device)
                total += fresh.numel()
                n_id.append(fresh)
                sources.append(local[src])
                if hop == hops or fresh.numel() == 0:
                    break
                # The in-edges of the nodes first reached at this hop.
                start = self.ptr[fresh]
                degree = self.ptr[fresh + 1] - start
                owner = torch.repeat_interleave(torch.arange(fresh.numel(), device=device),
                                                degree)
                first = torch.cumsum(degree, 0) - degree
                edges = start[owner] + torch.arange(owner.numel(), device=device) - first[owner]
                e_id.append(edges)
                src = self.src[edges]
                dests.append(local[fresh][owner])
            batch.n_id = torch.cat(n_id)
            batch.edge_index = torch.stack([torch.cat(sources), torch.cat(dests)]).to(
                batch.device)
            batch.e_id = torch.cat(e_id)
        finally:
            local[torch.cat(n_id)] = -1


def view(value: Any, batch: Batch | TypedBatch, how: str) -> Any:
    """A kept value's part that ``batch`` reads: ``how`` is a :class:`~graphseq.inference.Read`
    view (``gather``: the rows of the batch's nodes; ``pair``: those rows and the targets' first
    rows of them, ``(x, x[:size])``, for a layer of the analysis's ``TARGET_PAIRS`` on a 1-hop
    batch; ``rows``: its targets' rows; ``edges``, ``gather_edges``: its edges' rows). A typed
    value is a dict by type, viewed type by type (``pair`` as ``gather``: a typed layer pairs
    its source and destination types itself)."""
    if isinstance(batch, TypedBatch):
        parts: Mapping[Any, Batch] = batch.edges if how in ("edges", "gather_edges") else \
            batch.nodes
        how = "gather" if how == "pair" else how
        return {key: view(part, parts[key], how) for key, part in value.items()}
    if how in ("gather", "pair"):
        assert batch.n_id is not None
        rows = value.index_select(0, batch.n_id.to(value.device)).to(batch.device)
        if how == "pair" and batch.e_id is None:  # 1 hop: every edge ends at a target
            return rows, rows[:batch.size]
        return rows
    if how == "gather_edges" and batch.e_id is not None:
        return value.index_select(0, batch.e_id.to(value.device)).to(batch.device)
    if how == "rows":
        return value[batch.start:batch.stop].to(batch.device)
    return value[batch.e0:batch.e1].to(batch.device)  # "edges"


def targets(value: Any, batch: Batch | TypedBatch) -> Any:
    """A layer's output rows for the batch's target nodes (the first ones; by type if typed)."""
    if isinstance(batch, TypedBatch):
        if isinstance(value, Mapping):
            return {key: targets(part, batch.nodes[key]) for key, part in value.items()}
        return value
    if isinstance(value, Tensor) and value.dim() > 0:
        return value.narrow(0, 0, batch.size)
    return value




# Typed graphs: one CSR per edge type -----------------------------------------------------------


@dataclass
class TypedBatch:
    """Batch *i* of a typed graph: the *i*-th range of target nodes of every node type.

    ``nodes`` has, per node type, a :class:`Batch` of its target range (``n_id``: its targets,
    then the other nodes of that type that their in-edges start at); ``edges`` has, per edge
    type, a :class:`Batch` whose ``e0 .. e1 - 1`` are the in-edges of its destination type's
    targets among that edge type's sorted edges; ``edge_index`` is, per edge type, those edges
    in the local ids of their source and destination types.
    """

    index: int
    nodes: dict[NodeType, Batch]
    edges: dict[EdgeType, Batch]
    device: torch.device
    edge_index: dict[EdgeType, Tensor] | None = None

    def describe(self) -> str:
        """The batch's target nodes by type, for messages."""
        ranges = ", ".join(f"{b.start}..{b.stop - 1} of {t!r}" for t, b in self.nodes.items()
                           if b.size)
        return f"batch {self.index} (target nodes {ranges or 'none'})"


class TypedGraph:
    """A typed graph's edge indices, each sorted by target once, and the batches they give."""

    def __init__(self, edge_index: Mapping[EdgeType, Tensor],
                 num_nodes: Mapping[NodeType, int]) -> None:
        self.num_nodes = dict(num_nodes)
        self.graphs = {key: Graph(value, num_nodes[key[-1]]) for key, value in edge_index.items()}

    def count(self, batch_size: int) -> int:
        """How many batches of ``batch_size`` target nodes (of the largest type) there are."""
        return -(-max(self.num_nodes.values(), default=0) // batch_size)

    def whole(self, device: torch.device) -> TypedBatch:
        """One batch of all nodes and edges, without neighbourhoods."""
        return TypedBatch(0, {t: Batch(0, n, 0, 0, device) for t, n in self.num_nodes.items()},
                          {key: g.whole(device) for key, g in self.graphs.items()}, device)

    def permute(self, value: Any) -> Any:
        """An edge-level value (a dict by edge type) in the order of the sorted edges."""
        if not isinstance(value, Mapping):
            return value
        return {key: self.graphs[key].permute(part) for key, part in value.items()}

    def unsort(self, value: Any) -> Any:
        """An edge-level value back in the order of the given edges."""
        if not isinstance(value, Mapping):
            return value
        return {key: self.graphs[key].unsort(part) for key, part in value.items()}

    def batches(self, batch_size: int, device: torch.device) -> Iterator[TypedBatch]:
        """The batches, without neighbourhoods: the *i*-th target range of every type."""
        for i in range(self.count(batch_size)):
            nodes = {}
            for node_type, n in self.num_nodes.items():
                start = min(i * batch_size, n)
                nodes[node_type] = Batch(start, min(start + batch_size, n), 0, 0, device)
            edges = {}
            for key, graph in self.graphs.items():
                dst = nodes[key[-1]]
                edges[key] = Batch(dst.start, dst.stop, graph._ptr[dst.start],
                                   graph._ptr[dst.stop], device)
            yield TypedBatch(i, nodes, edges, device)

    def neighbourhood(self, batch: TypedBatch, hops: int = 1) -> None:
        """Give ``batch`` each type's nodes and each edge type's local edge index (1 hop)."""
        if hops != 1:
            raise ValueError("typed batches have 1-hop neighbourhoods only")
        sources: dict[NodeType, list[tuple[EdgeType, Tensor]]] = {}
        dests: dict[EdgeType, Tensor] = {}
        for key, graph in self.graphs.items():
            part = batch.edges[key]
            src = graph.src[part.e0:part.e1]
            degree = graph.ptr[part.start + 1:part.stop + 1] - graph.ptr[part.start:part.stop]
            dests[key] = torch.repeat_interleave(torch.arange(part.size, device=src.device),
                                                 degree)
            sources.setdefault(key[0], []).append((key, src))
        batch.edge_index = {}
        for node_type, part in batch.nodes.items():
            ends = sources.get(node_type, [])
            firsts = torch.arange(part.start, part.stop)
            if not ends:
                part.n_id = firsts
                continue
            unique, inverse = torch.unique(torch.cat([src for _, src in ends]),
                                           return_inverse=True)
            inside = (unique >= part.start) & (unique < part.stop)
            outside = ~inside
            local = torch.where(inside, unique - part.start,
                                part.size + torch.cumsum(outside, 0) - 1)
            part.n_id = torch.cat([firsts.to(unique.device), unique[outside]])
            for (key, _), ids in zip(ends, inverse.split([s.numel() for _, s in ends]),
                                       strict=True):
                batch.edge_index[key] = torch.stack([local[ids], dests[key]]).to(batch.device)
