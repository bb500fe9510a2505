"""Layer-wise inference over all nodes, for any declared dataflow: ``model.inference(...)``.

A full-graph ``forward`` keeps every intermediate of every layer for the whole graph at once.
Layer-wise inference runs the model *level by level* instead: each message-passing step runs
over all nodes in batches of target nodes with their full in-neighbourhoods, each row-wise
step over the same rows, and only the values that a later level reads are kept, for all nodes,
on ``embedding_device``. The result equals ``forward``'s, to float rounding.

From the plan and the analysis of its values (what is node-, edge- or graph-level, which steps
are layers: :mod:`graphseq.trim` today) a :class:`Schedule` is made once per call, before any
work: the level of each step, which values are kept and when they are freed, or a refusal that
names the step. Each level is one generated function (codegen's :func:`~graphseq._codegen.call_line`
for every step, the views it reads bound before it); the driver here loops over levels and
batches cut from the graph's CSR (edges sorted by target once). See ``docs/scale.md``.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import linecache
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import Tensor

from ._analysis import fact
from ._codegen import call_line
from ._plan import INPUT, Plan, Step

if TYPE_CHECKING:
    from ._sequential import Sequential

__all__ = ["InferenceError", "Schedule", "explain", "infer", "schedule"]

Role = Literal["layer", "rowwise", "reduce", "opaque"]
Kind = Literal["node", "edge", "edge_index", "other"]

SETUP = -2  # steps over graph-level values only: run once, before the batches
PRE = -1  # row-wise steps before the first layer: run in chunks of rows


class InferenceError(ValueError):
    """A model or a call that layer-wise inference cannot run exactly, with what to do."""


# What inference needs of the analysis of a plan -------------------------------------------


class Facts(NamedTuple):
    """The analysis of a plan, as inference reads it.

    ``kinds`` has one entry per value version: the inputs first, then each step's outputs, in
    step order. ``why`` says, per step, why it cannot run on a part of the nodes (``None``: it
    can). ``error`` is why the analysis could not type the model at all. ``opaque`` says, for
    each opaque step, why it is not known to be row-wise.
    """

    roles: tuple[Role, ...]
    hops: tuple[int, ...]
    kinds: tuple[Kind, ...]
    why: tuple[str | None, ...]
    error: str | None
    opaque: tuple[str | None, ...] = ()


def facts(model: Sequential) -> Facts:
    """The analysis of ``model`` that inference reads, from :mod:`graphseq._analysis`."""
    from . import trim

    found = trim.analysis(model)
    roles = tuple(step.role for step in found.steps)
    hops = tuple(step.hops for step in found.steps)
    kinds = tuple(kind for _, kind in found.inputs)
    kinds += tuple(kind for step in found.steps for _, kind in step.outs)
    why: tuple[str | None, ...] = tuple(None for _ in roles)
    clash = found.kind_error
    error = str(clash) if clash is not None and "layer" in roles else None
    children = model.children_by_name()
    opaque: list[str | None] = []
    for step, plan_step in zip(found.steps, model.plan.steps, strict=True):
        reason = None
        if step.role == "opaque":
            told = fact(children[plan_step.name])
            reason = told.refusal or ("it is marked 'opaque'" if told.source == "marked" else
                                      "graphseq's tables do not list it")
        opaque.append(reason)
    return Facts(roles, hops, kinds, why, error, tuple(opaque))


# The schedule: levels, kept values, frees ----------------------------------------------------


@dataclass(frozen=True)
class Read:
    """How a step reads one name: which version, of which kind, as which view."""

    name: str
    version: int
    view: Literal["gather", "gather_edges", "rows", "edges", "index", "whole", "local"]


@dataclass(frozen=True)
class Planned:
    """One step in the schedule."""

    step: Step
    level: int
    layer: bool
    reads: tuple[Read, ...]
    outs: tuple[int, ...]  # the versions it writes
    keep: tuple[int, ...]  # of those, the versions stored for all rows


@dataclass(frozen=True)
class Schedule:
    """How inference runs a plan: each step's level, what is kept, and when it is freed.

    Levels run in order: ``-2`` (steps over graph-level values only, once), ``-1`` (row-wise
    steps before the first layer, in chunks) and ``0 .. depth - 1`` (the layers of each depth
    with the row-wise steps that follow them, in batches of target nodes).
    """

    steps: tuple[Planned, ...]
    levels: tuple[int, ...]  # the levels that have steps, in order
    kinds: tuple[Kind, ...]  # per version
    names: tuple[str, ...]  # per version
    inputs: tuple[str, ...]
    index: int | None  # the version of the edge index input, if any layer reads one
    outputs: tuple[int, ...]  # versions returned
    free_after: Mapping[int, tuple[int, ...]]  # level -> versions dead after it
    hops_at: Mapping[int, int] = field(default_factory=dict)  # level -> hops its batches need
    whole: frozenset[int] = frozenset()  # versions made from graph-level values only


def schedule(plan: Plan, known: Facts) -> Schedule:
    """The :class:`Schedule` of ``plan``, or a refusal naming the step that cannot run so.

    Long because each refusal is written where its condition is found, with the step's name
    and the way out: the plan is one loop over the steps, then one over the planned ones.

    Args:
        plan: The model's plan.
        known: The analysis of its values and steps.

    Returns:
        The schedule.

    Raises:
        InferenceError: A step cannot run on a part of the nodes, or the model's graph
            cannot be cut into batches; the message names the step and says why.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.inference import facts, schedule
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> [s.level for s in schedule(model.plan, facts(model)).steps]
        [0, 1]
    """
    if known.error is not None:
        raise InferenceError(f"cannot run this model layer-wise: {known.error}. "
                             "See graphseq.trim.explain(model), mark() and set_kinds().")
    names = list(plan.inputs.names)
    base: list[int] = []
    for step in plan.steps:
        base.append(len(names))
        names.extend(step.header.outs)
    kinds = known.kinds

    def version(step: Step, name: str) -> int:
        source = step.sources[step.header.reads.index(name)]
        if source == INPUT:
            return plan.inputs.names.index(name)
        return base[source] + plan.steps[source].header.outs.index(name)

    depth = [0] * len(names)
    setup = [i < len(plan.inputs.names) and kinds[i] == "other" for i in range(len(names))]
    index: int | None = None
    planned: list[Planned] = []
    for step, role in zip(plan.steps, known.roles, strict=True):
        reads = {name: version(step, name) for name in step.header.reads}
        outs = tuple(range(base[step.index], base[step.index] + len(step.header.outs)))
        why = known.why[step.index]
        if why is not None:
            raise InferenceError(f"{step.where} cannot run on a part of the nodes: {why}.")
        layer = role == "layer"
        if role == "reduce":
            raise InferenceError(
                f"{step.where} is graph-level (it reduces over all nodes, as global pooling "
                "does), which inference cannot run in batches of nodes; run inference on the "
                "steps before it (model[:i]) and apply this step to the result."
            )
        if role == "opaque" and any(kinds[v] != "other" for v in reads.values()):
            reason = known.opaque[step.index] if known.opaque else None
            raise InferenceError(
                f"{step.where} is not known to be row-wise ({reason or 'it is opaque'}), so "
                "inference cannot run it on a part of the nodes; if each output row depends "
                "only on the same row of its inputs, mark it: "
                "graphseq.trim.mark(child, 'rowwise')."
            )
        if layer:
            if len(step.header.outs) != 1:
                raise InferenceError(
                    f"{step.where} writes {len(step.header.outs)} values; inference keeps "
                    "one node-level output per layer (drop return_attention_weights and the "
                    "like, or give the layer one output)."
                )
            level = max((depth[v] for v in reads.values()), default=0)
            for name, v in reads.items():
                if kinds[v] == "edge_index":
                    if v >= len(plan.inputs.names):
                        raise InferenceError(
                            f"{step.where} reads the edge index {name!r}, which a step "
                            "computes; inference cuts batches from an edge index given as an "
                            "input: compute it before calling inference and pass it in."
                        )
                    if index is not None and index != v:
                        raise InferenceError(
                            f"{step.where} reads a second edge index, {name!r} (the first "
                            f"is {names[index]!r}); inference cuts batches from one graph."
                        )
                    index = v
            views = tuple(Read(n, v, "whole" if setup[v] else _layer_view(kinds[v]))
                          for n, v in reads.items())
            for v in outs:
                depth[v] = level + 1
        else:
            for name, v in reads.items():
                if kinds[v] == "edge_index":
                    raise InferenceError(
                        f"{step.where} reads the edge index {name!r} outside a message-passing "
                        "step; inference cannot cut it into batches of rows. Compute it "
                        "before calling inference, or mark the step as a layer."
                    )
            if all(setup[v] for v in reads.values()):
                level = SETUP
                for v in outs:
                    setup[v] = True
            else:
                deepest = max(depth[v] for v in reads.values())
                level = deepest - 1
                for v in outs:
                    depth[v] = deepest
            views = tuple(Read(n, v, _row_view(kinds[v], setup[v])) for n, v in reads.items())
        planned.append(Planned(step, level, layer, views, outs, ()))

    producer_level = {v: p.level for p in planned for v in p.outs}
    outputs = tuple(version_at_end(plan, base, name) for name in plan.outputs)
    final: list[Planned] = []
    last: dict[int, int] = {}
    for p in planned:
        # A row-wise read of a value made at the same level, in the same batch, is local.
        local = tuple(
            Read(r.name, r.version, "local")
            if r.view in ("rows", "edges") and producer_level.get(r.version) == p.level else r
            for r in p.reads
        )
        for read in local:
            last[read.version] = max(last.get(read.version, p.level), p.level)
        final.append(Planned(p.step, p.level, p.layer, local, p.outs, ()))
    needed = set(outputs) | {r.version for p in final for r in p.reads if r.view != "local"}
    final = [Planned(p.step, p.level, p.layer, p.reads, p.outs,
                     tuple(v for v in p.outs if v in needed)) for p in final]
    levels = tuple(sorted({p.level for p in final}))
    free: dict[int, list[int]] = {}
    for v, level in last.items():
        if v not in outputs:
            free.setdefault(level, []).append(v)
    return Schedule(
        tuple(final), levels, kinds, tuple(names), plan.inputs.names, index, outputs,
        {k: tuple(v) for k, v in free.items()},
        {level: max((max(known.hops[p.step.index], 1) for p in final
                     if p.layer and p.level == level), default=0) for level in levels},
        frozenset(v for v, flag in enumerate(setup) if flag),
    )


def explain(model: Sequential) -> str:
    """How inference runs ``model``: each step's level, and what is kept for all nodes until when.

    Args:
        model: A graphseq model.

    Returns:
        One line per step, in the order the steps run.

    Raises:
        InferenceError: The model cannot run layer-wise; the message names the step.

    Example:
        >>> from torch.nn import Linear, ReLU
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.inference import explain
        >>> model = Sequential("x, edge_index", [(Linear(4, 4), "x -> x"),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x"), ReLU(),
        ...                                      (SAGEConv(4, 4), "x, edge_index -> x")])
        >>> print(explain(model))
        rows:    step 0 ('module_0'), keeps x until level 0
        level 0: step 1 ('module_1'), layer (1 hop)
        level 0: step 2 ('module_2'), keeps x until level 1
        level 1: step 3 ('module_3'), layer (1 hop), keeps x (returned)
    """
    sched = schedule(model.plan, facts(model))
    last: dict[int, int] = {}
    for p in sched.steps:
        for read in p.reads:
            last[read.version] = max(last.get(read.version, p.level), p.level)
    hops = facts(model).hops
    lines = []
    for level in sched.levels:
        label = {SETUP: "once:", PRE: "rows:"}.get(level, f"level {level}:")
        for p in sched.steps:
            if p.level != level:
                continue
            text = f"{label:<8} {p.step.where}"
            if p.layer:
                reach = max(hops[p.step.index], 1)
                text += f", layer ({reach} hop{'s' if reach > 1 else ''})"
            kept = [f"{sched.names[v]} (returned)" if v in sched.outputs
                    else f"{sched.names[v]} until level {last[v]}" for v in p.keep]
            if kept:
                text += ", keeps " + ", ".join(kept)
            lines.append(text)
    return "\n".join(lines)


def version_at_end(plan: Plan, base: list[int], name: str) -> int:
    """The version a name holds after the last step."""
    producer = plan.producer(name)
    if producer == INPUT:
        return plan.inputs.names.index(name)
    return base[producer] + plan.steps[producer].header.outs.index(name)


def _layer_view(kind: Kind) -> Literal["gather", "gather_edges", "index", "whole"]:
    return {"node": "gather", "edge": "gather_edges", "edge_index": "index"}.get(  # type: ignore[return-value]
        kind, "whole")


def _row_view(kind: Kind, setup: bool) -> Literal["rows", "edges", "whole"]:
    if setup or kind not in ("node", "edge"):
        return "whole"
    return "rows" if kind == "node" else "edges"


# The generated code: one function per level --------------------------------------------------

_counter = itertools.count()


@dataclass(frozen=True)
class _Level:
    fn: Callable[..., Any]
    filename: str
    line_to_step: dict[int, int]


def generate(sched: Schedule, level: int) -> tuple[str, dict[int, int]]:
    """The source of one level's function: ``level_N(kept, batch)``, and its line -> step map.

    Args:
        sched: The schedule.
        level: One of ``sched.levels``.

    Returns:
        The factory source (``def make(...)`` around the level's function) and, for each of
        its lines that calls a step, the step's index.

    Example:
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.inference import facts, generate, schedule
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x")])
        >>> print(generate(schedule(model.plan, facts(model)), 0)[0], end="")
        def make(modules, functions, view, store, targets):
            def level_0(kept, batch):
                x = view(kept[0], batch, 'gather')
                edge_index = batch.edge_index
                x = modules['module_0'](x, edge_index)
                x = targets(x, batch)
                store(kept, 2, x, batch, 0)
            return level_0
    """
    taken = set(sched.names) | set(dir(builtins))
    h = {role: _fresh(role, taken) for role in _HELPERS}
    fn_name = _fresh({SETUP: "setup", PRE: "rows"}.get(level, f"level_{level}"), taken)
    kept, batch = h["kept"], h["batch"]
    lines = [f"def make({', '.join(h[r] for r in _HELPERS[:5])}):",
             f"    def {fn_name}({kept}, {batch}):"]
    line_to_step: dict[int, int] = {}
    for p in sched.steps:
        if p.level != level:
            continue
        for read in p.reads:
            if read.view == "local":
                continue
            if read.view == "index":
                lines.append(f"        {read.name} = {batch}.edge_index")
            elif read.view == "whole":
                lines.append(f"        {read.name} = {kept}[{read.version}]")
            else:
                lines.append(f"        {read.name} = {h['view']}({kept}[{read.version}], "
                             f"{batch}, {read.view!r})")
        role = "modules" if p.step.kind == "module" else "functions"
        lines.append("        " + call_line(p.step, f"{h[role]}[{p.step.name!r}]"))
        line_to_step[len(lines)] = p.step.index
        if p.layer:
            out = p.step.header.outs[0]
            lines.append(f"        {out} = {h['targets']}({out}, {batch})")
        for v, out in zip(p.outs, p.step.header.outs, strict=True):
            if v in p.keep:
                lines.append(f"        {h['store']}({kept}, {v}, {out}, {batch}, "
                             f"{p.step.index})")
    lines.append(f"    return {fn_name}")
    return "\n".join(lines) + "\n", line_to_step


_HELPERS = ("modules", "functions", "view", "store", "targets", "kept", "batch")


def _fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, ...: a name no value of the model has."""
    name = base
    for i in itertools.count(1):
        if name not in taken:
            break
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _compile(source: str, bindings: Sequence[Any]) -> tuple[Callable[..., Any], str]:
    filename = f"<graphseq.inference-{next(_counter)}>"
    code = compile(source, filename, "exec", dont_inherit=True)
    scope: dict[str, Any] = {}
    exec(code, {"__name__": "graphseq.generated"}, scope)  # source from the plan's records
    fn: Callable[..., Any] = scope["make"](*bindings)
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    weakref.finalize(fn, linecache.cache.pop, filename, None)
    return fn, filename


# Batches cut from the CSR ---------------------------------------------------------------------


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


# The helpers the generated code calls ---------------------------------------------------------


def _view(value: Tensor, batch: Batch, how: str) -> Tensor:
    if how == "gather":
        assert batch.n_id is not None
        return value.index_select(0, batch.n_id.to(value.device)).to(batch.device)
    if how == "gather_edges" and batch.e_id is not None:
        return value.index_select(0, batch.e_id.to(value.device)).to(batch.device)
    if how == "rows":
        return value[batch.start:batch.stop].to(batch.device)
    return value[batch.e0:batch.e1].to(batch.device)  # "edges"


def _targets(value: Any, batch: Batch) -> Any:
    if isinstance(value, Tensor) and value.dim() > 0:
        return value.narrow(0, 0, batch.size)
    return value


class _Store:
    """Writes each batch's rows of a kept value into its all-rows buffer."""

    def __init__(self, sched: Schedule, plan: Plan, num_nodes: int, num_edges: int,
                 device: torch.device) -> None:
        self.sched = sched
        self.plan = plan
        self.rows = {"node": num_nodes, "edge": num_edges}
        self.device = device

    def __call__(self, kept: dict[int, Any], version: int, value: Any, batch: Batch,
                 step: int) -> None:
        kind = self.sched.kinds[version]
        if kind not in self.rows or version in self.sched.whole:  # graph-level: kept whole
            kept[version] = value
            return
        want = batch.size if kind == "node" else batch.e1 - batch.e0
        if not isinstance(value, Tensor) or value.dim() == 0 or value.size(0) != want:
            got = (f"shape {list(value.shape)}" if isinstance(value, Tensor)
                   else type(value).__name__)
            where = self.plan.steps[step].where
            raise InferenceError(
                f"{where} gave {self.sched.names[version]!r} with {got} for a batch of {want} "
                f"{kind}s; as a {kind}-level value it needs one row per {kind}. If the step is "
                "not row-wise, mark it (graphseq.trim.mark) or set the value's kind "
                "(graphseq.trim.set_kinds)."
            )
        buffer = kept.get(version)
        if buffer is None:
            buffer = torch.empty((self.rows[kind], *value.shape[1:]), dtype=value.dtype,
                                 device=self.device)
            kept[version] = buffer
        start, stop = (batch.start, batch.stop) if kind == "node" else (batch.e0, batch.e1)
        buffer[start:stop] = value


# The driver ------------------------------------------------------------------------------------


def infer(
    model: Sequential,
    inputs: tuple[Any, ...],
    keyword_inputs: Mapping[str, Any],
    *,
    batch_size: int,
    device: torch.device | str | None = None,
    embedding_device: torch.device | str = "cpu",
    progress_bar: bool = False,
) -> Any:
    """Run ``model`` layer-wise over all nodes: what :meth:`graphseq.Sequential.inference` does.

    Args:
        model: The model.
        inputs: Its inputs for the whole graph, in the order of its input args.
        keyword_inputs: Inputs by name.
        batch_size: Target nodes per batch.
        device: Where the steps run; by default the device of the model's first parameter
            (the CPU if it has none).
        embedding_device: Where the values kept for all nodes are held.
        progress_bar: Show a tqdm bar counting levels x batches.

    Returns:
        What ``model(*inputs, **keyword_inputs)`` returns.

    Raises:
        InferenceError: A step cannot run layer-wise (before any work), or the inputs do not
            fit the graph.

    Example:
        >>> import torch
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> from graphseq.inference import infer
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x")])
        >>> x, edge_index = torch.randn(5, 4), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> out = infer(model, (x, edge_index), {}, batch_size=2)
        >>> torch.allclose(out, model(x, edge_index), atol=1e-6)
        True
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InferenceError(f"batch_size must be a positive int, not {batch_size!r}.")
    plan = model.plan
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # the analysis sees eval mode (BatchNorm uses its running statistics)
    try:
        sched = schedule(plan, facts(model))  # refusals come before any work
        values = _bind(plan, inputs, keyword_inputs)
        run_on = _device(model, device)
        keep_on = torch.device(embedding_device)
        num_nodes, num_edges, edge_index = _sizes(plan, sched, values)
        with torch.no_grad():
            return _run(model, plan, sched, values, batch_size, run_on, keep_on, num_nodes,
                        num_edges, edge_index, progress_bar)
    finally:
        for module, mode in modes:
            module.training = mode


def _run(model: Sequential, plan: Plan, sched: Schedule, values: list[Any], batch_size: int,
         run_on: torch.device, keep_on: torch.device, num_nodes: int, num_edges: int,
         edge_index: Tensor | None, progress_bar: bool) -> Any:
    graph = Graph(edge_index, num_nodes)
    kept: dict[int, Any] = {}
    for v, value in enumerate(values):
        kind = sched.kinds[v]
        if kind == "edge" and isinstance(value, Tensor) and graph.perm is not None:
            value = value.index_select(0, graph.perm.to(value.device))
        elif kind == "other" and isinstance(value, Tensor):
            value = value.to(run_on)
        if kind != "edge_index":
            kept[v] = value
    store = _Store(sched, plan, num_nodes, num_edges, keep_on)
    children = model.children_by_name()
    modules = {p.step.name: children[p.step.name] for p in sched.steps if p.step.kind == "module"}
    functions = {p.step.name: children[p.step.name] for p in sched.steps
                 if p.step.kind != "module"}
    bindings = (modules, functions, _view, store, _targets)  # in the order of _HELPERS
    levels = {}
    for level in sched.levels:
        source, line_to_step = generate(sched, level)
        fn, filename = _compile(source, bindings)
        levels[level] = _Level(fn, filename, line_to_step)
    batched = [level for level in sched.levels if level != SETUP]
    per_level = -(-num_nodes // batch_size)
    bar = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(batched) * per_level, desc="inference", unit="batch")
    try:
        for level in sched.levels:
            made = levels[level]
            if level == SETUP:
                _call(made, plan, kept, Batch(0, num_nodes, 0, num_edges, run_on), level)
            else:
                for batch in graph.batches(batch_size, run_on):
                    if sched.hops_at.get(level):
                        graph.neighbourhood(batch, sched.hops_at[level])
                    _call(made, plan, kept, batch, level)
                    if bar is not None:
                        bar.update()
            for v in sched.free_after.get(level, ()):
                kept.pop(v, None)
    finally:
        if bar is not None:
            bar.close()
    results = [_unsorted(kept[v], sched.kinds[v], graph.perm) for v in sched.outputs]
    return results[0] if len(results) == 1 else tuple(results)


def _call(made: _Level, plan: Plan, kept: dict[int, Any], batch: Batch, level: int) -> None:
    try:
        made.fn(kept, batch)
    except InferenceError:
        raise
    except Exception as error:
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == made.filename:
                index = made.line_to_step.get(tb.tb_lineno)
                if index is not None:
                    step = plan.steps[index]
                    error.add_note(
                        f"graphseq: raised in {step.where} during inference (level {level}, "
                        f"target nodes {batch.start}..{batch.stop - 1}): {step.header_text}"
                    )
                break
            tb = tb.tb_next
        raise


def _unsorted(value: Any, kind: Kind, perm: Tensor | None) -> Any:
    """An edge-level output back in the order of the given edges."""
    if kind != "edge" or perm is None or not isinstance(value, Tensor):
        return value
    out = torch.empty_like(value)
    out[perm.to(value.device)] = value
    return out


def _bind(plan: Plan, inputs: tuple[Any, ...], keyword_inputs: Mapping[str, Any]) -> list[Any]:
    params = [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=p.default)
              for p in plan.signature.param_dict.values()]
    try:
        bound = inspect.Signature(params).bind(*inputs, **keyword_inputs)
    except TypeError as error:
        raise TypeError(f"inference() inputs do not match the model's inputs "
                        f"({', '.join(plan.inputs.names)}): {error}.") from None
    bound.apply_defaults()
    return [bound.arguments[name] for name in plan.inputs.names]


def _device(model: torch.nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _sizes(plan: Plan, sched: Schedule, values: list[Any]) -> tuple[int, int, Tensor | None]:
    """The number of nodes and edges, from the inputs, checked against each other."""
    edge_index = None
    num_edges = 0
    if sched.index is not None:
        edge_index = values[sched.index]
        name = sched.names[sched.index]
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or \
                edge_index.size(0) != 2 or edge_index.is_floating_point():
            what = (f"shape {list(edge_index.shape)}" if isinstance(edge_index, Tensor)
                    else type(edge_index).__name__)
            raise InferenceError(f"input {name!r} is the graph that inference cuts into "
                                 f"batches: it needs to be an integer tensor of shape "
                                 f"[2, num_edges], not {what}.")
        num_edges = edge_index.size(1)
    num_nodes: int | None = None
    first = ""
    for v, name in enumerate(plan.inputs.names):
        value = values[v]
        kind = sched.kinds[v]
        if kind not in ("node", "edge") or value is None:
            continue
        if not isinstance(value, Tensor) or value.dim() == 0:
            raise InferenceError(f"input {name!r} is {kind}-level, so it needs to be a tensor "
                                 f"with one row per {kind}, not {type(value).__name__}.")
        if kind == "edge":
            if value.size(0) != num_edges:
                raise InferenceError(f"input {name!r} has {value.size(0)} rows, but the edge "
                                     f"index has {num_edges} edges.")
        elif num_nodes is None:
            num_nodes, first = value.size(0), name
        elif value.size(0) != num_nodes:
            raise InferenceError(f"input {name!r} has {value.size(0)} rows, but {first!r} has "
                                 f"{num_nodes}: node-level inputs need one row per node (for "
                                 "a graph-level input, graphseq.trim.set_kinds(model, "
                                 f"other=[{name!r}]).")
    if num_nodes is None:
        if any(p.level >= PRE for p in sched.steps):
            raise InferenceError("inference needs a node-level input (features, node ids) "
                                 "to know the number of nodes; none of the inputs is one.")
        num_nodes = 0
    if edge_index is not None and edge_index.numel() and int(edge_index.max()) >= num_nodes:
        raise InferenceError(f"the edge index names node {int(edge_index.max())}, but the "
                             f"node-level inputs have {num_nodes} rows.")
    return num_nodes, num_edges, edge_index

