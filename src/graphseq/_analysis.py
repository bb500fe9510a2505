"""What graphseq knows about the graph meaning of each step and value of a plan: one record.

The analysis reads a plan and the children of its steps (never a model's privates) and says,
from documented tables of known children and from the user's :func:`mark` and kinds:

* each step's *role*: ``"layer"`` (message passing that looks ``hops`` hops of in-edges
  away), ``"rowwise"`` (each output row depends only on the same row of what it reads),
  ``"reduce"`` (pooling: rows in, groups out) or ``"opaque"`` (anything else);
* each value's *kind*: ``"node"``, ``"edge"``, ``"edge_index"`` or ``"other"`` (never cut);
* each step's *level* on a hop-ordered mini-batch (how many hops are trimmed before it), and a
  *cut table*: for each value a step reads, from which level to which it is cut first;
* the number of hops a batch needs for the seed rows to be exact, and why a model cannot be
  trimmed exactly (:class:`TrimError`, naming the step and its header), where it cannot.

It never guesses: a child that is not in the tables and not marked is ``"opaque"``, and an
opaque step may only read values that trimming has not touched (the first steps of a model);
a value it makes is never cut, since nothing says its rows are laid out hop by hop.
The tables are :data:`ROWWISE`, :data:`LAYERS` and :data:`REFUSED` (``docs/scale.md``
prints them).

The record is what per-hop trimming (``codegen``'s ``trimmed`` variant), layer-wise inference
and typed graphs read. API: :func:`analyze` (plan, children, kinds -> :class:`Analysis`,
cached), :func:`mark`, :func:`fact` (what the tables say of one child), :data:`KINDS_KEY`.
This module imports neither ``torch._dynamo`` nor PyG at load.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeVar

from ._binding import params_of
from ._cache import SizedCache
from ._plan import Plan

__all__ = ["EDGES", "KINDS", "KINDS_KEY", "LAYERS", "NODES", "REFUSED", "ROLES", "ROWWISE",
           "TARGET_PAIRS", "Analysis", "Cut", "Fact", "Kind", "Mark", "Role", "StepFacts",
           "TrimError", "analyze", "fact", "fold_name", "mark", "takes_target_pairs",
           "trimmable"]

Role = Literal["layer", "rowwise", "reduce", "opaque"]
Kind = Literal["node", "edge", "edge_index", "other"]
ROLES: tuple[Role, ...] = ("layer", "rowwise", "reduce", "opaque")
KINDS: tuple[Kind, ...] = ("node", "edge", "edge_index", "other")

NODES = "num_sampled_nodes_per_hop"  # the trimming keywords of every forward
EDGES = "num_sampled_edges_per_hop"
MARK_KEY = "graphseq.mark"  # a child's Mark, in its __dict__ (no attribute name has a '.')
KINDS_KEY = "graphseq.kinds"  # a model's kinds, in its __dict__ (no step name has a '.')

T = TypeVar("T")


def trimmable(plan: Any) -> bool:
    """Whether the eager forward of ``plan`` (or of a spec) takes the two trimming keywords.

    It does unless the model already has inputs of those names (then they are its own).

    Args:
        plan: A model's plan or spec (anything with ``inputs.names``).

    Returns:
        ``True`` when the forward gets ``num_sampled_nodes_per_hop`` and
        ``num_sampled_edges_per_hop``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> trimmable(Sequential("x", [(torch.nn.ReLU(), "x -> x")]).plan)
        True
    """
    names = plan.inputs.names
    return NODES not in names and EDGES not in names


class TrimError(ValueError):
    """A model or a call that per-hop trimming cannot handle exactly, with what to do instead."""


class Mark(NamedTuple):
    """A user's declaration of how a child treats rows (see :func:`mark`)."""

    role: Role
    hops: int


def mark(child: T, role: Role, *, hops: int | None = None) -> T:
    """Declare how a child treats rows; returns the child, so it can be marked inline.

    Args:
        child: A module or function used as a step.
        role: ``"layer"`` (message passing: each output row depends on the in-edges of its
            node up to ``hops`` hops away; its first output is node-level), ``"rowwise"``
            (each output row depends only on the same row of each input: element-wise,
            per node or per edge), ``"reduce"`` (pooling: outputs one row per group) or
            ``"opaque"`` (nothing is known: it may only read values trimming has not cut).
        hops: For a layer, how many hops away it looks (default 1). A bound that is too large
            is safe (more is trimmed, more hops are needed); too small is wrong.

    Returns:
        The same child.

    Raises:
        TrimError: ``role`` is not one of the four, ``hops`` is given for another role or is
            not a positive int, or the child cannot hold the mark.

    Example:
        >>> import torch
        >>> from graphseq._analysis import fact, mark
        >>> fact(mark(torch.nn.Linear(4, 4), "layer", hops=2))
        Fact(role='layer', hops=2, source='marked', refusal=None)
    """
    if role not in ROLES:
        raise TrimError(f"mark() got role {role!r}; expected one of {', '.join(ROLES)}.")
    if hops is not None and role != "layer":
        raise TrimError(f"mark() got hops={hops!r} for role {role!r}; only a layer has hops.")
    if hops is None:
        hops = 1
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
        raise TrimError(f"mark() got hops={hops!r}; a layer looks at least 1 hop away (an int).")
    try:
        vars(child)[MARK_KEY] = Mark(role, hops)
    except TypeError:
        raise TrimError(
            f"mark() cannot mark {child!r:.60}, which holds no attributes; wrap it in a Python "
            "function (def f(x): return torch.relu(x)) or an nn.Module first."
        ) from None
    return child


def fold_name(name: str) -> str:
    """A value name as headers read it (NFKC-normalised, as Python reads identifiers).

    Args:
        name: A name.

    Returns:
        The folded name.

    Example:
        >>> fold_name("ｙ")
        'y'
    """
    return unicodedata.normalize("NFKC", name)


# The tables ------------------------------------------------------------------------------------


class Fact(NamedTuple):
    """What the tables (or a mark) say of one child: its role, reach and any refusal."""

    role: Role
    hops: int  # layers: hops of in-edges an output row depends on; 0 otherwise
    source: str  # "marked", "table" or "unknown"
    refusal: str | None  # why an opaque child is not row-wise, for the message


def _dim_not_rows(attr: str) -> Callable[[Any], str | None]:
    def check(child: Any) -> str | None:
        dim = getattr(child, attr, None)
        if isinstance(dim, int) and (dim == -1 or dim >= 1):
            return None
        return f"its {attr}={dim!r} may run along the rows"
    return check


def _running_stats(child: Any) -> str | None:
    if child.training:
        return "in training mode it normalises with the statistics of all rows"
    if getattr(child, "running_mean", None) is None and getattr(child, "module", None) is None:
        return "without running statistics it normalises with the statistics of all rows"
    inner = getattr(child, "module", None)  # PyG's BatchNorm wraps torch's
    if inner is not None and (inner.training or getattr(inner, "running_mean", None) is None):
        return "it normalises with the statistics of all rows"
    return None


def _pyg_layer_norm(child: Any) -> str | None:
    if getattr(child, "mode", "graph") == "node":
        return None
    return "in mode='graph' it normalises over all nodes of a graph"


def _always(child: Any) -> str | None:
    return None


# torch.nn and PyG children that are row-wise, each with its condition (None: always).
# Keyed by (package, class name) so that nothing is imported to read the table.
ROWWISE: dict[tuple[str, str], Callable[[Any], str | None]] = {
    **{("torch", n): _always for n in (
        "Identity", "Linear", "Bilinear", "LazyLinear", "Embedding", "Dropout", "AlphaDropout",
        "FeatureAlphaDropout", "LayerNorm", "RMSNorm", "ReLU", "ReLU6", "LeakyReLU", "PReLU",
        "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus",
        "Softsign", "Hardtanh", "Hardswish", "Hardsigmoid", "Hardshrink", "Softshrink",
        "Tanhshrink", "LogSigmoid", "Threshold")},
    ("torch", "Softmax"): _dim_not_rows("dim"),
    ("torch", "LogSoftmax"): _dim_not_rows("dim"),
    ("torch", "Softmin"): _dim_not_rows("dim"),
    ("torch", "GLU"): _dim_not_rows("dim"),
    ("torch", "Flatten"): _dim_not_rows("start_dim"),
    ("torch", "BatchNorm1d"): _running_stats,
    ("torch", "BatchNorm2d"): _running_stats,
    ("torch", "BatchNorm3d"): _running_stats,
    ("torch_geometric", "Linear"): _always,
    ("torch_geometric", "HeteroLinear"): _always,
    ("torch_geometric", "JumpingKnowledge"): _always,
    ("torch_geometric", "BatchNorm"): _running_stats,
    ("torch_geometric", "LayerNorm"): _pyg_layer_norm,
}

_GRAPH_NORM = "it normalises with statistics over all nodes of a graph"
# Children known NOT to be row-wise, with the reason (they are opaque to trimming).
REFUSED: dict[tuple[str, str], str] = {
    ("torch_geometric", "GraphNorm"): _GRAPH_NORM,
    ("torch_geometric", "InstanceNorm"): _GRAPH_NORM,
    ("torch_geometric", "PairNorm"): _GRAPH_NORM,
    ("torch_geometric", "MeanSubtractionNorm"): _GRAPH_NORM,
    ("torch_geometric", "GraphSizeNorm"): "it divides by the number of nodes of each graph",
    ("torch_geometric", "DiffGroupNorm"): "it batch-normalises over all rows",
    ("torch", "InstanceNorm1d"): "called on [nodes, channels] it normalises over the nodes",
    ("torch", "GroupNorm"): "not audited for node-feature layouts",
    ("torch_geometric", "ChebConv"): "it scales by 2 * the largest edge weight and by "
                                     "out-degrees, which depend on every edge of the batch",
    ("torch_geometric", "DynamicEdgeConv"): "it builds a k-NN graph over all nodes",
    ("torch_geometric", "HypergraphConv"): "its hyperedges are not hop-ordered edges",
}


def _hops(attr: str, plus_normalized: bool = True) -> Callable[[Any], int]:
    def hops(child: Any) -> int:
        extra = 1 if plus_normalized and getattr(child, "normalize", True) else 0
        return int(getattr(child, attr)) + extra
    return hops


def _gcn(child: Any) -> int:
    return 2 if getattr(child, "normalize", True) else 1


def _antisymmetric(child: Any) -> int | str:
    inner = fact(child.phi)
    if inner.role != "layer":
        return f"its phi ({type(child.phi).__name__}) is not a known layer"
    return int(child.num_iters) * inner.hops


# PyG layers and how many hops each output row depends on. A layer normalised by
# ``gcn_norm`` reads its sources' in-degrees, one hop further than its messages.
LAYERS: dict[str, Callable[[Any], int | str]] = {
    **{n: (lambda child: 1) for n in (
        "SAGEConv", "GraphConv", "GINConv", "GINEConv", "GATConv", "GATv2Conv",
        "TransformerConv", "ResGatedGraphConv", "EdgeConv", "PNAConv", "GENConv",
        "ClusterGCNConv", "GeneralConv", "FiLMConv", "LEConv", "NNConv", "CGConv",
        "PointNetConv", "GMMConv", "SplineConv", "FeaStConv")},
    "GCNConv": _gcn,  # 2: its messages and its sources' in-degrees
    "LGConv": _gcn,
    "GCN2Conv": _gcn,
    "TAGConv": _hops("K"),  # K propagations (+1 when normalized)
    "APPNP": _hops("K"),
    "SGConv": _hops("K"),
    "SSGConv": _hops("K"),
    "ARMAConv": _hops("num_layers"),
    "GatedGraphConv": _hops("num_layers", plus_normalized=False),
    "AntiSymmetricConv": _antisymmetric,
}

# PyG layers that take ``x`` as a pair ``(x_source, x_target)`` and whose output row for a target
# reads only its own ``x_target`` row and its in-edges (with their sources' ``x_source`` rows):
# layer-wise inference gives them ``(x, x[:targets])``, so they compute the targets' rows only.
# The attention layers add their self-loops for the first min(sources, targets) nodes, which
# are the targets themselves, as the batch lists its targets first (tests/test_inference.py).
TARGET_PAIRS = frozenset({"SAGEConv", "GraphConv", "GINConv", "GINEConv", "GATConv", "GATv2Conv",
                          "TransformerConv", "ResGatedGraphConv"})


def takes_target_pairs(child: Any) -> bool:
    """Whether ``child`` is a PyG layer of :data:`TARGET_PAIRS` (not marked otherwise).

    Args:
        child: A step's module or function.

    Returns:
        True for an unmarked ``torch_geometric`` layer listed there.

    Example:
        >>> from torch_geometric.nn import GCNConv, SAGEConv
        >>> takes_target_pairs(SAGEConv(4, 4)), takes_target_pairs(GCNConv(4, 4))
        (True, False)
    """
    cls = type(child)
    if isinstance(getattr(child, "__dict__", {}).get(MARK_KEY), Mark):
        return False
    return _package(cls) == "torch_geometric" and cls.__name__ in TARGET_PAIRS


# torch_geometric.utils functions that rewrite an edge index: their output is not hop-ordered.
EDGE_REWRITES = frozenset({
    "coalesce", "add_self_loops", "add_remaining_self_loops", "remove_self_loops",
    "to_undirected", "dropout_edge", "dropout_node", "dropout_path", "dropout_adj",
    "sort_edge_index", "subgraph", "k_hop_subgraph", "to_torch_coo_tensor", "to_dense_adj",
    "remove_isolated_nodes", "contains_self_loops", "segregate_self_loops", "one_hot",
    "negative_sampling", "structured_negative_sampling", "add_random_edge",
})

_ROWWISE_FUNCTIONS: frozenset[Any] | None = None


def _rowwise_functions() -> frozenset[Any]:
    """torch functions that are element-wise (row-wise for any layout), by identity."""
    global _ROWWISE_FUNCTIONS
    if _ROWWISE_FUNCTIONS is None:
        import operator

        import torch
        import torch.nn.functional as F

        names = ("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
                 "maximum", "minimum", "relu", "sigmoid", "tanh", "exp", "log", "log1p", "abs",
                 "neg", "sqrt", "rsqrt", "square", "sin", "cos", "clamp", "clip", "sign",
                 "reciprocal", "lerp", "addcmul", "addcdiv", "pow", "where", "erf")
        fns: set[Any] = {getattr(torch, n) for n in names if hasattr(torch, n)}
        fns |= {getattr(F, n) for n in (
            "relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "leaky_relu",
            "softplus", "softsign", "hardtanh", "hardswish", "hardsigmoid", "logsigmoid",
            "tanhshrink", "softshrink", "hardshrink", "dropout", "alpha_dropout", "linear",
            "sigmoid", "tanh", "normalize")}
        fns |= {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg}
        _ROWWISE_FUNCTIONS = frozenset(fns)
    return _ROWWISE_FUNCTIONS


def _package(cls: type) -> str:
    module = getattr(cls, "__module__", "") or ""
    return module.partition(".")[0]


def _has_stats_in_training(child: Any) -> str | None:
    """A submodule that normalises with batch statistics, which trimming changes."""
    modules = getattr(child, "modules", None)
    if modules is None or not callable(modules):
        return None
    for sub in modules():
        if sub is child:
            continue
        key = (_package(type(sub)), type(sub).__name__)
        if key in REFUSED and "normalis" in REFUSED[key]:
            return f"its submodule {type(sub).__name__} {REFUSED[key]}"
        check = ROWWISE.get(key)
        if check is _running_stats or check is _pyg_layer_norm:
            reason = check(sub)
            if reason is not None:
                return f"its submodule {type(sub).__name__}: {reason}"
    return None


def fact(child: Any) -> Fact:
    """What graphseq knows of how ``child`` treats rows: a mark, the tables, or nothing.

    Args:
        child: A step's module or function.

    Returns:
        Its :class:`Fact`; a child that is neither marked nor in a table is ``"opaque"``.

    Example:
        >>> import torch
        >>> from torch_geometric.nn import GraphNorm, TAGConv
        >>> fact(TAGConv(4, 4, K=2))
        Fact(role='layer', hops=3, source='table', refusal=None)
        >>> fact(GraphNorm(4)).refusal
        'it normalises with statistics over all nodes of a graph'
    """
    marked = getattr(child, "__dict__", {}).get(MARK_KEY)
    if isinstance(marked, Mark):
        return Fact(marked.role, marked.hops if marked.role == "layer" else 0, "marked", None)
    cls = type(child)
    key = (_package(cls), cls.__name__)
    if key in REFUSED:
        return Fact("opaque", 0, "table", REFUSED[key])
    if key[0] == "torch_geometric":
        found = _pyg_fact(child, cls)
        if found is not None:
            return found
    check = ROWWISE.get(key)
    if check is not None:
        reason = check(child)
        if reason is None:
            reason = _has_stats_in_training(child)
        return Fact("opaque", 0, "table", reason) if reason else Fact("rowwise", 0, "table", None)
    if key == ("torch", "Sequential"):
        for sub in child:
            inner = fact(sub)
            if inner.role != "rowwise":
                why = inner.refusal or f"its {type(sub).__name__} is not row-wise"
                return Fact("opaque", 0, "table", why)
        return Fact("rowwise", 0, "table", None)
    try:
        known = child in _rowwise_functions()
    except TypeError:  # unhashable
        known = False
    if known:
        return Fact("rowwise", 0, "table", None)
    module = getattr(child, "__module__", "") or ""
    name = getattr(child, "__name__", "") or ""
    if module.startswith("torch_geometric.utils") and name in EDGE_REWRITES:
        return Fact("opaque", 0, "table", "it rewrites the edge index (its edges are no longer "
                                          "in hop order)")
    if module.startswith("torch_geometric.nn.pool"):
        return Fact("reduce", 0, "table", "it pools rows")
    return Fact("opaque", 0, "unknown", None)


def _pyg_fact(child: Any, cls: type) -> Fact | None:
    from torch_geometric.nn.aggr import Aggregation
    from torch_geometric.nn.conv import MessagePassing

    if isinstance(child, Aggregation):
        return Fact("reduce", 0, "table", "it aggregates rows into groups")
    if cls.__name__ == "MLP":
        reason = _has_stats_in_training(child)
        return Fact("opaque", 0, "table", reason) if reason else Fact("rowwise", 0, "table", None)
    reach = LAYERS.get(cls.__name__)
    if reach is None:
        if isinstance(child, MessagePassing):
            return Fact("opaque", 0, "unknown", "it is a message-passing layer graphseq has no "
                        "entry for, so its reach in hops is unknown")
        return None
    if getattr(child, "cached", False):
        return Fact("opaque", 0, "table", "cached=True keeps the normalised graph of its first "
                                          "call, which trimming changes")
    hops = reach(child)
    if isinstance(hops, str):
        return Fact("opaque", 0, "table", hops)
    inner = _has_stats_in_training(child)
    if inner is not None:
        return Fact("opaque", 0, "table", inner)
    return Fact("layer", hops, "table", None)


# The record -----------------------------------------------------------------------------------


class Cut(NamedTuple):
    """One value read by a step (or returned): its kind, and the levels it is cut between.

    ``kind`` is ``"node"``, ``"edge"`` or ``"edge_index"`` where the value is cut (from ``rows``,
    the level its rows already have, to ``level``), and ``None`` where it is read as it is.
    """

    name: str
    kind: Kind | None
    level: int
    rows: int


@dataclass(frozen=True)
class StepFacts:
    """What the analysis says of one step."""

    index: int
    where: str  # "step 2 ('conv2')", for messages
    role: Role
    hops: int
    source: str  # "marked", "table" or "unknown"
    level: int  # hops trimmed before the step runs
    cuts: tuple[tuple[Cut, ...], ...]  # per header argument, per name it reads
    outs: tuple[tuple[str, Kind], ...]  # each output and its kind


@dataclass(frozen=True)
class Analysis:
    """The analysis of one plan with its children and kinds (see the module docstring).

    Attributes:
        steps: One :class:`StepFacts` per step.
        inputs: Each input and its kind.
        outputs: How each returned value is cut to the rows of the deepest level returned.
        hops: Hops a batch needs for every returned row it keeps to be exact.
        error: Why this model cannot be trimmed exactly (``None`` where it can).
        kind_error: Why the kinds of its values could not be inferred (a clash), if so; it is
            also ``error``.
    """

    steps: tuple[StepFacts, ...]
    inputs: tuple[tuple[str, Kind], ...]
    outputs: tuple[Cut, ...]
    hops: int
    error: TrimError | None
    kind_error: TrimError | None = None

    @property
    def table(self) -> tuple[Any, ...]:
        """The cut table: per step, per argument, ``(kind, level, rows)`` of each read; then
        the outputs'; hashable, it keys the generated trimmed code."""
        steps = tuple(tuple(tuple((c.kind, c.level, c.rows) for c in arg) for arg in s.cuts)
                      for s in self.steps)
        return (steps, tuple((c.kind, c.level, c.rows) for c in self.outputs), self.hops,
                self.inputs)

    @property
    def kinds(self) -> dict[str, Kind]:
        """The kind of each value name (the last version of a name wins)."""
        found = dict(self.inputs)
        for step in self.steps:
            found.update(step.outs)
        return found


class _Kinds:
    """Union-find over value versions, each class with at most one kind and a witness."""

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

    def union(self, a: int, b: int) -> bool:
        """Merge two classes; ``False`` where their kinds differ (then nothing is merged)."""
        if self.pinned[a] or self.pinned[b]:
            return True
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ka, kb = self.kind[ra], self.kind[rb]
        if ka is not None and kb is not None and ka != kb:
            return False
        self.parent[rb] = ra
        self.kind[ra] = ka if ka is not None else kb
        return True

    def of(self, v: int) -> Kind:
        return self.kind[self.find(v)] or "other"


_INDEX_PARAMS = frozenset({"edge_index", "adj_t", "adj"})
_FREE_PARAMS = frozenset({"size", "dim_size", "ptr", "num_nodes", "batch_size",
                          "return_attention_weights"})


def _param_kind(name: str) -> Kind | None:
    """The kind a layer's parameter name tells (``edge_index``, ``edge_*``, or node)."""
    if name in _INDEX_PARAMS:
        return "edge_index"
    if name.startswith("edge_"):
        return "edge"
    if name in _FREE_PARAMS:
        return None
    return "node"


def _slots(child: Any) -> tuple[tuple[str, ...], bool]:
    params = params_of(child)
    if params is None:
        return ("x", "edge_index"), True
    return params.slots, params.var_positional


def _text(kind: Kind) -> str:
    return "edge index" if kind == "edge_index" else f"{kind}-level" if kind != "other" else kind


_ANALYSES: SizedCache[Analysis] = SizedCache(max_weight=4096)


def analyze(plan: Plan, children: Mapping[str, Any],
            kinds: Mapping[str, Kind] | Iterable[tuple[str, Kind]] = ()) -> Analysis:
    """The analysis of ``plan`` whose step ``name`` runs ``children[name]`` (cached).

    Args:
        plan: A model's plan.
        children: Each step's module or function, by step name.
        kinds: Names whose kind the user fixed (a model's ``set_kinds``).

    Returns:
        The :class:`Analysis`, computed again whenever a child's fact (a mark, a training
        mode) or the kinds change.

    Example:
        >>> from torch.nn import ReLU
        >>> from torch_geometric.nn import SAGEConv, TAGConv
        >>> from graphseq import Sequential
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"), ReLU(),
        ...                                      (TAGConv(4, 4, K=2), "x, edge_index -> x")])
        >>> facts = analyze(model.plan, model.children_by_name())
        >>> [(s.role, s.hops, s.level) for s in facts.steps], facts.hops
        ([('layer', 1, 0), ('rowwise', 0, 1), ('layer', 3, 1)], 4)
    """
    fixed = tuple(sorted(dict(kinds).items()))
    # A typed child (graphseq.hetero) is read as its per-type template: a typed model's roles,
    # levels and cuts are its homogeneous plan's, which the cuts apply type by type.
    children = {name: child.template if type(child).__module__ == "graphseq.hetero" else child
                for name, child in children.items()}
    facts = tuple(fact(children[step.name]) for step in plan.steps)
    key = (plan.key if plan.key is not None else id(plan), fixed, facts)
    hit = _ANALYSES.get(key)
    if hit is None:
        hit = _analyze(plan, children, facts, dict(fixed))
        if plan.key is not None:
            _ANALYSES.put(key, hit, 1)
    return hit


def _analyze(plan: Plan, children: Mapping[str, Any], facts: tuple[Fact, ...],
             fixed: dict[str, Kind]) -> Analysis:
    """The analysis of ``plan``: three passes over its steps, each opened by a comment.

    Versions and the kinds layers give them; then unions of the values row-wise steps make
    share rows, blaming a clash on a step; then levels, cuts and refusals. Long because the
    three passes share one set of version tables (``current``, ``names``, ``untrusted``,
    ``reads``, ``outs``), which functions of their own would hand back and forth.
    """
    kinds = _Kinds()
    current: dict[str, int] = {}
    names: list[str] = []
    # The step whose output a version's rows come from where they are not known to be laid
    # out hop by hop (None: they are known to be).
    untrusted: list[int | None] = []
    for name in plan.inputs.names:
        current[name] = kinds.new(fixed.get(name), name in fixed)
        names.append(name)
        untrusted.append(None)

    error: TrimError | None = None
    seeded: set[int] = {v for v in current.values() if v is not None and kinds.kind[v]}

    def fail(message: str) -> None:
        nonlocal error
        if error is None:
            error = TrimError(message)

    reads: list[list[tuple[int, int]]] = []  # per step: (arg index, version) per name read
    outs: list[list[int]] = []
    for step, found in zip(plan.steps, facts, strict=True):
        layer = found.role == "layer"
        versions: list[tuple[int, int]] = []
        slots, var_positional = _slots(children[step.name]) if layer else ((), False)
        position = 0
        for i, arg in enumerate(step.header.args):
            if arg.keyword is not None:
                param: str | None = arg.keyword
            else:
                param = slots[position] if position < len(slots) else None
                if param is None and not var_positional and layer:
                    param = "x" if position == 0 else None
                position += 1
            for name in arg.names:
                v = current[name]
                versions.append((i, v))
                kind = _param_kind(param) if layer and param is not None else None
                if kind is not None:
                    had = kinds.seed(v, kind)
                    seeded.add(v)
                    if had is not None:
                        fail(f"{step.where} reads {name!r} as {_text(kind)}, but it is "
                             f"{_text(had)} elsewhere (see graphseq.trim.explain and "
                             f"set_kinds): {step.header_text}")
        reads.append(versions)
        new: list[int] = []
        for j, name in enumerate(step.header.outs):
            made: Kind | None = "node" if layer and j == 0 else None
            if found.role == "reduce":
                made = "other"
            made = fixed.get(name, made)
            new.append(kinds.new(made, name in fixed))
            if made is not None:
                seeded.add(new[-1])
            names.append(name)
            # A layer's rows follow the batch's layout, a row-wise step's those of its reads.
            origin: int | None = step.index
            if name in fixed or layer:
                origin = None
            elif found.role == "rowwise":
                origin = next((untrusted[v] for _, v in versions if untrusted[v] is not None),
                              None)
            untrusted.append(origin)
        outs.append(new)
        current.update(zip(step.header.outs, new, strict=True))

    # Row-wise steps make what they read and write share rows, so one kind. Unions run in step
    # order; a clash is blamed on the earliest step of the chain of row-wise steps that joins
    # the two kinds, preferring a step the tables do not know (a user's mark).
    links: dict[int, list[tuple[int, int]]] = {}  # version -> [(other version, step index)]
    for step, found, versions, new in zip(plan.steps, facts, reads, outs, strict=True):
        if found.role != "rowwise":
            continue
        everything = [v for _, v in versions] + new
        group = [v for v in everything if not kinds.pinned[v]]  # a set kind is not inferred
        fixed_kinds = [v for v in everything if kinds.pinned[v] and kinds.kind[v] != "other"]
        if group and fixed_kinds:  # a value of a set kind gives its kind to the rows it shares
            for v in fixed_kinds:
                pinned_kind = kinds.kind[v]
                assert pinned_kind is not None
                had = kinds.seed(group[0], pinned_kind)
                seeded.add(group[0])
                if had is not None:
                    fail(f"{step.where} makes {names[v]!r} ({_text(pinned_kind)}, as set) "
                         f"share rows with {names[group[0]]!r} ({_text(had)}): "
                         f"{step.header_text}")
        for a, b in zip(group, group[1:], strict=False):
            links.setdefault(a, []).append((b, step.index))
            links.setdefault(b, []).append((a, step.index))
            if not kinds.union(a, b) and error is None:
                fail(_clash(plan, facts, kinds, names, links, seeded, a, b, step.index))

    kind_error = error

    # Levels. ``depth``: the value is exact on the nodes of hops 0 .. H - depth of a batch of
    # H hops (a layer of reach h at level L makes depth L + h). ``rows``: the level it was cut
    # to. A layer runs at the deepest depth of what it reads; a row-wise step at the deepest
    # rows, so that values from earlier layers line up with later ones (then as late as its
    # readers allow, see _lifted); an opaque or reducing step only where what it reads is whole
    # (never cut, exact on every row).
    depth = [0] * len(names)
    rows = [0] * len(names)
    levels: list[int] = []
    for step, found, versions, new in zip(plan.steps, facts, reads, outs, strict=True):
        layer = found.role == "layer"
        level = max(((depth if layer else rows)[v] for _, v in versions), default=0)
        deepest = max((depth[v] for _, v in versions), default=0)
        if found.role in ("opaque", "reduce"):
            touched = [names[v] for _, v in versions if depth[v] or rows[v]]
            if touched:
                fail(_refusal(step.where, step.header_text, found, touched))
        for _, v in versions:
            if kinds.of(v) == "other" and (depth[v] or rows[v]) and not layer:
                fail(f"{step.where} reads {names[v]!r}, which is neither node- nor edge-level "
                     f"and was computed from trimmed rows; say its kind with "
                     f"graphseq.trim.set_kinds(model, node=[{names[v]!r}]) or edge=[...]: "
                     f"{step.header_text}")
        for v in new:
            depth[v] = level + found.hops if layer else deepest
            rows[v] = level
        levels.append(level)

    final = [(name, current[name]) for name in plan.outputs]
    out_level = max((rows[v] for _, v in final), default=0)
    levels = _lifted(facts, reads, outs, levels, rows,
                     [kinds.of(v) for v in range(len(names))], untrusted,
                     ({v for _, v in final}, out_level))
    records: list[StepFacts] = []
    cut_levels: list[int] = [0]
    for step, found, versions, new, level in zip(plan.steps, facts, reads, outs, levels,
                                                 strict=True):
        cuts = []
        for i in range(len(step.header.args)):
            items = []
            for j, v in versions:
                if j != i:
                    continue
                item = _cut(names[v], kinds.of(v), rows[v], level)
                if item.kind is not None:
                    cut_levels.append(level)
                    made_by = untrusted[v]
                    if made_by is not None:
                        fail(_untrusted(plan, facts, made_by, names[v], step.where, level))
                items.append(item)
            cuts.append(tuple(items))
        records.append(StepFacts(step.index, step.where, found.role, found.hops, found.source,
                                 level, tuple(cuts),
                                 tuple((names[v], kinds.of(v)) for v in new)))

    outputs = []
    needed = max(cut_levels)
    for name, v in final:
        item = _cut(name, kinds.of(v), rows[v], out_level)
        if item.kind is not None:
            needed = max(needed, out_level)
            made_by = untrusted[v]
            if made_by is not None:
                fail(_untrusted(plan, facts, made_by, name, "the output", out_level))
        if kinds.of(v) == "other" and depth[v]:
            fail(f"the model returns {name!r}, which is neither node- nor edge-level and was "
                 "computed from trimmed rows; say its kind with graphseq.trim.set_kinds()")
        elif kinds.of(v) != "other":
            needed = max(needed, depth[v])
        outputs.append(item)
    if not any(f.role == "layer" for f in facts):
        fail("this model has no message-passing step to trim before; mark one with "
             "graphseq.trim.mark(child, 'layer', hops=1)")
    inputs = tuple((n, kinds.of(v)) for v, n in enumerate(plan.inputs.names))
    return Analysis(tuple(records), inputs, tuple(outputs), needed, error, kind_error)


def _lifted(facts: tuple[Fact, ...], reads: list[list[tuple[int, int]]], outs: list[list[int]],
            levels: list[int], rows: list[int], kinds: list[Kind], untrusted: list[int | None],
            returned: tuple[set[int], int]) -> list[int]:
    """Each step's level once row-wise steps run as late as their readers allow.

    A row-wise step whose every reader runs at a deeper level runs at the least of those
    levels, on its inputs cut to it (it updates ``rows`` of what the step makes). Cutting rows
    commutes with a row-wise step, so the rows kept are the same; the step, and its backward,
    touch only them. Under ``torch.compile`` this matters most: a ReLU over all rows whose
    result is then cut saves a mask of all rows for its backward, which took inductor longer
    than the trimmed layers it sat between (bench/bench_scale.py). Readers' levels do not
    change: a lifted step's rows never pass the least level that reads them. A step is lifted
    only where what it reads and makes is node- or edge-level (or, read, never cut) and laid
    out hop by hop, so that refusals stay where they were.
    """
    readers: dict[int, list[int]] = {}
    for index, versions in enumerate(reads):
        for _, v in versions:
            readers.setdefault(v, []).append(index)
    kept, out_level = returned
    levels = list(levels)
    for index in reversed(range(len(levels))):
        made, read = outs[index], [v for _, v in reads[index]]
        if (facts[index].role != "rowwise" or not made
                or any(kinds[v] not in ("node", "edge") for v in made)
                or any(kinds[v] not in ("node", "edge", "other") for v in read)
                or any(untrusted[v] is not None for v in read)):
            continue
        demand = [levels[r] for v in made for r in readers.get(v, ())]
        demand += [out_level for v in made if v in kept]
        if demand and min(demand) > levels[index]:
            levels[index] = min(demand)
            for v in made:
                rows[v] = levels[index]
    return levels


def _cut(name: str, kind: Kind, rows: int, level: int) -> Cut:
    if kind != "other" and rows < level:
        return Cut(name, kind, level, rows)
    return Cut(name, None, level, rows)


def _how(found: Fact) -> str:
    if found.source == "unknown" and found.refusal is None:
        return "graphseq does not know how it treats rows"
    return found.refusal or f"it is marked {found.role!r}"


def _refusal(where: str, header: str, found: Fact, touched: list[str]) -> str:
    names = ", ".join(repr(n) for n in dict.fromkeys(touched))
    return (f"{where} reads {names} after trimming has cut or changed rows, and {_how(found)}, "
            f"so its result would differ from the untrimmed model's: {header}\n"
            "  if each output row depends only on the same row of its inputs, declare it with "
            "graphseq.trim.mark(child, 'rowwise'); a message-passing step with "
            "mark(child, 'layer', hops=h); else call the model without the per-hop counts")


def _untrusted(plan: Plan, facts: tuple[Fact, ...], made_by: int, name: str, reader: str,
               level: int) -> str:
    step = plan.steps[made_by]
    return (f"{step.where} makes {name!r}, which {reader} reads trimmed to level {level}, but "
            f"{_how(facts[made_by])}, so its rows are not known to be laid out hop by hop: "
            f"{step.header_text}\n"
            f"  declare {name!r} with graphseq.trim.set_kinds(model, node=[{name!r}]) (or "
            "edge=, edge_index=) if they are, mark the child 'rowwise' if it keeps its "
            "inputs' rows; an edge-index rewrite (coalesce, add_self_loops, to_undirected, ...) "
            "belongs in the data pipeline, before sampling")


def _clash(plan: Plan, facts: tuple[Fact, ...], kinds: _Kinds, names: list[str],
           links: dict[int, list[tuple[int, int]]], seeded: set[int], a: int, b: int,
           at: int) -> str:
    """The kind clash found joining ``a`` and ``b`` at step ``at``, blamed on the step that
    mixes kinds: the earliest user-marked step among the row-wise links of the two classes."""
    ra, rb = kinds.find(a), kinds.find(b)
    ka, kb = kinds.kind[ra], kinds.kind[rb]
    members = [v for v in range(len(names)) if kinds.find(v) in (ra, rb)]
    steps = sorted({s for v in members for _, s in links.get(v, [])} | {at})
    blamed = next((s for s in steps if facts[s].source != "table"), at)

    def witness(root: int, fallback: int) -> str:
        seeds = [v for v in members if kinds.find(v) == root and v in seeded]
        return names[min(seeds)] if seeds else names[fallback]

    first, second = witness(ra, a), witness(rb, b)
    step = plan.steps[blamed]
    others = [plan.steps[s].where for s in steps if s != blamed]
    through = f" (with {', '.join(others)})" if others else ""
    assert ka is not None and kb is not None
    return (f"{step.where} makes {first!r} ({_text(ka)}) and {second!r} ({_text(kb)}) share "
            f"rows{through}: {step.header_text}\n"
            "  if it mixes node- and edge-level values, mark it "
            "graphseq.trim.mark(child, 'opaque'), or fix kinds with graphseq.trim.set_kinds()")
