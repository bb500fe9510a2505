"""Typed (heterogeneous) graphs as plans: :func:`to_hetero` makes a typed graphseq model.

A typed model is still a plan: the same input args, headers, step names and outputs as the
model it came from, with values that are dicts by node type (or by edge type, for edge-level
values) and children that apply per type. Only the children change:

* a message-passing step becomes a :class:`HeteroLayer`: one copy of the layer per edge type,
  whose outputs are combined per destination node type with ``aggr`` (as ``HeteroConv`` and
  PyG's ``to_hetero`` do);
* a row-wise step (any other module or function that reads a typed value) becomes a
  :class:`PerType`: one copy per node type (or edge type), each called on that type's rows;
  a ``torch.nn.Sequential`` becomes a :class:`PerTypeChain` of such steps, as PyG's
  ``to_hetero`` traces into it;
* a global pooling step (an ``Aggregation`` or a ``global_*_pool`` function) becomes a
  :class:`HeteroPool`: it pools each node type with that type's ``batch`` vector, then
  combines the types (``combine``: an aggregation, ``'cat'`` or one chosen node type);
* a step that reads no typed value (graph-level) stays as it is.

The children are named as PyG's ``to_hetero`` names them (``conv1.author__writes__paper``,
``lin.paper``), so ``state_dict`` keys are PyG's and checkpoints load both ways. The level of
each value follows PyG's rules: an input whose name holds ``edge`` or ``adj`` is edge-level,
any other input node-level (``input_map`` overrides), a message-passing step's output is
node-level, a pooling step's graph-level, and any other step's output has the level of what it
reads (edge before node before graph). Which types each value holds is worked out when the
model is built, from the metadata; a step that would need a type its input lacks is refused
by name. See ``docs/hetero.md``.
"""

from __future__ import annotations

import copy
import keyword
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import torch

if TYPE_CHECKING:
    from ._plan import Plan, Step
    from ._sequential import Sequential

__all__ = ["AGGRS", "HeteroError", "HeteroLayer", "HeteroPool", "Leaf", "PerType", "PerTypeChain",
           "flat_leaves", "key_name", "levels", "to_hetero"]

NodeType = str
EdgeType = tuple[str, str, str]
Key = NodeType | EdgeType
Level = Literal["node", "edge", "graph"]
Metadata = tuple[Sequence[NodeType], Sequence[EdgeType]]

AGGRS = ("sum", "mean", "min", "max", "mul")
"""How per-edge-type outputs meeting at one node type are combined (PyG's choices)."""

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "sum": torch.add, "mean": torch.add, "min": torch.min, "max": torch.max, "mul": torch.mul,
}


class HeteroError(ValueError):
    """A model, metadata or step that graphseq cannot make typed exactly, and why."""


def key_name(key: Key) -> str:
    """The child name of a node or edge type, as PyG's ``to_hetero`` writes it.

    Args:
        key: A node type, or an edge type ``(src, relation, dst)``.

    Returns:
        ``'__'``-joined parts, with spaces, ``-`` and ``:`` as ``_``.

    Example:
        >>> key_name(('author', 'writes', 'paper'))
        'author__writes__paper'
    """
    text = "__".join(key) if isinstance(key, tuple) else key
    return text.replace(" ", "_").replace("-", "_").replace(":", "_")


@dataclass(frozen=True)
class Leaf:
    """One tensor (or plain value) of a typed call, as an exported program takes it.

    Attributes:
        name: ``input__type`` for a part of a dict by type (``x__paper``), else the input's.
        input: the model's input it belongs to.
        key: its node or edge type, or ``None`` for an input that is not a dict.
        value: the value.
    """

    name: str
    input: str
    key: Key | None
    value: Any


def flat_leaves(values: Mapping[str, Any]) -> list[Leaf]:
    """Each input's parts, named by type: the inputs of a typed model's exported program.

    Args:
        values: the model's inputs by name; a typed one is a dict by node or edge type.

    Returns:
        One :class:`Leaf` per tensor of a dict (in the dict's order) or per other input.

    Raises:
        HeteroError: a dict holds something other than tensors, or two names are the same,
            or a name is no Python identifier.

    Example:
        >>> x = {'paper': torch.ones(3, 2), ('author', 'writes', 'paper'): torch.ones(2, 1)}
        >>> [leaf.name for leaf in flat_leaves({'x': x, 'n': 2})]
        ['x__paper', 'x__author__writes__paper', 'n']
    """
    leaves: dict[str, Leaf] = {}
    for input_name, value in values.items():
        parts = value.items() if isinstance(value, Mapping) else [(None, value)]
        for key, part in parts:
            name = input_name if key is None else f"{input_name}__{key_name(key)}"
            if key is not None and not isinstance(part, torch.Tensor):
                raise HeteroError(f"input {input_name!r} holds {type(part).__name__} for type "
                                  f"{key!r}; a typed input holds one tensor per type.")
            if not name.isidentifier() or keyword.iskeyword(name):
                raise HeteroError(f"input {input_name!r} for type {key!r} would be named "
                                  f"{name!r}, which is not a Python identifier.")
            if name in leaves:
                raise HeteroError(f"input {input_name!r} for type {key!r} and input "
                                  f"{leaves[name].input!r} would both be named {name!r}.")
            leaves[name] = Leaf(name, input_name, key, part)
    return list(leaves.values())


# How a typed child maps its header's arguments to one type's call -------------------------


@dataclass(frozen=True)
class Slot:
    """One argument of a typed step: how it is packed and the level of each value in it."""

    pack: str  # "", "list" or "tuple", as in the header
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class Call:
    """How a typed child passes its arguments on to one type's copy."""

    positional: tuple[Slot, ...]
    keywords: tuple[tuple[str, Slot], ...] = ()

    def args(self, args: tuple[Any, ...], kwargs: Mapping[str, Any],
             key: Key) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of the call for ``key``."""
        positional = [_slot(slot, value, key) for slot, value in
                      zip(self.positional, args, strict=True)]
        keywords = {name: _slot(slot, kwargs[name], key) for name, slot in self.keywords}
        return positional, keywords


def _slot(slot: Slot, value: Any, key: Key) -> Any:
    if not slot.levels:  # a literal argument: the same constant for every type
        return value
    if not slot.pack:
        return _pick(value, slot.levels[0], key)
    items = [_pick(v, level, key) for v, level in zip(value, slot.levels, strict=True)]
    return tuple(items) if slot.pack == "tuple" else items


def _pick(value: Any, level: Level, key: Key) -> Any:
    """One type's part of a value: its rows, or ``(source, destination)`` for an edge type."""
    if level == "graph":
        return value
    if level == "edge":
        return value[key]
    if isinstance(key, tuple):
        src, _, dst = key
        return value[src] if src == dst else (value[src], value[dst])
    return value[key]


def _combine(outs: list[Any], aggr: str) -> Any:
    """Combine outputs in PyG's order: pairs from a queue, then the mean's division."""
    if len(outs) == 1:
        return outs[0]
    op = _OPS[aggr]
    queue = deque(outs)
    while len(queue) >= 2:
        a, b = queue.popleft(), queue.popleft()
        queue.append(op(a, b))
    if aggr == "mean":
        return torch.div(queue[0], len(outs))
    return queue[0]


# Typed children ------------------------------------------------------------------------------


def _copies(owner: torch.nn.Module, child: torch.nn.Module, keys: Sequence[Key],
            reset: bool, where: str) -> None:
    """Add one copy of ``child`` per key to ``owner``, reset where PyG resets them."""
    for key in keys:
        twin = copy.deepcopy(child)
        if reset:
            reset_parameters = getattr(twin, "reset_parameters", None)
            if callable(reset_parameters):
                reset_parameters()
            elif any(True for _ in twin.parameters()):
                warnings.warn(
                    f"graphseq.to_hetero: {where} is copied per type, but its parameters "
                    "cannot be reset (it has no reset_parameters()), so the copies start equal.",
                    UserWarning, stacklevel=4)
        try:
            owner.add_module(key_name(key), twin)
        except KeyError as error:
            raise HeteroError(f"{where}: the type {key!r} cannot name a child "
                              f"({error.args[0]}).") from None


class HeteroLayer(torch.nn.Module):
    """A message-passing layer per edge type, combined per destination type with ``aggr``.

    Args:
        layer: The homogeneous layer (copied once per edge type).
        edge_types: The edge types, in metadata order.
        node_types: The node types, in metadata order (the order of the output dict).
        aggr: One of :data:`AGGRS`.
        call: How the header's arguments map to one edge type's call.
        reset: Reset each copy's parameters (PyG does when there is more than one type).
        where: The step, for messages.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> layer = HeteroLayer(SAGEConv(4, 2), [('a', 'to', 'b')], ['a', 'b'], 'sum',
        ...                     Call((Slot('', ('node',)), Slot('', ('edge',)))))
        >>> x = {'a': torch.randn(3, 4), 'b': torch.randn(2, 4)}
        >>> layer(x, {('a', 'to', 'b'): torch.tensor([[0, 2], [1, 0]])})['b'].shape
        torch.Size([2, 2])
    """

    def __init__(self, layer: torch.nn.Module, edge_types: Sequence[EdgeType],
                 node_types: Sequence[NodeType], aggr: str, call: Call,
                 reset: bool = False, where: str = "a layer") -> None:
        super().__init__()
        _copies(self, layer, edge_types, reset, where)
        self.aggr = aggr
        self.call = call
        self.edge_types: list[EdgeType] = [cast(EdgeType, tuple(t)) for t in edge_types]
        ends = {t[-1] for t in edge_types}
        self.dst_types = [t for t in node_types if t in ends]
        self._names = [(t, key_name(t)) for t in self.edge_types]

    @property
    def template(self) -> Any:
        """One edge type's copy: what the analysis reads for the step (its role, hops, slots)."""
        return self._modules[self._names[0][1]]

    def forward(self, *args: Any, **kwargs: Any) -> dict[NodeType, Any]:
        """Run each edge type's copy; combine the outputs at each destination type.

        Args:
            *args: The header's positional arguments (dicts by type, or plain values).
            **kwargs: Its keyword arguments.

        Returns:
            The new node-level value, by destination node type in metadata order.
        """
        outs: dict[NodeType, list[Any]] = {}
        for key, name in self._names:
            positional, keywords = self.call.args(args, kwargs, key)
            layer: Any = self._modules[name]
            outs.setdefault(key[-1], []).append(layer(*positional, **keywords))
        return {dst: _combine(outs[dst], self.aggr) for dst in self.dst_types}

    def extra_repr(self) -> str:
        """What ``repr`` shows beside the children.

        Returns:
            The text.
        """
        return f"aggr={self.aggr!r}"


class PerType(torch.nn.Module):
    """A row-wise module (one copy per type) or function, called on each type's part.

    Args:
        child: A module (copied per type) or a function (shared).
        keys: The node or edge types it runs for, in metadata order.
        call: How the header's arguments map to one type's call.
        outs: How many values the step writes (more than one: a tuple of dicts).
        reset: Reset each copy's parameters (PyG does when there is more than one type).
        where: The step, for messages.

    Example:
        >>> lin = PerType(torch.nn.Linear(4, 2), ['a', 'b'], Call((Slot('', ('node',)),)))
        >>> out = lin({'a': torch.randn(3, 4), 'b': torch.randn(1, 4)})
        >>> {k: v.shape[0] for k, v in out.items()}
        {'a': 3, 'b': 1}
    """

    def __init__(self, child: Callable[..., Any], keys: Sequence[Key], call: Call,
                 outs: int = 1, reset: bool = False, where: str = "a step") -> None:
        super().__init__()
        self.keys: list[Key] = [cast(EdgeType, tuple(k)) if isinstance(k, list | tuple) else k
                                for k in keys]
        self.call = call
        self.outs = outs
        if isinstance(child, torch.nn.Module):
            _copies(self, child, self.keys, reset, where)
            self.fn: Callable[..., Any] | None = None
        else:
            self.fn = child
        self._names = [(k, key_name(k)) for k in self.keys]

    @property
    def template(self) -> Any:
        """One type's copy (or the function): what the analysis reads for the step."""
        return self.fn if self.fn is not None else self._modules[self._names[0][1]]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call each type's copy on that type's part of the arguments.

        Args:
            *args: The header's positional arguments (dicts by type, or plain values).
            **kwargs: Its keyword arguments.

        Returns:
            A dict by type; for a step that writes several values, a tuple of such dicts.
        """
        results = {}
        for key, name in self._names:
            positional, keywords = self.call.args(args, kwargs, key)
            fn: Any = self.fn if self.fn is not None else self._modules[name]
            results[key] = fn(*positional, **keywords)
        if self.outs == 1:
            return results
        split = [dict[Key, Any]() for _ in range(self.outs)]
        for key, out in results.items():
            values = tuple(out)
            if len(values) != self.outs:
                raise ValueError(f"returned {len(values)} values for type {key!r}; the header "
                                 f"names {self.outs}")
            for i, value in enumerate(values):
                split[i][key] = value
        return tuple(split)

    def extra_repr(self) -> str:
        """What ``repr`` shows beside the children.

        Returns:
            The text.
        """
        return "" if self.fn is None else f"fn={getattr(self.fn, '__name__', self.fn)!r}"


class PerTypeChain(torch.nn.ModuleList):
    """A ``torch.nn.Sequential`` made typed item by item (PyG's ``to_hetero`` traces into it,
    so its keys read ``mlp.0.paper.weight``).

    Example:
        >>> mlp = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
        >>> chain = PerTypeChain([PerType(m, ['a'], Call((Slot('', ('node',)),))) for m in mlp])
        >>> chain({'a': torch.randn(2, 4)})['a'].shape
        torch.Size([2, 4])
    """

    @property
    def template(self) -> torch.nn.Sequential:
        """The items' copies for one type, as a ``torch.nn.Sequential`` for the analysis."""
        items: list[torch.nn.Module] = [item.template for item in self]  # type: ignore[misc]
        return torch.nn.Sequential(*items)

    def forward(self, value: Any) -> Any:
        """Run the items in order.

        Args:
            value: A dict by type.

        Returns:
            The last item's dict by type.
        """
        for item in self:
            value = item(value)
        return value


class HeteroPool(PerType):
    """Global pooling per node type (with each type's ``batch``), then one graph-level value.

    ``combine`` is an aggregation of :data:`AGGRS` (over the node types, in metadata order),
    ``'cat'`` (concatenated along the last dimension, in metadata order) or a node type (that
    type's pooled value alone).

    Args:
        child: An ``Aggregation`` module (copied per node type) or a ``global_*_pool`` function.
        keys: The node types pooled, in metadata order.
        call: How the header's arguments map to one node type's call.
        combine: How the pooled types become one value.
        reset: Reset each copy's parameters.
        where: The step, for messages.

    Example:
        >>> from torch_geometric.nn import global_mean_pool
        >>> pool = HeteroPool(global_mean_pool, ['a', 'b'],
        ...                   Call((Slot('', ('node',)), Slot('', ('node',)))), 'cat')
        >>> x = {'a': torch.ones(3, 2), 'b': torch.zeros(2, 2)}
        >>> batch = {'a': torch.tensor([0, 0, 1]), 'b': torch.tensor([0, 1])}
        >>> pool(x, batch).shape
        torch.Size([2, 4])
    """

    def __init__(self, child: Callable[..., Any], keys: Sequence[NodeType], call: Call,
                 combine: str, reset: bool = False, where: str = "a pooling step") -> None:
        super().__init__(child, keys, call, reset=reset, where=where)
        self.combine = combine

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Pool each node type, then combine.

        Args:
            *args: The header's positional arguments (dicts by node type, or plain values).
            **kwargs: Its keyword arguments.

        Returns:
            One graph-level value.
        """
        pooled: dict[Any, Any] = super().forward(*args, **kwargs)
        if self.combine == "cat":
            return torch.cat(list(pooled.values()), dim=-1)
        if self.combine in _OPS:
            return _combine(list(pooled.values()), self.combine)
        return pooled[self.combine]

    def extra_repr(self) -> str:
        """What ``repr`` shows beside the children.

        Returns:
            The text.
        """
        return f"combine={self.combine!r}"


# Levels: which values are dicts by node type, by edge type, or plain -----------------------


Role = Literal["layer", "pool", "rowwise"]


def _role(child: Any) -> Role:
    """PyG's ``to_hetero`` criteria: message passing, global pooling, or anything else."""
    from torch_geometric.nn.aggr import Aggregation
    from torch_geometric.nn.conv import MessagePassing

    if isinstance(child, MessagePassing):
        return "layer"
    if isinstance(child, Aggregation):
        return "pool"
    module = getattr(child, "__module__", "") or ""
    name = getattr(child, "__name__", "") or ""
    if module.startswith("torch_geometric.nn.pool") and name.startswith("global_"):
        return "pool"
    return "rowwise"


@dataclass(frozen=True)
class TypedStep:
    """What :func:`levels` finds for one step: its role, level, types and call."""

    role: Role
    level: Level  # of what it writes
    keys: tuple[Key, ...]  # the types it runs for (empty: it stays as it is)
    call: Call
    types: tuple[Key, ...]  # the types of what it writes


@dataclass(frozen=True)
class Typing:
    """The typed view of a plan: each input's level and types, then each step's."""

    inputs: tuple[tuple[str, Level, tuple[Key, ...]], ...]
    steps: tuple[TypedStep, ...]
    outputs: tuple[tuple[str, Level, tuple[Key, ...]], ...]


def levels(plan: Plan, children: Mapping[str, Any], metadata: Metadata,
           input_map: Mapping[str, str] | None = None) -> Typing:
    """Work out the level and the types of every value of ``plan`` over ``metadata``.

    Args:
        plan: A homogeneous model's plan.
        children: Its steps' callables, by step name.
        metadata: ``(node_types, edge_types)``, as ``HeteroData.metadata()`` gives it.
        input_map: ``'node'``, ``'edge'`` or ``'graph'`` for inputs whose level PyG's name
            rule would get wrong.

    Returns:
        The typing.

    Raises:
        HeteroError: A step cannot run per type exactly; the message names it.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> model = Sequential('x, edge_index', [(SAGEConv(4, 4), 'x, edge_index -> x')])
        >>> typing = levels(model.plan, model.children_by_name(),
        ...                 (['a', 'b'], [('a', 'to', 'b')]))
        >>> typing.steps[0].level, typing.steps[0].types
        ('node', ('b',))
    """
    node_types, edge_types = _check_metadata(metadata)
    given = dict(input_map or {})
    unknown = set(given) - set(plan.inputs.names)
    if unknown:
        raise HeteroError(f"input_map names {sorted(unknown)}, which are not inputs of the "
                          f"model (inputs: {', '.join(plan.inputs.names)}).")
    level: dict[str, Level] = {}
    types: dict[str, tuple[Key, ...]] = {}
    inputs = []
    for name in plan.inputs.names:
        lv = given.get(name) or ("edge" if "edge" in name or "adj" in name else "node")
        if lv not in ("node", "edge", "graph"):
            raise HeteroError(f"input_map gives {name!r} the level {lv!r}; expected 'node', "
                              "'edge' or 'graph'.")
        level[name] = cast(Level, lv)
        everything: dict[str, tuple[Key, ...]] = {
            "node": tuple(node_types), "edge": tuple(edge_types), "graph": ()}
        types[name] = everything[lv]
        inputs.append((name, level[name], types[name]))
    steps = []
    for step in plan.steps:
        typed = _step(step, children[step.name], level, types, node_types, edge_types)
        for out in step.header.outs:
            level[out], types[out] = typed.level, typed.types
        steps.append(typed)
    outputs = tuple((n, level[n], types[n]) for n in plan.outputs)
    return Typing(tuple(inputs), tuple(steps), outputs)


def _check_metadata(metadata: Any) -> tuple[list[NodeType], list[EdgeType]]:
    try:
        raw_nodes, raw_edges = metadata
        node_types = list(raw_nodes)
        edge_types = [tuple(t) for t in raw_edges]
    except (TypeError, ValueError):
        raise HeteroError("metadata must be (node_types, edge_types), as "
                          "HeteroData.metadata() gives it.") from None
    if not node_types or not edge_types:
        raise HeteroError("metadata needs at least one node type and one edge type.")
    if not all(isinstance(t, str) for t in node_types) or len(set(node_types)) < len(node_types):
        raise HeteroError(f"node types must be distinct strings; got {node_types!r}.")
    for t in edge_types:
        if len(t) != 3 or not all(isinstance(p, str) for p in t):
            raise HeteroError(f"edge type {t!r} is not a (src, relation, dst) triple of strings.")
        if t[0] not in node_types or t[2] not in node_types:
            raise HeteroError(f"edge type {t!r} joins a node type that metadata does not list.")
    names: dict[str, Key] = {}
    for key in [*node_types, *edge_types]:
        name = key_name(key)
        if "." in name or not name:
            raise HeteroError(f"the type {key!r} cannot name a child ('.' or empty).")
        if name in names:
            raise HeteroError(f"the types {names[name]!r} and {key!r} have the same child "
                              f"name {name!r}.")
        names[name] = key
    return node_types, cast(list[EdgeType], edge_types)


def _step(step: Step, child: Any, level: dict[str, Level], types: dict[str, tuple[Key, ...]],
          node_types: list[NodeType], edge_types: list[EdgeType]) -> TypedStep:
    where = f"{step.where}: {step.header}"
    role = _role(child)
    slots = [Slot(arg.pack, tuple(level[n] for n in arg.names)) for arg in step.header.args]
    call = Call(tuple(s for s, a in zip(slots, step.header.args, strict=True) if a.keyword is None),
                tuple((str(a.keyword), s) for s, a in zip(slots, step.header.args, strict=True)
                      if a.keyword is not None))
    read = step.header.reads
    node_reads = [n for n in read if level[n] == "node"]
    edge_reads = [n for n in read if level[n] == "edge"]
    if role == "layer":
        if len(step.header.outs) != 1:
            raise HeteroError(f"{where}: a message-passing step that writes more than one value "
                              "cannot be made typed (its extra outputs have no per-type form).")
        bipartite = [t for t in edge_types if t[0] != t[2]]
        if bipartite and getattr(child, "add_self_loops", False):
            raise HeteroError(f"{where}: the layer adds self-loops, which is wrong for the edge "
                              f"types between two node types ({bipartite[0]!r}); build it with "
                              "add_self_loops=False.")
        _need_ends(where, node_reads, edge_types, types)
        _need_edges(where, edge_reads, edge_types, types)
        dsts = {t[2] for t in edge_types}
        return TypedStep("layer", "node", tuple(edge_types), call,
                         tuple(t for t in node_types if t in dsts))
    if role == "pool":
        if edge_reads or not node_reads:
            raise HeteroError(f"{where}: global pooling per node type reads node-level values "
                              "only (x and batch dicts by node type).")
        keys = _same_types(where, node_reads, types)
        return TypedStep("pool", "graph", keys, call, ())
    if edge_reads:
        _need_ends(where, node_reads, edge_types, types)
        keys = _same_types(where, edge_reads, types)
        return TypedStep("rowwise", "edge", keys, call, keys)
    if node_reads:
        keys = _same_types(where, node_reads, types)
        return TypedStep("rowwise", "node", keys, call, keys)
    return TypedStep("rowwise", "graph", (), call, ())


def _need_ends(where: str, reads: Iterable[str], edge_types: Iterable[EdgeType],
               types: Mapping[str, tuple[Key, ...]]) -> None:
    for name in reads:
        for t in edge_types:
            for end in dict.fromkeys((t[0], t[2])):
                if end not in types[name]:
                    raise HeteroError(
                        f"{where}: reads {name!r} for node type {end!r} (an end of edge type "
                        f"{t!r}), but {name!r} has no {end!r} part: no edge type ends at "
                        f"{end!r} in an earlier message-passing step. Add an edge type into "
                        f"{end!r} (for example a reverse one, T.ToUndirected()).")


def _need_edges(where: str, reads: Iterable[str], edge_types: Iterable[EdgeType],
                types: Mapping[str, tuple[Key, ...]]) -> None:
    for name in reads:
        missing = [t for t in edge_types if t not in types[name]]
        if missing:
            raise HeteroError(f"{where}: reads {name!r} for edge type {missing[0]!r}, which it "
                              "has no part for.")


def _same_types(where: str, reads: Sequence[str],
                types: Mapping[str, tuple[Key, ...]]) -> tuple[Key, ...]:
    keys = types[reads[0]]
    for name in reads[1:]:
        if set(types[name]) != set(keys):
            lacking = sorted(map(str, set(keys) ^ set(types[name])))
            raise HeteroError(
                f"{where}: reads {reads[0]!r} and {name!r}, which hold different types "
                f"(only one has {', '.join(lacking)}); no edge type ends at a type that an "
                "earlier message-passing step would have to write.")
    return keys


# to_hetero ------------------------------------------------------------------------------------


def to_hetero(model: Sequential, metadata: Metadata, aggr: str = "sum", *,
              input_map: Mapping[str, str] | None = None,
              combine: str | None = None) -> Sequential:
    """A typed graphseq model: ``model``'s plan over a heterogeneous graph of ``metadata``.

    The drop-in for ``torch_geometric.nn.to_hetero`` on a graphseq model: the same outputs
    for the same weights, the same ``state_dict`` keys, but the result is a graphseq model
    (headers, summary, diagrams, surgery, trimming) rather than an fx ``GraphModule``.

    Args:
        model: A homogeneous graphseq model.
        metadata: ``(node_types, edge_types)``, as ``HeteroData.metadata()`` gives it.
        aggr: How outputs of edge types meeting at a node type are combined: one of
            ``'sum'``, ``'mean'``, ``'min'``, ``'max'``, ``'mul'``.
        input_map: ``'node'``, ``'edge'`` or ``'graph'`` by input name, where PyG's rule (a
            name with ``edge`` or ``adj`` is edge-level) does not fit.
        combine: How global pooling combines node types: an aggregation as for ``aggr``
            (default: ``aggr``), ``'cat'``, or one node type.

    Returns:
        A new model of ``model``'s class whose values are dicts by type.

    Raises:
        HeteroError: The metadata is malformed, or a step cannot be made typed exactly (the
            message names it).

    Example:
        >>> from torch.nn import ReLU
        >>> from torch_geometric.nn import SAGEConv
        >>> import graphseq
        >>> model = graphseq.Sequential('x, edge_index', {
        ...     'conv1': (SAGEConv((-1, -1), 8), 'x, edge_index -> x'),
        ...     'act': ReLU(),
        ...     'conv2': (SAGEConv((-1, -1), 2), 'x, edge_index -> x'),
        ... })
        >>> metadata = (['paper', 'author'], [('author', 'writes', 'paper'),
        ...                                   ('paper', 'rev_writes', 'author')])
        >>> typed = graphseq.to_hetero(model, metadata)
        >>> x = {'paper': torch.randn(3, 5), 'author': torch.randn(2, 4)}
        >>> edge_index = {('author', 'writes', 'paper'): torch.tensor([[0, 1], [2, 0]]),
        ...               ('paper', 'rev_writes', 'author'): torch.tensor([[2, 0], [0, 1]])}
        >>> {k: v.shape for k, v in typed(x, edge_index).items()}
        {'paper': torch.Size([3, 2]), 'author': torch.Size([2, 2])}
    """
    if aggr not in AGGRS:
        raise HeteroError(f"aggr={aggr!r}; expected one of {', '.join(AGGRS)}.")
    node_types, edge_types = _check_metadata(metadata)
    combine = aggr if combine is None else combine
    if combine not in AGGRS and combine != "cat" and combine not in node_types:
        raise HeteroError(f"combine={combine!r}; expected one of {', '.join(AGGRS)}, 'cat' or a "
                          f"node type ({', '.join(node_types)}).")
    children = model.children_by_name()
    typing = levels(model.plan, children, (node_types, edge_types), input_map)
    typed: dict[str, Any] = {}
    for step, info in zip(model.plan.steps, typing.steps, strict=True):
        typed[step.name] = _typed_child(step, children[step.name], info, node_types, edge_types,
                                        aggr, combine)
    return model.clone(lambda name, child: typed[name])


def _typed_child(step: Step, child: Any, info: TypedStep, node_types: list[NodeType],
                 edge_types: list[EdgeType], aggr: str, combine: str) -> Any:
    where = step.where
    if info.role == "layer":
        return HeteroLayer(child, edge_types, node_types, aggr, info.call,
                           reset=len(edge_types) > 1, where=where)
    if info.role == "pool":
        if combine in node_types and combine not in info.keys:
            raise HeteroError(f"{where}: combine={combine!r}, but that node type is not pooled "
                              "here.")
        pooled = cast(tuple[NodeType, ...], info.keys)
        return HeteroPool(child, pooled, info.call, combine, reset=len(node_types) > 1,
                          where=where)
    if not info.keys:
        return child  # graph-level: it stays as it is, as in PyG
    many = len(edge_types if info.level == "edge" else node_types) > 1
    if isinstance(child, torch.nn.Sequential):
        if len(step.header.args) != 1 or step.header.args[0].pack or len(step.header.outs) != 1:
            raise HeteroError(f"{where}: a torch.nn.Sequential step takes one value and writes "
                              "one.")
        if not info.call.positional:
            raise HeteroError(f"{where}: a torch.nn.Sequential step takes its value by position.")
        one = Call(info.call.positional[:1])
        items = [PerType(item, info.keys, one, reset=many, where=f"{where} item {i}")
                 for i, item in enumerate(child)]
        return PerTypeChain(items)
    return PerType(child, info.keys, info.call, len(step.header.outs), reset=many, where=where)
