"""Per-hop trimming for neighbour-sampled mini-batches, for any declared dataflow.

``NeighborLoader`` lays a mini-batch out hop by hop: the seed nodes first, then the nodes first
reached at hop 1, hop 2, ..., and the edges in blocks, block ``k`` holding the sampled in-edges
of the nodes of hop ``k - 1``. With ``num_sampled_nodes_per_hop`` and
``num_sampled_edges_per_hop``, a model can drop, before each message-passing step, the nodes
and edges that can no longer reach a seed (``torch_geometric.utils.trim_to_layer``).

graphseq does this for any plan. What it knows of each step and value (roles, reach in hops,
kinds, levels, the cut table, refusals) is :mod:`graphseq.analysis`, one record per plan and
children; this module is the user's side of it: :func:`mark`, :func:`set_kinds`,
:func:`explain`. Trimming is exact, or it refuses with a :class:`TrimError` naming the step.
See ``docs/scale.md`` for the rules and the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .analysis import KINDS_KEY, Analysis, Cut, Kind, Role, TrimError, analyze, fold_name, mark

if TYPE_CHECKING:
    from .plan import Plan
    from .sequential import Sequential
    from .spec import ModelSpec

__all__ = ["EDGES", "NODES", "Kind", "Role", "TrimError", "analysis", "explain", "mark",
           "set_kinds", "trim_branch", "trimmable"]


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
    """The :class:`~graphseq.analysis.Analysis` of ``model``: its plan, children and kinds.

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


@torch.compiler.assume_constant_result
def _constant_analysis(model: Sequential) -> Analysis:
    """:func:`analysis`, which ``torch.compile`` runs once while tracing and keeps as a constant
    (tracing the analysis itself would break the graph)."""
    return analysis(model)


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
        step 1 ('module_1'): rowwise at level 0 (cuts nothing)
        step 2 ('module_2'): layer (1 hop) at level 1, cuts x, edge_index
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


# The hook in the generated forward -----------------------------------------------------------

NODES = "num_sampled_nodes_per_hop"
EDGES = "num_sampled_edges_per_hop"


def trimmable(plan: Plan | ModelSpec) -> bool:
    """Whether the eager forward of ``plan`` (or of a spec's model) takes the trimming keywords.

    It does unless the model already has inputs of those names (then they are its own).

    Args:
        plan: A model's plan, or its spec (only the inputs are read).

    Returns:
        ``True`` when the forward gets ``num_sampled_nodes_per_hop`` and
        ``num_sampled_edges_per_hop``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> trimmable(Sequential("x", [(torch.nn.ReLU(), "x -> x")]).plan)
        True
    """
    return NODES not in plan.inputs.names and EDGES not in plan.inputs.names


def trim_branch(plan: Plan, runner: str) -> list[str]:
    """The lines that open the eager forward: hand a call with counts to :func:`run`.

    Args:
        plan: A model's plan.
        runner: A local name that no value of the plan uses.

    Returns:
        The lines, indented for the body of ``forward``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> plan = Sequential("x", [(torch.nn.ReLU(), "x -> x")]).plan
        >>> print(trim_branch(plan, "run")[0])
            if num_sampled_nodes_per_hop is not None or num_sampled_edges_per_hop is not None:

    A call without the keywords pays two ``is not None`` tests. Under ``torch.fx`` tracing the
    keywords are proxies, which are not ``None``: :func:`run` then traces the untrimmed body.
    """
    names = plan.inputs.names
    args = f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"
    return [
        f"    if {NODES} is not None or {EDGES} is not None:",
        # ``runner`` is bound in the forward's closure (codegen's helpers), not a global.
        f"        return {runner}(self, {args}, {NODES}, {EDGES})",
    ]


# The trimmed call ---------------------------------------------------------------------------




def _counts(nodes: Any, edges: Any, hops: int) -> tuple[list[int], list[int], int, int]:
    """Nodes and edges dropped by each level ``0 .. hops``, and the totals.

    Cuts are written as PyG's ``trim_to_layer`` writes them, relative to a value's own size
    (``x.size(0) - dropped``), which gives ``torch.compile`` the same size expressions.
    """
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


def _value(value: Any, cut: Cut, nodes: Sequence[int], edges: Sequence[int]) -> Any:
    """``value`` cut from the level its rows have to the reader's level."""
    if cut.kind is None or not isinstance(value, Tensor):
        return value
    if cut.kind == "node":
        return value.narrow(0, 0, value.size(0) - (nodes[cut.level] - nodes[cut.rows]))
    if cut.kind == "edge":
        return value.narrow(0, 0, value.size(0) - (edges[cut.level] - edges[cut.rows]))
    return _cut_index(value, edges[cut.level] - edges[cut.rows],
                      nodes[cut.level] - nodes[cut.rows])


def _cut_index(edge_index: Tensor, drop_edges: int, drop_nodes: int) -> Tensor:
    edge_index = edge_index.narrow(1, 0, edge_index.size(1) - drop_edges)
    if not torch.compiler.is_compiling():
        try:
            from torch_geometric import EdgeIndex
        except ImportError:  # pragma: no cover - PyG is how EdgeIndex exists at all
            return edge_index
        if isinstance(edge_index, EdgeIndex):
            rows, cols = edge_index.sparse_size()
            edge_index.sparse_resize_(None if rows is None else rows - drop_nodes,
                                      None if cols is None else cols - drop_nodes)
    return edge_index


def _check(found: Analysis, env: dict[str, Any], nodes: int, edges: int) -> None:
    for name, kind in found.inputs:
        value = env[name]
        if kind == "other" or not isinstance(value, Tensor):
            continue
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


def run(model: Sequential, args: tuple[Any, ...], nodes: Any, edges: Any) -> Any:
    """The trimmed forward: what ``model(*args, num_sampled_..._per_hop=...)`` runs.

    Args:
        model: The model.
        args: Its inputs, in the order of its input args.
        nodes: ``num_sampled_nodes_per_hop``: seeds, then the nodes first reached at each hop.
        edges: ``num_sampled_edges_per_hop``: the edges sampled at each hop.

    Returns:
        What the model returns; node-level outputs keep the rows of the deepest level reached
        (the seeds come first, as in the untrimmed output).

    Raises:
        TrimError: The counts are missing, malformed or do not fit the inputs, or the model
            cannot be trimmed exactly (``graphseq.trim.explain`` says why).
    """
    if isinstance(nodes, torch.fx.Proxy) or isinstance(edges, torch.fx.Proxy):
        # Symbolic tracing (fx, to_hetero): counts are unknown, so trace the untrimmed model.
        return type(model).forward(model, *args)
    found = _constant_analysis(model)
    if found.error is not None:
        raise TrimError(f"cannot trim this model exactly: {found.error}")
    node_drop, edge_drop, node_total, edge_total = _counts(nodes, edges, found.hops)
    plan = model.plan
    env = dict(zip(plan.inputs.names, args, strict=True))
    if not torch.compiler.is_compiling():
        _check(found, env, node_total, edge_total)
    children = model.children_by_name()
    for step, facts in zip(plan.steps, found.steps, strict=True):
        positional = []
        keywords = {}
        for arg, cuts in zip(step.header.args, facts.cuts, strict=True):
            values = [_value(env[c.name], c, node_drop, edge_drop) for c in cuts]
            value: Any = arg.value if arg.literal is not None else values[0]  # a constant
            if arg.pack:
                value = tuple(values) if arg.pack == "tuple" else values
            if arg.keyword is None:
                positional.append(value)
            else:
                keywords[arg.keyword] = value
        fn: Callable[..., Any] = children[step.name]
        outs = step.header.outs
        try:
            out = fn(*positional, **keywords)
            if len(outs) == 1:
                env[outs[0]] = out
            else:
                env.update(zip(outs, _unpack(out, len(outs)), strict=True))
        except Exception as error:
            error.add_note(f"graphseq: raised in {step.where}: {step.header_text}")
            raise
        for name in step.release:
            env.pop(name, None)
    results = [_value(env[c.name], c, node_drop, edge_drop) for c in found.outputs]
    return results[0] if len(results) == 1 else tuple(results)


def _unpack(out: Any, count: int) -> Iterable[Any]:
    a, *rest = out  # the same ValueError as the generated forward's unpacking
    values = [a, *rest]
    if len(values) != count:
        raise ValueError(f"too many values to unpack (expected {count})" if len(values) > count
                         else f"not enough values to unpack (expected {count}, got {len(values)})")
    return values
