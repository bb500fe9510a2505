"""The dataflow plan: what each step reads and writes, who produced each value, where it dies.

:func:`build_plan` turns declared steps (:class:`StepDecl` records) into a checked
:class:`Plan` in one pass over the steps and one liveness pass back. It knows nothing of
torch and parses no text: headers arrive as records. Codegen, summary, diagrams, slicing
and surgery all read the plan.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ._cache import SizedCache
from ._errors import HeaderError, Location, did_you_mean, step_label
from ._parsing import Header, InputArg, InputArgs, Names

Kind = Literal["module", "function"]

INPUT = -1
"""The producer index of a model input."""


class StepDecl(NamedTuple):
    """One step as declared: its name, header record, header text and kind.

    Attributes:
        name: The step's name.
        header: The header record; ``None`` for a headerless step, which reads and rebinds
            what the step before it wrote.
        text: The header as written; ``None`` where it was implied.
        kind: ``"module"`` or ``"function"``.
    """

    name: str
    header: Header | None
    text: str | None
    kind: Kind


@dataclass(frozen=True)
class Step:
    """One checked step of the dataflow.

    Attributes:
        index: The step's position.
        name: The step's name (its child's attribute name).
        header: The header record, written or implied.
        text: The header as written; ``None`` where it was implied.
        kind: ``"module"`` or ``"function"``.
        release: Names whose value is dead once this step has run.
        sources: For each name in ``header.reads``, the step that wrote it (``INPUT``, -1,
            for a model input).
    """

    index: int
    name: str
    header: Header
    text: str | None
    kind: Kind
    release: tuple[str, ...]
    sources: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        """How messages name this step: ``step 2 ('conv2')``."""
        return step_label(self.index, self.name)

    @property
    def header_text(self) -> str:
        """The header as written, or the implied one."""
        return self.text if self.text is not None else str(self.header)

    @property
    def decl(self) -> StepDecl:
        """This step as a declaration with its header made explicit."""
        return StepDecl(self.name, self.header, self.text, self.kind)


@dataclass(frozen=True)
class Plan:
    """A model's inputs, steps and outputs, checked, with each value's producer and death.

    Attributes:
        inputs: The parsed input args.
        signature: The inputs with their types resolved (a
            :class:`graphseq._signature.Signature`).
        steps: The checked steps, in order.
        outputs: The names the model returns.
        explicit_outputs: Whether ``outputs`` was given, rather than the last step's.
        type_names: The types the input args name, by name.
        output_sources: For each output, the step that wrote it (``INPUT``, -1, for an input).
        dead: Steps whose results reach no output.
        key: A cache key: plans with equal keys have equal steps and equal generated code.
    """

    inputs: InputArgs
    signature: Any
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    explicit_outputs: bool = False
    type_names: Mapping[str, Any] = field(default_factory=dict)
    output_sources: tuple[int, ...] = ()
    dead: tuple[int, ...] = ()
    key: Hashable = None

    def producer(self, name: str, before: int | None = None) -> int:
        """The index of the last step before ``before`` that writes ``name``, or ``INPUT``.

        Args:
            name: A value name.
            before: A step index; by default after the last step.

        Returns:
            A step index, or ``INPUT`` (-1) for a model input.

        Example:
            >>> import graphseq, torch
            >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
            >>> model.plan.producer('y'), model.plan.producer('x')
            (0, -1)
        """
        stop = len(self.steps) if before is None else before
        for step in reversed(self.steps[:stop]):
            if name in step.header.outs:
                return step.index
        return INPUT

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.inputs, self.signature, self.steps, self.outputs, self.explicit_outputs)
        return (_unpickle_plan, (*fields, pickle_names(self.type_names),
                                 self.output_sources, self.dead))


@dataclass(frozen=True)
class _ModuleRef:
    name: str


def pickle_names(names: Mapping[str, Any]) -> dict[str, Any]:
    """``names`` with modules (``torch`` in ``torch.Tensor``) replaced by picklable references.

    Args:
        names: Resolved type names.

    Returns:
        A dict that pickles; :func:`unpickle_names` turns it back.

    Example:
        >>> unpickle_names(pickle_names({'t': types}))['t'] is types
        True
    """
    return {k: _ModuleRef(v.__name__) if isinstance(v, types.ModuleType) else v
            for k, v in names.items()}


def unpickle_names(names: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`pickle_names`.

    Args:
        names: What :func:`pickle_names` gave.

    Returns:
        A new dict with each module reference imported again.

    Raises:
        ImportError: A referenced module cannot be imported here.
    """
    return {k: importlib.import_module(v.name) if isinstance(v, _ModuleRef) else v
            for k, v in names.items()}


def _unpickle_plan(
    inputs: InputArgs,
    signature: Any,
    steps: tuple[Step, ...],
    outputs: tuple[str, ...],
    explicit_outputs: bool,
    names: dict[str, Any],
    output_sources: tuple[int, ...] = (),
    dead: tuple[int, ...] = (),
) -> Plan:
    return Plan(inputs, signature, steps, outputs, explicit_outputs, unpickle_names(names),
                output_sources, dead)


# Building ---------------------------------------------------------------------------------------

_Flow = tuple[tuple[Step, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]
_FLOWS: SizedCache[_Flow] = SizedCache(max_weight=50_000)  # weight: steps held


def build_plan(
    inputs: InputArgs,
    decls: Sequence[StepDecl],
    outputs: tuple[str, ...] | None = None,
    signature: Any = None,
    type_names: Mapping[str, Any] | None = None,
) -> Plan:
    """Check declared steps in order and work out the dataflow.

    Args:
        inputs: The model's parsed input args.
        decls: The steps, with parsed headers (``None`` for a headerless step).
        outputs: The output names (parsed), or ``None`` for the last step's outputs.
        signature: The inputs' resolved types, kept on the plan for codegen.
        type_names: The names the types use, kept for codegen.

    Returns:
        The :class:`Plan`.

    Raises:
        HeaderError: A step name is used twice, the first step has no header, a header
            reads a name not defined yet, or an output is never defined.

    Example:
        >>> from graphseq._parsing import parse_header, parse_input_args
        >>> plan = build_plan(parse_input_args('x'),
        ...                   [StepDecl('lin', parse_header('x -> h'), 'x -> h', 'module'),
        ...                    StepDecl('act', None, None, 'module')])
        >>> [s.header_text for s in plan.steps], plan.steps[0].release
        (['x -> h', 'h -> h'], ('x',))
    """
    decls = tuple(decls)
    key = _Key((inputs, decls, outputs))
    flow = _FLOWS.get(key)
    if flow is None:
        flow = _dataflow(inputs.names, decls, outputs)
        _FLOWS.put(key, flow, len(decls) + 1)
    steps, out_names, out_sources, dead = flow
    return Plan(inputs, signature, steps, out_names, outputs is not None, type_names or {},
                out_sources, dead, key)


class _Key:
    """A cache key whose hash is computed once (it is looked up several times per build)."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: tuple[Any, ...]) -> None:
        self.value = value
        self._hash = hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self._hash == other._hash and self.value == other.value


def resolved_headers(decls: Sequence[StepDecl]) -> list[Header]:
    """Each step's header, with headerless steps given the one they imply.

    Stops before a headerless first step (which has nothing to rebind).

    Args:
        decls: Declared steps.

    Returns:
        One header per step, as far as they resolve.

    Example:
        >>> from graphseq._parsing import parse_header
        >>> [str(h) for h in resolved_headers([
        ...     StepDecl('a', parse_header('x -> h'), 'x -> h', 'module'),
        ...     StepDecl('b', None, None, 'module')])]
        ['x -> h', 'h -> h']
    """
    headers: list[Header] = []
    for decl in decls:
        if decl.header is not None:
            headers.append(decl.header)
        elif headers:
            headers.append(Header.passthrough(headers[-1].outs))
        else:
            break
    return headers


def _dataflow(inputs: tuple[str, ...], decls: tuple[StepDecl, ...],
              outputs: tuple[str, ...] | None) -> _Flow:
    seen: set[str] = set()
    for i, decl in enumerate(decls):
        if decl.name in seen:
            raise HeaderError(
                f"reuses the name {decl.name!r}.",
                where=f"step {i}",
                location=Location("step", i, decl.name, "name"),
            )
        seen.add(decl.name)

    producer: dict[str, int] = dict.fromkeys(inputs, INPUT)
    headers: list[Header] = []
    sources: list[tuple[int, ...]] = []
    for i, decl in enumerate(decls):
        header = decl.header
        if header is None:
            if i == 0:
                raise HeaderError(
                    "has no header; the first step needs one, such as "
                    f"{_example_header(inputs)!r}.",
                    location=Location("step", i, decl.name),
                )
            header = Header.passthrough(headers[-1].outs)
        else:
            check_reads(header, decl.text, producer, Location("step", i, decl.name, "header"))
        headers.append(header)
        sources.append(tuple(producer[n] for n in header.reads))
        for name in header.outs:
            producer[name] = i

    out_names = headers[-1].outs if outputs is None else outputs
    _check_outputs(out_names, producer)
    steps, dead = _lifetimes(decls, headers, sources, out_names)
    return steps, out_names, tuple(producer[n] for n in out_names), dead


def _example_header(inputs: tuple[str, ...]) -> str:
    """A header for a first step that reads the model's inputs: ``'x, edge_index -> x'``."""
    return f"{', '.join(inputs)} -> {inputs[0]}"


def check_reads(
    header: Header, text: str | None, defined: Mapping[str, Any], at: Location
) -> None:
    """Raise if ``header`` reads a name that is not in ``defined``.

    Args:
        header: A step's header.
        text: The header as written (``None``: implied).
        defined: The names defined before the step, in order of definition.
        at: The step's location.

    Raises:
        HeaderError: The first name read but not defined, with the names that are and the
            nearest one.

    Example:
        >>> from graphseq._parsing import parse_header
        >>> check_reads(parse_header('x -> y'), 'x -> y', {'x': None}, Location('step', 0))
    """
    for name in header.reads:
        if name in defined:
            continue
        shown = text if text is not None else str(header)  # an implied header's spans fit it
        raise HeaderError(
            f"reads {name!r}, which is not defined yet.",
            text=shown,
            span=header.read_span(name),
            hint=f"defined at this point: {', '.join(defined)}.{did_you_mean(name, defined)}",
            location=at,
        )


def _lifetimes(
    decls: tuple[StepDecl, ...],
    headers: list[Header],
    sources: list[tuple[int, ...]],
    outputs: tuple[str, ...],
) -> tuple[tuple[Step, ...], tuple[int, ...]]:
    """The one liveness pass: what dies after each step, and which steps feed no output."""
    live = set(outputs)  # values still to be read by a step that runs, or returned
    useful = set(outputs)  # values that reach an output
    releases: list[tuple[str, ...]] = []
    dead: list[int] = []
    for i in range(len(headers) - 1, -1, -1):
        header = headers[i]
        if useful.isdisjoint(header.outs):
            dead.append(i)
        else:
            useful.difference_update(header.outs)
            useful.update(header.reads)
        touched = dict.fromkeys(header.reads + header.outs)
        releases.append(tuple(n for n in touched if n not in live))
        live.difference_update(header.outs)
        live.update(header.reads)
    releases.reverse()
    steps = tuple(
        Step(i, d.name, h, d.text, d.kind, r, s)
        for i, (d, h, r, s) in enumerate(zip(decls, headers, releases, sources, strict=True))
    )
    return steps, tuple(dead[::-1])


# Slicing -----------------------------------------------------------------------------------------


def slice_inputs(plan: Plan, steps: Sequence[Step]) -> InputArgs:
    """The inputs of a model made of ``steps``: what they read but do not produce first.

    Original inputs keep their type and default; other values are plain ``Tensor`` inputs.

    Args:
        plan: The model's plan.
        steps: Consecutive steps of it.

    Returns:
        The new model's input args (inputs with defaults last, as Python requires).

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> h'), torch.nn.ReLU()])
        >>> slice_inputs(model.plan, model.plan.steps[1:]).names
        ('h',)
    """
    start = steps[0].index
    written_before = {n for s in plan.steps[:start] for n in s.header.outs}
    originals = {a.name: a for a in plan.inputs.args if a.name not in written_before}
    needed: dict[str, None] = {}
    produced: set[str] = set()
    for step in steps:
        needed.update(dict.fromkeys(n for n in step.header.reads if n not in produced))
        produced.update(step.header.outs)
    args = tuple(originals.get(n, InputArg(n)) for n in needed)
    ordered = tuple(a for a in args if not a.has_default) + tuple(a for a in args if a.has_default)
    return InputArgs(ordered)


def slice_decls(steps: Sequence[Step]) -> tuple[StepDecl, ...]:
    """``steps`` as declarations for a new model: a headerless first step gets its header.

    Args:
        steps: Consecutive steps of a plan.

    Returns:
        Their declarations.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> h'), torch.nn.ReLU()])
        >>> slice_decls(model.plan.steps[1:])[0].text
        'h -> h'
    """
    decls = []
    for i, step in enumerate(steps):
        if step.text is not None:
            decls.append(StepDecl(step.name, step.header, step.text, step.kind))
        elif i == 0:
            decls.append(StepDecl(step.name, step.header, str(step.header), step.kind))
        else:
            decls.append(StepDecl(step.name, None, None, step.kind))
    return tuple(decls)


# Selecting by dataflow ---------------------------------------------------------------------------


def defined_values(plan: Plan) -> dict[str, None]:
    """Every value the model defines: its inputs, then each step's outputs, in order.

    The one home of this set (surgery's tail, selecting, trimming and codegen read it).

    Args:
        plan: A checked plan.

    Returns:
        The names, each once, in order of first definition.

    Example:
        >>> import graphseq, torch
        >>> defined_values(graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> h')]).plan)
        {'x': None, 'h': None}
    """
    defined = dict.fromkeys(plan.inputs.names)
    for step in plan.steps:
        defined.update(dict.fromkeys(step.header.outs))
    return defined


def select(
    plan: Plan, outputs: tuple[str, ...], inputs: tuple[str, ...] | None = None
) -> tuple[InputArgs, tuple[Step, ...], tuple[StepDecl, ...]]:
    """The steps that ``outputs`` need, walking the dataflow back from them.

    A name bound more than once means its last binding. Given ``inputs``, the walk stops at
    them: the new model starts from those values, as they are where a kept step reads them.

    Args:
        plan: The model's plan.
        outputs: The values wanted.
        inputs: The values to start from; by default the model's inputs that the kept steps
            read.

    Returns:
        The new model's inputs, the kept steps, and their declarations (a headerless step
        whose predecessor is not kept gets its header).

    Raises:
        HeaderError: An output is not defined, cannot be computed from ``inputs`` (the
            missing names are listed), or an input is read from two of its bindings.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> h'),
        ...                                   (torch.nn.ReLU(), 'x -> g')], outputs='h, g')
        >>> [s.name for s in select(model.plan, ('h',))[1]]
        ['module_0']
    """
    _check_outputs(outputs, sorted(defined_values(plan)))
    given = set(inputs or ())
    needed = set(outputs)  # the last bindings, even of a name among the inputs
    kept: list[Step] = []
    for step in reversed(plan.steps):
        if needed.isdisjoint(step.header.outs):
            continue
        kept.append(step)
        needed.difference_update(step.header.outs)
        needed.update(n for n in step.header.reads if n not in given)
    kept.reverse()
    if inputs is None:
        names = tuple(n for n in plan.inputs.names if n in needed)
    else:
        _check_given(plan, outputs, inputs, kept, needed)
        names = inputs
    return _selected_inputs(plan, names, inputs is not None), tuple(kept), _selected_decls(kept)


def _check_given(plan: Plan, outputs: tuple[str, ...], inputs: tuple[str, ...],
                 kept: Sequence[Step], needed: set[str]) -> None:
    """Raise unless each value the kept steps read from outside them is one given input."""
    missing = sorted(needed - set(inputs))
    if missing:
        raise HeaderError(
            f"Outputs {_written(outputs)!r} cannot be computed from the inputs "
            f"{_written(inputs)!r}: they also need {', '.join(map(repr, missing))}.",
            hint=f"add {', '.join(map(repr, missing))} to the inputs.",
            location=Location("inputs"),
        )
    indices = {s.index for s in kept}
    bindings: dict[str, dict[int, None]] = {}  # given name -> producers read from outside
    writer: dict[str, int] = {}  # the kept step that last wrote each name so far
    for step in kept:
        for name, source in zip(step.header.reads, step.sources, strict=True):
            if name in inputs and source not in indices:
                bindings.setdefault(name, {})[source] = None
                if name in writer:  # a kept step rewrites the input before this read
                    bindings[name][writer[name]] = None
        writer.update(dict.fromkeys(step.header.outs, step.index))
    for name, sources in bindings.items():
        if len(sources) > 1:
            shown = " and ".join("the input" if i == INPUT else plan.steps[i].where
                                 for i in sources)
            raise HeaderError(
                f"Input {name!r} is bound more than once, and the kept steps read {name!r} "
                f"from {len(sources)} of its bindings ({shown}): one input cannot stand "
                "for both.",
                hint="start from values that are bound once, or from what those bindings "
                "are computed from.",
                location=Location("inputs"),
            )


def _selected_inputs(plan: Plan, names: Sequence[str], given: bool) -> InputArgs:
    """The selected model's inputs: an original input keeps its type and default unless it
    was given and is rebound (then it is another value); defaults last."""
    firsts = {a.name: a for a in plan.inputs.args}
    rebound = {n for s in plan.steps for n in s.header.outs}
    args = tuple(firsts[n] if n in firsts and not (given and n in rebound) else InputArg(n)
                 for n in names)
    ordered = tuple(a for a in args if not a.has_default) + tuple(a for a in args if a.has_default)
    return InputArgs(ordered)


def _selected_decls(kept: Sequence[Step]) -> tuple[StepDecl, ...]:
    """The kept steps as declarations: a headerless step whose predecessor is not kept
    gets its header."""
    decls = []
    for i, step in enumerate(kept):
        follows = i > 0 and kept[i - 1].index == step.index - 1
        if step.text is None and not follows:
            decls.append(StepDecl(step.name, step.header, str(step.header), step.kind))
        else:
            decls.append(step.decl if step.text is not None else
                         StepDecl(step.name, None, None, step.kind))
    return tuple(decls)


def _written(names: Sequence[str]) -> str:
    """Names as the user wrote them (their text, when they were read from one)."""
    return names.text if isinstance(names, Names) else ", ".join(names)


def _check_outputs(outputs: Sequence[str], defined: Collection[str]) -> None:
    """Raise the outputs error for the first of ``outputs`` not in ``defined`` (listed in order)."""
    names = outputs if isinstance(outputs, Names) else Names(outputs)
    for name, span in zip(names, names.spans, strict=True):
        if name not in defined:
            raise HeaderError(
                f"Outputs name {name!r}, which no input or step defines.",
                text=names.text,
                span=span,
                hint=f"defined: {', '.join(defined)}.{did_you_mean(name, defined)}",
                location=Location("outputs"),
            )
