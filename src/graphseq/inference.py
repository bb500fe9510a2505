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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import Tensor

from ._analysis import fact, takes_target_pairs
from ._batches import Batch, Graph, TypedBatch, TypedGraph, targets, view
from ._codegen import call_line
from ._plan import INPUT, Plan, Step

if TYPE_CHECKING:
    from ._sequential import Sequential

__all__ = ["Batch", "Graph", "InferenceError", "Schedule", "explain", "infer", "schedule"]

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
    each opaque step, why it is not known to be row-wise. ``pairs`` says, per step, whether it
    is a layer that takes ``(x_source, x_target)`` (the analysis's ``TARGET_PAIRS``).
    """

    roles: tuple[Role, ...]
    hops: tuple[int, ...]
    kinds: tuple[Kind, ...]
    why: tuple[str | None, ...]
    error: str | None
    opaque: tuple[str | None, ...] = ()
    pairs: tuple[bool, ...] = ()


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
    pairs = tuple(takes_target_pairs(children[s.name]) for s in model.plan.steps)
    return Facts(roles, hops, kinds, why, error, tuple(opaque), pairs)


# The schedule: levels, kept values, frees ----------------------------------------------------


@dataclass(frozen=True)
class Read:
    """How a step reads one name: which version, of which kind, as which view."""

    name: str
    version: int
    view: Literal["gather", "pair", "gather_edges", "rows", "edges", "index", "whole", "local"]


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
            if known.pairs and known.pairs[step.index] and \
                    [r.view for r in views].count("gather") == 1:  # its x: (x, x[:targets])
                views = tuple(Read(r.name, r.version, "pair") if r.view == "gather" else r
                              for r in views)
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
                x = view(kept[0], batch, 'pair')
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


# The store the generated code calls -----------------------------------------------------------


class _Store:
    """Writes each batch's rows of a kept value into its all-rows buffer (one per type if typed)."""

    def __init__(self, sched: Schedule, plan: Plan, num_nodes: int | Mapping[str, int],
                 num_edges: int | Mapping[Any, int], device: torch.device) -> None:
        self.sched = sched
        self.plan = plan
        self.rows: dict[str, Any] = {"node": num_nodes, "edge": num_edges}
        self.device = device

    def __call__(self, kept: dict[int, Any], version: int, value: Any,
                 batch: Batch | TypedBatch, step: int) -> None:
        kind = self.sched.kinds[version]
        if kind not in self.rows or version in self.sched.whole:  # graph-level: kept whole
            kept[version] = value
            return
        if not isinstance(batch, TypedBatch):
            self._write(kept, version, value, batch, kind, self.rows[kind], version, step, "")
            return
        if not isinstance(value, Mapping):
            self._wrong(version, step, f"a {type(value).__name__}", f"a dict by {kind} type")
        parts: Mapping[Any, Batch] = batch.nodes if kind == "node" else batch.edges
        buffers = kept.setdefault(version, {})
        for key, part in value.items():
            self._write(buffers, key, part, parts[key], kind, self.rows[kind][key], version,
                        step, f" of type {key!r}")

    def _write(self, buffers: dict[Any, Any], key: Any, value: Any, batch: Batch, kind: str,
               total: int, version: int, step: int, of_type: str) -> None:
        want = batch.size if kind == "node" else batch.e1 - batch.e0
        if not isinstance(value, Tensor) or value.dim() == 0 or value.size(0) != want:
            got = (f"shape {list(value.shape)}" if isinstance(value, Tensor)
                   else type(value).__name__)
            self._wrong(version, step, f"{got}{of_type}", f"{want} {kind}s{of_type}")
        buffer = buffers.get(key)
        if buffer is None:
            buffer = torch.empty((total, *value.shape[1:]), dtype=value.dtype,
                                 device=self.device)
            buffers[key] = buffer
        start, stop = (batch.start, batch.stop) if kind == "node" else (batch.e0, batch.e1)
        buffer[start:stop] = value

    def _wrong(self, version: int, step: int, got: str, want: str) -> None:
        kind = self.sched.kinds[version]
        raise InferenceError(
            f"{self.plan.steps[step].where} gave {self.sched.names[version]!r} with {got} for "
            f"a batch of {want}; as a {kind}-level value it needs one row per {kind}. If the "
            "step is not row-wise, mark it (graphseq.trim.mark) or set the value's kind "
            "(graphseq.trim.set_kinds)."
        )


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
        known = facts(model)
        sched = schedule(plan, known)  # refusals come before any work
        values = _bind(plan, inputs, keyword_inputs)
        run_on = _device(model, device)
        keep_on = torch.device(embedding_device)
        sizes: tuple[Any, Any, Any] = (
            _typed_sizes(plan, sched, values, known.hops) if _typed(sched, values)
            else _sizes(plan, sched, values))
        num_nodes, num_edges, edge_index = sizes
        with torch.no_grad():
            return _run(model, plan, sched, values, batch_size, run_on, keep_on, num_nodes,
                        num_edges, edge_index, progress_bar)
    finally:
        for module, mode in modes:
            module.training = mode


def _run(model: Sequential, plan: Plan, sched: Schedule, values: list[Any], batch_size: int,
         run_on: torch.device, keep_on: torch.device, num_nodes: Any, num_edges: Any,
         edge_index: Any, progress_bar: bool) -> Any:
    graph: Graph | TypedGraph = (TypedGraph(edge_index, num_nodes) if isinstance(num_nodes, dict)
                                 else Graph(edge_index, num_nodes))
    kept: dict[int, Any] = {}
    for v, value in enumerate(values):
        kind = sched.kinds[v]
        if kind == "edge":
            value = graph.permute(value)
        elif kind == "other" and isinstance(value, Tensor):
            value = value.to(run_on)
        if kind != "edge_index":
            kept[v] = value
    store = _Store(sched, plan, num_nodes, num_edges, keep_on)
    children = model.children_by_name()
    modules = {p.step.name: children[p.step.name] for p in sched.steps if p.step.kind == "module"}
    functions = {p.step.name: children[p.step.name] for p in sched.steps
                 if p.step.kind != "module"}
    bindings = (modules, functions, view, store, targets)  # in the order of _HELPERS
    levels = {}
    for level in sched.levels:
        source, line_to_step = generate(sched, level)
        fn, filename = _compile(source, bindings)
        levels[level] = _Level(fn, filename, line_to_step)
    batched = [level for level in sched.levels if level != SETUP]
    bar = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(batched) * graph.count(batch_size), desc="inference", unit="batch")
    try:
        for level in sched.levels:
            made = levels[level]
            if level == SETUP:
                _call(made, plan, kept, graph.whole(run_on), level)
            else:
                for batch in graph.batches(batch_size, run_on):
                    if sched.hops_at.get(level):
                        graph.neighbourhood(batch, sched.hops_at[level])  # type: ignore[arg-type]
                    _call(made, plan, kept, batch, level)
                    if bar is not None:
                        bar.update()
            for v in sched.free_after.get(level, ()):
                kept.pop(v, None)
    finally:
        if bar is not None:
            bar.close()
    results = [graph.unsort(kept[v]) if sched.kinds[v] == "edge" else kept[v]
               for v in sched.outputs]
    return results[0] if len(results) == 1 else tuple(results)


def _call(made: _Level, plan: Plan, kept: dict[int, Any], batch: Batch | TypedBatch,
          level: int) -> None:
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
                        f"{batch.describe()}): {step.header_text}"
                    )
                break
            tb = tb.tb_next
        raise


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



def _typed(sched: Schedule, values: list[Any]) -> bool:
    """Whether the inputs are a typed graph's: the edge index, or a node-level input, a dict."""
    if sched.index is not None:
        return isinstance(values[sched.index], Mapping)
    return any(isinstance(value, Mapping) for v, value in enumerate(values)
               if sched.kinds[v] == "node")


def _typed_sizes(plan: Plan, sched: Schedule, values: list[Any], hops: Sequence[int],
                 ) -> tuple[dict[str, int], dict[Any, int], dict[Any, Tensor]]:
    """:func:`_sizes` for a typed graph: nodes by node type, edges by edge type, checked."""
    for p in sched.steps:
        if p.layer and hops[p.step.index] > 1:
            raise InferenceError(f"{p.step.where} reaches {hops[p.step.index]} hops; "
                                 "inference on typed graphs cuts 1-hop neighbourhoods only.")
    edge_index: dict[Any, Tensor] = {}
    if sched.index is not None:
        name = sched.names[sched.index]
        given = values[sched.index]
        if not isinstance(given, Mapping):
            raise InferenceError(f"input {name!r} is a typed graph's edge index: it needs to be "
                                 f"a dict by edge type, not {type(given).__name__}.")
        for key, value in given.items():
            if not isinstance(value, Tensor) or value.dim() != 2 or value.size(0) != 2 or \
                    value.is_floating_point() or not (isinstance(key, tuple) and len(key) == 3):
                raise InferenceError(f"input {name!r}[{key!r}] needs to be an integer tensor "
                                     "of shape [2, num_edges], under a (source, relation, "
                                     "destination) edge type.")
            edge_index[key] = value
    num_nodes: dict[str, int] = {}
    for v, name in enumerate(plan.inputs.names):
        kind, value = sched.kinds[v], values[v]
        if kind not in ("node", "edge") or value is None:
            continue
        if not isinstance(value, Mapping):
            raise InferenceError(f"input {name!r} is {kind}-level in a typed graph, so it "
                                 f"needs to be a dict by {kind} type, not "
                                 f"{type(value).__name__}.")
        for key, part in value.items():
            rows = part.size(0) if isinstance(part, Tensor) and part.dim() else None
            if kind == "edge":
                want = edge_index[key].size(1) if key in edge_index else None
                if rows is None or rows != want:
                    raise InferenceError(f"input {name!r}[{key!r}] has {rows} rows, but the "
                                         f"edge index has {want} edges of that type.")
            elif rows is None or num_nodes.setdefault(key, rows) != rows:
                raise InferenceError(f"input {name!r}[{key!r}] has {rows} rows, but another "
                                     f"node-level input has {num_nodes.get(key)} of that type.")
    for key, value in edge_index.items():
        for end, ids in ((key[0], value[0]), (key[-1], value[1])):
            if end not in num_nodes:
                raise InferenceError(f"edge type {key!r} ends at node type {end!r}, which no "
                                     "node-level input has rows for.")
            if ids.numel() and int(ids.max()) >= num_nodes[end]:
                raise InferenceError(f"the edge index of {key!r} names node {int(ids.max())} of "
                                     f"type {end!r}, which has {num_nodes[end]} rows.")
    return num_nodes, {key: value.size(1) for key, value in edge_index.items()}, edge_index
