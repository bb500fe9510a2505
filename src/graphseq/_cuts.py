"""What the trimmed forward calls at run time: the per-hop counts checked, and values cut.

Codegen's ``trimmed`` variant writes one call of :func:`counter`'s result at its top and one
cut per read that the analysis's cut table asks for (:func:`cut_node`, :func:`cut_edge`,
:func:`cut_index`); nothing here knows the model. Cuts are written as PyG's ``trim_to_layer``
writes them, relative to a value's own size (``x.size(0) - dropped``), a ``narrow`` view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ._analysis import Analysis, TrimError

__all__ = ["check_typed", "counter", "cut_edge", "cut_index", "cut_node", "cut_typed",
           "typed_counts"]


def counter(found: Analysis) -> Callable[..., tuple[Any, Any]]:
    """The check of one trimmed call's counts and inputs, for the model ``found`` describes.

    Args:
        found: The model's analysis (its hops and its inputs' kinds).

    Returns:
        ``counts(nodes, edges, *inputs) -> (nodes dropped by level, edges dropped by level)``.

    Example:
        >>> import torch
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import analysis
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> counts = counter(analysis(model))
        >>> counts([1, 2, 1], [2, 1], torch.zeros(4, 4), torch.zeros(2, 3, dtype=torch.long))
        ([0, 1, 3], [0, 1, 3])
    """
    hops = found.hops
    kinds = tuple(kind for _, kind in found.inputs)
    names = tuple(name for name, _ in found.inputs)

    def counts(nodes: Any, edges: Any, *inputs: Any) -> tuple[Any, Any]:
        if isinstance(nodes, dict) or isinstance(edges, dict):  # by type: graphseq.hetero
            return _typed_counts(nodes, edges, hops, names, kinds, inputs)
        node_drop, edge_drop, node_total, edge_total = _drops(nodes, edges, hops)
        if not torch.compiler.is_compiling():
            for name, kind, value in zip(names, kinds, inputs, strict=True):
                _check(name, kind, value, node_total, edge_total)
        return node_drop, edge_drop

    return counts


def _typed_counts(nodes: Any, edges: Any, hops: int, names: tuple[str, ...],
                  kinds: tuple[str, ...], inputs: tuple[Any, ...]) -> tuple[Any, Any]:
    """Counts by node and edge type, for a typed model (values that are dicts by type)."""
    if not any(isinstance(value, dict) for value in inputs):
        raise TrimError("per-hop counts by node or edge type (dicts) are for typed models "
                        "(graphseq.to_hetero); this model trims homogeneous mini-batches.")
    node_drop, edge_drop = typed_counts(nodes, edges, hops)
    if not torch.compiler.is_compiling():
        check_typed(zip(names, kinds, strict=True), dict(zip(names, inputs, strict=True)),
                    nodes, edges)
    return node_drop, edge_drop


def _drops(nodes: Any, edges: Any, hops: int) -> tuple[list[int], list[int], int, int]:
    """Nodes and edges dropped by each level ``0 .. hops``, and the totals."""
    if nodes is None or edges is None:
        missing = "num_sampled_nodes_per_hop" if nodes is None else "num_sampled_edges_per_hop"
        raise TrimError(f"'{missing}' needs to be given as well: trimming takes both counts.")
    if isinstance(nodes, dict) or isinstance(edges, dict):
        raise TrimError("per-hop counts by node or edge type (dicts) are not supported; "
                        "graphseq trims homogeneous mini-batches.")
    if not isinstance(nodes, list | tuple) or not isinstance(edges, list | tuple):
        raise TrimError(
            "num_sampled_nodes_per_hop and num_sampled_edges_per_hop must be lists of ints, as "
            f"NeighborLoader gives them (got {type(nodes).__name__} and {type(edges).__name__})."
        )
    sampled = len(nodes) - 1
    if len(edges) != sampled:
        raise TrimError(
            f"num_sampled_nodes_per_hop has {len(nodes)} counts (seeds + {sampled} hops), so "
            f"num_sampled_edges_per_hop needs {sampled}, not {len(edges)}."
        )
    if hops > sampled:
        raise TrimError(
            f"this model's seed rows depend on {hops} hops of neighbours along its deepest "
            f"path, but the batch was sampled with {sampled} hop(s); sample at least {hops} hops."
        )
    node_drop, edge_drop = [0], [0]
    for level in range(1, hops + 1):
        node_drop.append(node_drop[-1] + nodes[-level])
        edge_drop.append(edge_drop[-1] + edges[-level])
    return node_drop, edge_drop, sum(nodes), sum(edges)


def _check(name: str, kind: str, value: Any, nodes: int, edges: int) -> None:
    if kind == "other" or not isinstance(value, Tensor):
        return
    size, want, what = value.size(0), nodes, "nodes"
    if kind == "edge":
        want, what = edges, "edges"
    elif kind == "edge_index":
        size, want, what = (value.size(1) if value.dim() == 2 else -1), edges, "edges"
    if size != want:
        raise TrimError(
            f"input {name!r} has {size} {what} along its first dimension, but the per-hop "
            f"counts add up to {want}; pass the counts of this batch (data.num_sampled_nodes, "
            f"data.num_sampled_edges), or set its kind with graphseq.trim.set_kinds()."
        )


def cut_node(value: Any, drop: Any, level: int, rows: int) -> Any:
    """A node-level value with the rows of ``rows`` cut to those of ``level``.

    Args:
        value: The value (not a tensor: returned as it is).
        drop: Nodes dropped by each level.
        level: The level of the step that reads it.
        rows: The level its rows have.

    Returns:
        A view.

    Example:
        >>> import torch
        >>> cut_node(torch.arange(5), [0, 2], 1, 0)
        tensor([0, 1, 2])
    """
    if isinstance(value, dict):  # a typed value: cut type by type (graphseq.hetero)
        return cut_typed(value, "node", drop, None, level, rows)
    if not isinstance(value, Tensor):
        return value
    return value.narrow(0, 0, value.size(0) - (drop[level] - drop[rows]))


def cut_edge(value: Any, drop: Any, level: int, rows: int) -> Any:
    """An edge-level value with the edges of ``rows`` cut to those of ``level``.

    Args:
        value: The value (not a tensor: returned as it is).
        drop: Edges dropped by each level.
        level: The level of the step that reads it.
        rows: The level its rows have.

    Returns:
        A view.

    Example:
        >>> import torch
        >>> cut_edge(torch.arange(5), [0, 1], 1, 0)
        tensor([0, 1, 2, 3])
    """
    if isinstance(value, dict):  # a typed value: cut type by type (graphseq.hetero)
        return cut_typed(value, "edge", drop, None, level, rows)
    return cut_node(value, drop, level, rows)


def cut_index(value: Any, edges: Any, nodes: Any, level: int,
              rows: int) -> Any:
    """An edge index with the edges of ``rows`` cut to those of ``level`` (``EdgeIndex``
    sizes too).

    Args:
        value: The edge index (not a tensor: returned as it is).
        edges: Edges dropped by each level.
        nodes: Nodes dropped by each level.
        level: The level of the step that reads it.
        rows: The level its rows have.

    Returns:
        A view.

    Example:
        >>> import torch
        >>> cut_index(torch.tensor([[1, 2], [0, 1]]), [0, 1], [0, 1], 1, 0)
        tensor([[1],
                [0]])
    """
    if isinstance(value, dict):  # a typed value: cut type by type (graphseq.hetero)
        return cut_typed(value, "edge_index", edges, nodes, level, rows)
    if not isinstance(value, Tensor):
        return value
    drop_edges, drop_nodes = edges[level] - edges[rows], nodes[level] - nodes[rows]
    value = value.narrow(1, 0, value.size(1) - drop_edges)
    if not torch.compiler.is_compiling():
        try:
            from torch_geometric import EdgeIndex
        except ImportError:  # pragma: no cover - PyG is how EdgeIndex exists at all
            return value
        if isinstance(value, EdgeIndex):
            size_rows, size_cols = value.sparse_size()
            value.sparse_resize_(None if size_rows is None else size_rows - drop_nodes,
                                 None if size_cols is None else size_cols - drop_nodes)
    return value


# Typed values (graphseq.hetero): cut type by type -------------------


def typed_counts(nodes: Any, edges: Any, hops: int
                 ) -> tuple[dict[Any, list[int]], dict[Any, list[int]]]:
    """Nodes and edges dropped by each level ``0 .. hops``, by node and by edge type.

    Args:
        nodes: ``num_sampled_nodes_per_hop`` by node type (``batch.num_sampled_nodes_dict``).
        edges: ``num_sampled_edges_per_hop`` by edge type (``batch.num_sampled_edges_dict``).
        hops: How many hops the model's seed rows depend on.

    Returns:
        The drops per level, by type.

    Raises:
        TrimError: The counts are not both dicts of lists, or hold too few hops.

    Example:
        >>> typed_counts({'a': [1, 2, 3]}, {('a', 'to', 'a'): [2, 4]}, 2)
        ({'a': [0, 3, 5]}, {('a', 'to', 'a'): [0, 4, 6]})
    """
    if not isinstance(nodes, dict) or not isinstance(edges, dict):
        raise TrimError("per-type trimming takes both counts as dicts: "
                        "num_sampled_nodes_per_hop by node type and num_sampled_edges_per_hop by "
                        "edge type (batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict).")
    drops: list[dict[Any, list[int]]] = [{}, {}]
    for which, counts, extra in ((0, nodes, 1), (1, edges, 0)):
        for key, per_hop in counts.items():
            if not isinstance(per_hop, list | tuple) or len(per_hop) < hops + extra:
                what = "nodes of" if which == 0 else "edges of"
                raise TrimError(
                    f"the per-hop counts of the {what} {key!r} are {per_hop!r}; this model's "
                    f"seed rows depend on {hops} hops, so they need at least {hops + extra} counts "
                    "(sample at least that many hops).")
            drop = [0]
            for level in range(1, hops + 1):
                drop.append(drop[-1] + int(per_hop[-level]))
            drops[which][key] = drop
    return drops[0], drops[1]


def cut_typed(value: Mapping[Any, Any], kind: str, drops: Mapping[Any, Sequence[int]],
              nodes: Mapping[Any, Sequence[int]] | None, level: int,
              rows: int) -> dict[Any, Any]:
    """A typed value cut type by type, as PyG's ``trim_to_layer`` cuts a ``HeteroData`` batch.

    Args:
        value: A dict by node type (node-level) or by edge type (edge-level, edge index).
        kind: ``"node"``, ``"edge"`` or ``"edge_index"``.
        drops: Rows dropped by each level, by the value's types (:func:`typed_counts`).
        nodes: Nodes dropped by each level by node type (an ``EdgeIndex``'s sizes), or ``None``.
        level: The level of the step that reads it.
        rows: The level its rows have.

    Returns:
        A new dict of views.

    Raises:
        TrimError: A type of the value has no counts.

    Example:
        >>> cut_typed({'a': torch.arange(6.)}, 'node', {'a': [0, 3]}, None, 1, 0)['a']
        tensor([0., 1., 2.])
    """
    out = {}
    for key, part in value.items():
        if not isinstance(part, torch.Tensor):
            out[key] = part
            continue
        if key not in drops:
            raise TrimError(f"a typed value has a part for {key!r}, but the per-hop counts have "
                            "none; pass the batch's num_sampled_nodes_dict and "
                            "num_sampled_edges_dict.")
        drop = drops[key][level] - drops[key][rows]
        if kind != "edge_index":
            out[key] = part.narrow(0, 0, part.size(0) - drop)
            continue
        part = part.narrow(1, 0, part.size(1) - drop)
        if not torch.compiler.is_compiling() and isinstance(key, tuple) and nodes is not None:
            from torch_geometric import EdgeIndex

            if isinstance(part, EdgeIndex):
                size_rows, size_cols = part.sparse_size()
                src, dst = nodes.get(key[0]), nodes.get(key[2])
                if size_rows is not None and src is not None:
                    size_rows -= src[level] - src[rows]
                if size_cols is not None and dst is not None:
                    size_cols -= dst[level] - dst[rows]
                part.sparse_resize_(size_rows, size_cols)
        out[key] = part
    return out


def check_typed(kinds: Iterable[tuple[str, str]], env: Mapping[str, Any],
                nodes: Mapping[Any, Sequence[int]], edges: Mapping[Any, Sequence[int]]) -> None:
    """Refuse typed inputs whose sizes do not match the per-type counts.

    Args:
        kinds: The inputs' kinds, from the analysis.
        env: The inputs by name.
        nodes: ``num_sampled_nodes_per_hop`` by node type.
        edges: ``num_sampled_edges_per_hop`` by edge type.

    Raises:
        TrimError: An input's part for a type has another size than its counts add up to.

    Example:
        >>> check_typed([('x', 'node')], {'x': {'a': torch.ones(3, 2)}}, {'a': [1, 2]}, {})
    """
    for name, kind in kinds:
        value = env.get(name)
        if kind == "other" or not isinstance(value, dict):
            continue
        counts = nodes if kind == "node" else edges
        for key, part in value.items():
            if not isinstance(part, torch.Tensor) or key not in counts:
                continue
            size = part.size(1) if kind == "edge_index" else part.size(0)
            if size != sum(counts[key]):
                raise TrimError(
                    f"input {name!r} has {size} rows for {key!r}, but its per-hop counts add up "
                    f"to {sum(counts[key])}; pass this batch's num_sampled_nodes_dict and "
                    "num_sampled_edges_dict.")
