"""Per-hop trimming for neighbour-sampled mini-batches, for any declared dataflow.

``NeighborLoader`` lays a mini-batch out hop by hop: the seed nodes first, then the nodes first
reached at hop 1, hop 2, ..., and the edges in blocks, block ``k`` holding the sampled in-edges
of the nodes of hop ``k - 1``. With ``num_sampled_nodes_per_hop`` and
``num_sampled_edges_per_hop``, a model can drop, before each message-passing step, the nodes
and edges that can no longer reach a seed (``torch_geometric.utils.trim_to_layer``).

graphseq does this for any plan. What it knows of each step and value (roles, reach in hops,
kinds, levels, the cut table, refusals) is :mod:`graphseq._analysis`, one record per plan and
children; this module is the user's side of it: :func:`mark`, :func:`set_kinds`,
:func:`explain`. Trimming is exact, or it refuses with a :class:`TrimError` naming the step.
See ``docs/scale.md`` for the rules and the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._analysis import (
    EDGES,
    KINDS_KEY,
    NODES,
    Analysis,
    Kind,
    Role,
    TrimError,
    analyze,
    fold_name,
    mark,
    trimmable,
)
from ._codegen import generate

if TYPE_CHECKING:
    from ._sequential import Sequential

__all__ = ["EDGES", "NODES", "Kind", "Role", "TrimError", "analysis", "explain", "mark",
           "set_kinds", "trimmable", "trimmed_code"]


def set_kinds(
    model: Sequential,
    *,
    node: Iterable[str] = (),
    edge: Iterable[str] = (),
    edge_index: Iterable[str] = (),
    other: Iterable[str] = (),
) -> Sequential:
    """Say explicitly what kind of value some names hold; they then take part in no inference.

    Every value bound to such a name (an input, or any step's output of that name) has the
    given kind: node-level values are cut to the current nodes, edge-level ones to the current
    edges, edge indices along their second dimension, and ``other`` values are never cut.
    A new call replaces the previous overrides.

    Args:
        model: The model.
        node: Names of node-level values (one row per node).
        edge: Names of edge-level values (one row per edge).
        edge_index: Names of edge indices (``[2, num_edges]``).
        other: Names that are never cut (graph-level values, constants).

    Returns:
        The model.

    Raises:
        TrimError: A name is not a value of the model, or is given two kinds.

    Example:
        >>> import torch
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import set_kinds
        >>> model = Sequential("x, edge_index, u", [
        ...     (SAGEConv(4, 4), "x, edge_index -> h"),
        ...     (lambda h, u: h + u, "h, u -> out"),
        ... ])
        >>> _ = set_kinds(model, other=["u"])
    """
    plan = model.plan
    known = dict.fromkeys(plan.inputs.names)
    for step in plan.steps:
        known.update(dict.fromkeys(step.header.outs))
    given: dict[str, Kind] = {}
    for kind, names in (("node", node), ("edge", edge), ("edge_index", edge_index),
                        ("other", other)):
        for raw in [names] if isinstance(names, str) else names:
            name = fold_name(raw) if isinstance(raw, str) else raw
            if name not in known:
                raise TrimError(
                    f"set_kinds() names {raw!r}, which is no value of the model; "
                    f"values: {', '.join(known)}."
                )
            if given.get(name, kind) != kind:
                raise TrimError(f"set_kinds() gives {name!r} two kinds: {given[name]} and {kind}.")
            given[name] = kind  # type: ignore[assignment]
    # Under a key no step name can take (step names hold no '.'): it pickles with the model.
    model.__dict__[KINDS_KEY] = tuple(sorted(given.items()))
    return model


def analysis(model: Sequential) -> Analysis:
    """The :class:`~graphseq._analysis.Analysis` of ``model``: its plan, children and kinds.

    Args:
        model: A graphseq model.

    Returns:
        The record (cached; it follows marks, kinds, edits and training modes).

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> [step.level for step in analysis(model).steps]
        [0, 1]
    """
    return analyze(model.plan, model.children_by_name(), model.__dict__.get(KINDS_KEY, ()))


def trimmed_code(model: Sequential) -> str:
    """The source of the trimmed forward that a call with the per-hop counts runs.

    ``model.code`` shows the plain forward; this is the same plan written with a cut before
    each read that the analysis cuts (see :func:`explain`).

    Args:
        model: A graphseq model.

    Returns:
        The source.

    Raises:
        TrimError: The model cannot be trimmed exactly (the message says why).

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> print(trimmed_code(model).splitlines()[3].strip())
        x = modules['module_1'](cut_node(x, nodes, 1, 0), cut_index(edge_index, edges, nodes, 1, 0))
    """
    found = analysis(model)
    if found.error is not None:
        raise TrimError(f"cannot trim this model exactly: {found.error}")
    return generate(model.plan, "trimmed", found).source


def explain(model: Sequential) -> str:
    """How trimming sees ``model``: each step's role and level, each value's kind.

    Args:
        model: A graphseq model.

    Returns:
        One line per step, then the kinds of the values, then why it cannot be trimmed (if so).

    Example:
        >>> from torch.nn import ReLU
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import explain
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      ReLU(), (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> print(explain(model))
        step 0 ('module_0'): layer (1 hop) at level 0
        step 1 ('module_1'): rowwise at level 1, cuts x
        step 2 ('module_2'): layer (1 hop) at level 1, cuts edge_index
        values: x node, edge_index edge_index
        batches need 2 hops
    """
    found = analysis(model)
    lines = []
    for step in found.steps:
        role: str = step.role
        if role == "layer":
            role += f" ({step.hops} hop{'s' if step.hops != 1 else ''})"
        cut = [c.name for arg in step.cuts for c in arg if c.kind is not None]
        text = f", cuts {', '.join(dict.fromkeys(cut))}" if cut else ""
        if not cut and step.role != "layer":
            text = " (cuts nothing)"
        lines.append(f"{step.where}: {role} at level {step.level}{text}")
    lines.append("values: " + ", ".join(f"{n} {k}" for n, k in found.kinds.items()))
    if found.error is not None:
        lines.append(f"cannot trim: {found.error}")
    else:
        lines.append(f"batches need {found.hops} hop{'s' if found.hops != 1 else ''}")
    return "\n".join(lines)


