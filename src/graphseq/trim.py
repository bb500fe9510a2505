"""Per-hop trimming for neighbour-sampled mini-batches, for any declared dataflow.

``NeighborLoader`` lays a mini-batch out hop by hop: the seed nodes first, then the nodes first
reached at hop 1, hop 2, ..., and the edges in blocks, block ``k`` holding the sampled in-edges
of the nodes of hop ``k - 1``. With ``num_sampled_nodes_per_hop`` and
``num_sampled_edges_per_hop``, a model can drop, before each message-passing step, the nodes
and edges that can no longer reach a seed (``torch_geometric.utils.trim_to_layer``).

graphseq does this for any plan, not only a fixed chain. From the plan and the children it
derives a small :class:`Program` once per model:

* which steps are *layers* (``MessagePassing`` children, or children marked with :func:`mark`);
* the *level* of each layer: the number of layers on the longest dataflow path before it (for
  a chain, the i-th layer has level i); any other step runs at the deepest level of what it
  reads;
* the *kind* of each value: ``"node"``, ``"edge"``, ``"edge_index"`` or ``"other"`` (never cut).

A value read at level ``L`` is cut to the nodes of hops ``0 .. H - L`` (``H`` hops in the batch)
or to the edges of blocks ``1 .. H - L``, unless it is already that small. Values from earlier
layers that a later step reads (skips, residual sums, jumping-knowledge lists) are cut the same
way, so they line up. Seed rows and all gradients equal the untrimmed model's for layers whose
message to a node depends only on that node's in-edges (SAGE, GraphConv, GIN, GAT, ...).

The generated ``forward`` only gains a branch taken when the keywords are given; the trimmed
call runs :func:`run`, which interprets the program step by step. The program is data, not
generated source, on purpose: source made at build time would cost every build, and source
made on the first trimmed call would need ``exec``, which ``torch.compile`` cannot trace (a
graph break). ``torch.compile`` takes the program as a constant instead
(``assume_constant_result``) and traces :func:`run` like any Python. See ``docs/scale.md`` for
the rules and how to override them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

import torch
from torch import Tensor

from .binding import params_of

if TYPE_CHECKING:
    from .plan import Plan
    from .sequential import Sequential

__all__ = ["EDGES", "NODES", "Kind", "Program", "Role", "TrimError", "explain", "mark",
           "program", "run", "set_kinds", "trim_branch", "trimmable"]

Role = Literal["layer", "rowwise", "reduce", "opaque"]
Kind = Literal["node", "edge", "edge_index", "other"]
ROLES: tuple[Role, ...] = ("layer", "rowwise", "reduce", "opaque")
KINDS: tuple[Kind, ...] = ("node", "edge", "edge_index", "other")

_MARK = "_graphseq_trim_role"  # on a child: its role
_KINDS = "_graphseq_trim_kinds"  # on a model: the value-kind overrides
_CACHE = "_graphseq_trim_program"  # on a model's generated class: (class, overrides, program)

# How a message-passing layer's parameter names tell the kind of what is passed to them.
_INDEX_PARAMS = frozenset({"edge_index", "adj_t", "adj"})
_FREE_PARAMS = frozenset({"size", "dim_size", "ptr", "num_nodes", "batch_size",
                          "return_attention_weights"})

# Cut codes in a program: what to do with a value before a step reads it.
_KEEP, _NODE, _EDGE, _INDEX = 0, 1, 2, 3
_CODE = {"node": _NODE, "edge": _EDGE, "edge_index": _INDEX}

T = TypeVar("T")


class TrimError(ValueError):
    """A model or a call that per-hop trimming cannot handle, with what to do instead."""


def mark(child: T, role: Role) -> T:
    """Set how trimming treats a child; returns the child, so it can be marked inline.

    Args:
        child: A module or function used as a step.
        role: ``"layer"`` (a message-passing step: inputs are trimmed before it, its first
            output is node-level), ``"rowwise"`` (reads and outputs share rows: the default
            for children that are not message passing), ``"reduce"`` (reads share rows, outputs
            do not: global pooling, the default for ``global_*_pool`` and aggregations) or
            ``"opaque"`` (nothing is inferred from it).

    Returns:
        The same child.

    Raises:
        TrimError: ``role`` is not one of the four, or the child cannot hold an attribute.

    Example:
        >>> import torch
        >>> from graphseq.trim import mark
        >>> lin = mark(torch.nn.Linear(4, 4), "opaque")
        >>> lin._graphseq_trim_role
        'opaque'
    """
    if role not in ROLES:
        raise TrimError(f"mark() got role {role!r}; expected one of {', '.join(ROLES)}.")
    try:
        object.__setattr__(child, _MARK, role)
    except (AttributeError, TypeError):
        raise TrimError(
            f"mark() cannot set an attribute on {child!r:.60}; wrap it in a Python function "
            "or an nn.Module first."
        ) from None
    return child


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
        for name in [names] if isinstance(names, str) else names:
            if name not in known:
                raise TrimError(
                    f"set_kinds() names {name!r}, which is no value of the model; "
                    f"values: {', '.join(known)}."
                )
            if given.get(name, kind) != kind:
                raise TrimError(f"set_kinds() gives {name!r} two kinds: {given[name]} and {kind}.")
            given[name] = kind  # type: ignore[assignment]
    model.__dict__[_KINDS] = tuple(sorted(given.items()))
    return model


class StepProgram(NamedTuple):
    """One step of a trimmed forward: how to call it and which reads to cut first."""

    name: str
    module: bool
    args: tuple[tuple[str | None, str, tuple[tuple[str, int, int, int], ...]], ...]
    outs: tuple[str, ...]
    release: tuple[str, ...]
    level: int
    layer: bool
    where: str
    header: str


class Program(NamedTuple):
    """What a trimmed forward does, derived once from the plan and the children."""

    inputs: tuple[str, ...]
    steps: tuple[StepProgram, ...]
    outputs: tuple[tuple[str, int, int, int], ...]
    depth: int  # the deepest level a value is cut to: the batch needs at least this many hops
    checks: tuple[tuple[str, int], ...]  # inputs whose size must match the per-hop totals
    kinds: tuple[tuple[str, str], ...]  # (value, kind) in order of definition, for explain()
    error: str | None  # why this model cannot be trimmed, raised on a trimmed call


def program(model: Sequential) -> Program:
    """The trimming program of ``model``, derived on first use and kept with its class.

    Args:
        model: A graphseq model.

    Returns:
        Its :class:`Program`.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import program
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> [step.level for step in program(model).steps]
        [0, 1]
    """
    cls = type(model)
    overrides = model.__dict__.get(_KINDS, ())
    cached = getattr(cls, _CACHE, None)
    if cached is not None and cached[0] is cls and cached[1] == overrides:
        result: Program = cached[2]
        return result
    result = analyze(model.plan, model._child, dict(overrides))
    if not torch.compiler.is_compiling():
        setattr(cls, _CACHE, (cls, overrides, result))
    return result


@torch.compiler.assume_constant_result
def _constant_program(model: Sequential) -> Program:
    """:func:`program`, which ``torch.compile`` runs once while tracing and keeps as a constant
    (tracing the analysis itself would break the graph)."""
    return program(model)


def _role(child: Any) -> Role:
    marked: Role | None = getattr(child, _MARK, None)
    if marked is not None:
        return marked
    try:
        from torch_geometric.nn.aggr import Aggregation
        from torch_geometric.nn.conv import MessagePassing
    except ImportError:  # graphseq does not require PyG: only marked layers then
        return "rowwise"
    if isinstance(child, MessagePassing):
        return "layer"
    if isinstance(child, Aggregation):
        return "reduce"
    module = getattr(child, "__module__", "") or ""
    name = getattr(child, "__name__", "") or ""
    if module.startswith("torch_geometric.nn.pool") and name.startswith("global_"):
        return "reduce"
    return "rowwise"


def _param_kind(name: str) -> Kind | None:
    if name in _INDEX_PARAMS:
        return "edge_index"
    if name.startswith("edge_"):
        return "edge"
    if name in _FREE_PARAMS:
        return None
    return "node"


def _slots(child: Any) -> tuple[tuple[str, ...], bool]:
    """A layer's positional parameter names and whether it takes ``*args``."""
    params = params_of(child)
    if params is None:
        return ("x", "edge_index"), True
    return params.slots, params.var_positional


class _Kinds:
    """Union-find over value versions, each class with at most one kind."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.kind: list[Kind | None] = []
        self.pinned: list[bool] = []

    def new(self, kind: Kind | None = None, pinned: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.kind.append(kind)
        self.pinned.append(pinned)
        return len(self.parent) - 1

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def seed(self, v: int, kind: Kind) -> Kind | None:
        """Give ``v`` a kind; return the kind it had, if that differs."""
        if self.pinned[v]:
            return None
        root = self.find(v)
        had = self.kind[root]
        if had is None:
            self.kind[root] = kind
            return None
        return had if had != kind else None

    def union(self, a: int, b: int) -> tuple[Kind, Kind] | None:
        """Merge two classes; return their two kinds where they differ."""
        if self.pinned[a] or self.pinned[b]:
            return None
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ka, kb = self.kind[ra], self.kind[rb]
        if ka is not None and kb is not None and ka != kb:
            return ka, kb
        self.parent[rb] = ra
        self.kind[ra] = ka if ka is not None else kb
        return None

    def of(self, v: int) -> Kind:
        return self.kind[self.find(v)] or "other"


def analyze(
    plan: Plan, child: Callable[[str], Any], overrides: dict[str, Kind] | None = None
) -> Program:
    """Derive the trimming :class:`Program` of a plan whose children ``child(name)`` returns.

    Args:
        plan: The model's plan.
        child: Returns the child of a step, by the step's name.
        overrides: Names whose kind is fixed (see :func:`set_kinds`).

    Returns:
        The program; where the model cannot be trimmed, its ``error`` says why.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import analyze
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x")])
        >>> analyze(model.plan, model._child).kinds
        (('x', 'node'), ('edge_index', 'edge_index'), ('x', 'node'))
    """
    overrides = overrides or {}
    kinds = _Kinds()
    current: dict[str, int] = {}
    names: list[str] = []
    produced_at: list[int] = []  # the step whose output a version is (-1: an input)
    for name in plan.inputs.names:
        current[name] = kinds.new(overrides.get(name), name in overrides)
        names.append(name)
        produced_at.append(-1)

    roles: list[Role] = []
    reads: list[list[tuple[int, int]]] = []  # per step: (arg index, version) per name read
    outs: list[list[int]] = []
    error: str | None = None
    for step in plan.steps:
        role = _role(child(step.name))
        roles.append(role)
        versions: list[tuple[int, int]] = []
        slots, var_positional = _slots(child(step.name)) if role == "layer" else ((), False)
        position = 0
        for i, arg in enumerate(step.header.args):
            if arg.keyword is not None:
                param: str | None = arg.keyword
            else:
                param = slots[position] if position < len(slots) else None
                if param is None and not var_positional and role == "layer":
                    param = "x" if position == 0 else None
                position += 1
            for name in arg.names:
                v = current[name]
                versions.append((i, v))
                if role == "layer" and param is not None:
                    kind = _param_kind(param)
                    if kind is not None and error is None:
                        had = kinds.seed(v, kind)
                        if had is not None:
                            error = (f"{step.where} reads {name!r} as {kind.replace('_', ' ')}, "
                                     f"but it is {had.replace('_', ' ')} elsewhere")
        reads.append(versions)
        new: list[int] = []
        for j, name in enumerate(step.header.outs):
            pinned = name in overrides
            first_layer_out = role == "layer" and j == 0
            new.append(kinds.new(overrides.get(name, "node" if first_layer_out else None),
                                 pinned))
            names.append(name)
            produced_at.append(step.index)
        outs.append(new)
        current.update(zip(step.header.outs, new, strict=True))

    # Values that share rows through a step, in step order: the first clash names its step.
    for step, role, versions, new in zip(plan.steps, roles, reads, outs, strict=True):
        group = [v for _, v in versions]
        if role == "rowwise":
            group += new
        elif role != "reduce":
            continue
        for a, b in zip(group, group[1:], strict=False):
            clash = kinds.union(a, b)
            if clash is not None and error is None:
                first = names[a] if kinds.of(a) == clash[0] else names[b]
                second = names[b] if first == names[a] else names[a]
                error = (f"{step.where} makes {first!r} ({clash[0].replace('_', ' ')}) and "
                         f"{second!r} ({clash[1].replace('_', ' ')}) share rows")

    # Levels. A value's depth is the number of layers on the longest path that made it; its
    # rows are the level it was cut to. A layer runs at the deepest depth of what it reads (the
    # i-th layer of a chain at level i); any other step at the deepest rows of what it reads,
    # so that values from earlier layers line up with the current ones.
    depth = [0] * len(names)
    rows = [0] * len(names)
    layers = 0
    steps: list[StepProgram] = []
    for step, role, versions, new in zip(plan.steps, roles, reads, outs, strict=True):
        layer = role == "layer"
        level = max(((depth if layer else rows)[v] for _, v in versions), default=0)
        deepest = max((depth[v] for _, v in versions), default=0)
        layers += layer
        for v in new:
            depth[v] = level + 1 if layer else deepest
            rows[v] = level
        args = []
        for i, arg in enumerate(step.header.args):
            items = tuple(_cut(names[v], kinds.of(v), rows[v], level)
                          for j, v in versions if j == i)
            args.append((arg.keyword, arg.pack, items))
        steps.append(StepProgram(step.name, step.kind == "module", tuple(args), step.header.outs,
                                 step.release, level, layer, step.where, step.header_text))

    final = [(name, current[name]) for name in plan.outputs]
    out_level = max((rows[v] for _, v in final), default=0)
    outputs = tuple(_cut(n, kinds.of(v), rows[v], out_level) for n, v in final)
    cut_levels = [lvl for s in steps for a in s.args for _, code, lvl, _ in a[2] if code != _KEEP]
    cut_levels += [lvl for _, code, lvl, _ in outputs if code != _KEEP]
    checks = tuple((n, _CODE[k]) for v, n in enumerate(plan.inputs.names)  # inputs come first
                   if (k := kinds.of(v)) in _CODE)
    if layers == 0 and error is None:
        error = ("this model has no message-passing step to trim before; mark one with "
                 "graphseq.trim.mark(child, 'layer')")
    return Program(
        plan.inputs.names,
        tuple(steps),
        outputs,
        max(cut_levels, default=0),
        checks,
        tuple((n, kinds.of(v)) for v, n in enumerate(names)),
        error,
    )


def _cut(name: str, kind: Kind, rows: int, level: int) -> tuple[str, int, int, int]:
    """What to do with a value of ``rows`` when a step at ``level`` reads it."""
    if kind in _CODE and rows < level:
        return name, _CODE[kind], level, rows
    return name, _KEEP, level, rows


def explain(model: Sequential) -> str:
    """How trimming sees ``model``: each step's role and level, each value's kind.

    Args:
        model: A graphseq model.

    Returns:
        One line per step, then the kinds of the values.

    Example:
        >>> from torch.nn import ReLU
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.trim import explain
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      ReLU(), (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> print(explain(model))
        step 0 ('module_0'): layer at level 0
        step 1 ('module_1'): rowwise at level 0 (cuts nothing)
        step 2 ('module_2'): layer at level 1, cuts x, edge_index
        values: x node, edge_index edge_index
    """
    prog = program(model)
    lines = []
    for step in prog.steps:
        role = "layer" if step.layer else _role(model._child(step.name))
        cut = [n for _, _, items in step.args for n, code, _, _ in items if code != _KEEP]
        text = f", cuts {', '.join(dict.fromkeys(cut))}" if cut else ""
        if not cut and not step.layer:
            text = " (cuts nothing)"
        lines.append(f"{step.where}: {role} at level {step.level}{text}")
    kinds = dict(prog.kinds)  # the last version of a name wins
    lines.append("values: " + ", ".join(f"{n} {k}" for n, k in kinds.items()))
    if prog.error is not None:
        lines.append(f"cannot trim: {prog.error}.")
    return "\n".join(lines)


# The hook in the generated forward -----------------------------------------------------------

NODES = "num_sampled_nodes_per_hop"
EDGES = "num_sampled_edges_per_hop"


def trimmable(plan: Plan) -> bool:
    """Whether the eager forward of ``plan`` takes the two trimming keywords.

    It does unless the model already has inputs of those names (then they are its own).

    Args:
        plan: A model's plan.

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


def _counts(nodes: Any, edges: Any, prog: Program) -> tuple[list[int], list[int], int, int]:
    """Nodes and edges dropped by each level ``0 .. prog.depth``, and the totals.

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
    hops = len(nodes) - 1
    if len(edges) != hops:
        raise TrimError(
            f"num_sampled_nodes_per_hop has {len(nodes)} counts (seeds + {hops} hops), so "
            f"num_sampled_edges_per_hop needs {hops}, not {len(edges)}."
        )
    if prog.depth > hops:
        raise TrimError(
            f"this model trims {prog.depth} times along its deepest path, but the batch was "
            f"sampled with {hops} hop(s); sample at least {prog.depth} hops."
        )
    node_drop, edge_drop = [0], [0]
    for level in range(1, prog.depth + 1):
        node_drop.append(node_drop[-1] + nodes[-level])
        edge_drop.append(edge_drop[-1] + edges[-level])
    return node_drop, edge_drop, sum(nodes), sum(edges)


def _value(env: dict[str, Any], item: tuple[str, int, int, int], nodes: Sequence[int],
           edges: Sequence[int]) -> Any:
    """The value ``item`` names, cut from the level its rows have to the reader's level."""
    name, code, level, rows = item
    value = env[name]
    if code == _KEEP or not isinstance(value, Tensor):
        return value
    if code == _NODE:
        return value.narrow(0, 0, value.size(0) - (nodes[level] - nodes[rows]))
    if code == _EDGE:
        return value.narrow(0, 0, value.size(0) - (edges[level] - edges[rows]))
    return _cut_index(value, edges[level] - edges[rows], nodes[level] - nodes[rows])


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


def _check(prog: Program, env: dict[str, Any], nodes: int, edges: int) -> None:
    for name, code in prog.checks:
        value = env[name]
        if not isinstance(value, Tensor):
            continue
        size, want, what = value.size(0), nodes, "nodes"
        if code == _EDGE:
            want, what = edges, "edges"
        elif code == _INDEX:
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
            cannot be trimmed (``graphseq.trim.explain`` says why).

    Example:
        >>> import torch
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> x, edge_index = torch.randn(4, 4), torch.tensor([[1, 2, 3], [0, 0, 1]])
        >>> out = model(x, edge_index, num_sampled_nodes_per_hop=[1, 2, 1],
        ...             num_sampled_edges_per_hop=[2, 1])
        >>> torch.allclose(out[:1], model(x, edge_index)[:1])
        True
    """
    if isinstance(nodes, torch.fx.Proxy) or isinstance(edges, torch.fx.Proxy):
        # Symbolic tracing (fx, to_hetero): counts are unknown, so trace the untrimmed model.
        return type(model).forward(model, *args)
    prog = _constant_program(model)
    if prog.error is not None:
        raise TrimError(f"cannot trim this model: {prog.error}. "
                        "See graphseq.trim.explain(model), mark() and set_kinds().")
    node_drop, edge_drop, node_total, edge_total = _counts(nodes, edges, prog)
    env = dict(zip(prog.inputs, args, strict=True))
    if not torch.compiler.is_compiling():
        _check(prog, env, node_total, edge_total)
    modules = model._modules
    for step in prog.steps:
        positional = []
        keywords = {}
        for keyword, pack, items in step.args:
            if pack:
                values = [_value(env, item, node_drop, edge_drop) for item in items]
                value: Any = tuple(values) if pack == "tuple" else values
            else:
                value = _value(env, items[0], node_drop, edge_drop)
            if keyword is None:
                positional.append(value)
            else:
                keywords[keyword] = value
        fn: Callable[..., Any] = (modules[step.name] if step.module  # type: ignore[assignment]
                                  else model.__dict__[step.name])
        try:
            out = fn(*positional, **keywords)
        except Exception as error:
            error.add_note(f"graphseq: raised in {step.where} (trimmed to level {step.level}): "
                           f"{step.header}")
            raise
        if len(step.outs) == 1:
            env[step.outs[0]] = out
        else:
            env.update(_unpack(out, step))
        for name in step.release:
            env.pop(name, None)
    results = [_value(env, item, node_drop, edge_drop) for item in prog.outputs]
    return results[0] if len(results) == 1 else tuple(results)


def _unpack(out: Any, step: StepProgram) -> dict[str, Any]:
    values = tuple(out)
    if len(values) != len(step.outs):
        raise ValueError(f"{step.where} returned {len(values)} values; its header names "
                         f"{len(step.outs)}: {step.header}")
    return dict(zip(step.outs, values, strict=True))
