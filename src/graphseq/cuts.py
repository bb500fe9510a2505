"""What the trimmed forward calls at run time: the per-hop counts checked, and values cut.

Codegen's ``trimmed`` variant writes one call of :func:`counter`'s result at its top and one
cut per read that the analysis's cut table asks for (:func:`cut_node`, :func:`cut_edge`,
:func:`cut_index`); nothing here knows the model. Cuts are written as PyG's ``trim_to_layer``
writes them, relative to a value's own size (``x.size(0) - dropped``), a ``narrow`` view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .analysis import Analysis, TrimError

__all__ = ["counter", "cut_edge", "cut_index", "cut_node"]


def counter(found: Analysis) -> Callable[..., tuple[list[int], list[int]]]:
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

    def counts(nodes: Any, edges: Any, *inputs: Any) -> tuple[list[int], list[int]]:
        node_drop, edge_drop, node_total, edge_total = _drops(nodes, edges, hops)
        if not torch.compiler.is_compiling():
            for name, kind, value in zip(names, kinds, inputs, strict=True):
                _check(name, kind, value, node_total, edge_total)
        return node_drop, edge_drop

    return counts


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


def cut_node(value: Any, drop: Sequence[int], level: int, rows: int) -> Any:
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
    if not isinstance(value, Tensor):
        return value
    return value.narrow(0, 0, value.size(0) - (drop[level] - drop[rows]))


def cut_edge(value: Any, drop: Sequence[int], level: int, rows: int) -> Any:
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
    return cut_node(value, drop, level, rows)


def cut_index(value: Any, edges: Sequence[int], nodes: Sequence[int], level: int,
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
