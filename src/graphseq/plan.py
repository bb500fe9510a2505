"""The validated dataflow plan: what each step reads, writes, and where each value dies.

``build_plan`` is the one place a model is checked. Summary, diagrams, slicing, configs and
codegen all read the :class:`Plan`; none of them re-parses a header.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import types
import warnings
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from .errors import HeaderError, span_of
from .parsing import Header, InputArg, InputArgs, check_name, parse_header, parse_input_args
from .signature import Child, Signature, resolve_signature


@dataclass(frozen=True)
class Entry:
    """One user step before checking: a name, a callable and its header text (or ``None``)."""

    name: str
    fn: Callable[..., Any]
    text: str | None


@dataclass(frozen=True)
class Step:
    """One checked step of the dataflow."""

    index: int
    name: str
    header: Header
    text: str | None  # the header as written; None where it was implied
    kind: Literal["module", "function"]
    defined: tuple[str, ...]  # names readable before this step, in order of definition
    release: tuple[str, ...]  # names whose value is dead once this step has run

    @property
    def where(self) -> str:
        return f"step {self.index} ({self.name!r})"

    @property
    def header_text(self) -> str:
        return self.text if self.text is not None else str(self.header)


@dataclass(frozen=True)
class Plan:
    """A model's inputs, steps and outputs, checked."""

    inputs: InputArgs
    signature: Signature
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    explicit_outputs: bool = False
    type_names: Mapping[str, Any] = field(default_factory=dict)

    @property
    def children(self) -> list[Child]:
        return [Child(s.name, list(s.header.reads), list(s.header.outs)) for s in self.steps]

    def __reduce__(self) -> tuple[Any, ...]:
        # Modules (``torch`` in ``torch.Tensor``) cannot be pickled: keep them by name.
        names = {
            k: _ModuleRef(v.__name__) if isinstance(v, types.ModuleType) else v
            for k, v in self.type_names.items()
        }
        fields = (self.inputs, self.signature, self.steps, self.outputs, self.explicit_outputs)
        return (_unpickle_plan, (*fields, names))

    @property
    def dead_steps(self) -> list[Step]:
        """Steps none of whose results reach an output."""
        live = set(self.outputs)
        dead = []
        for step in reversed(self.steps):
            if live.isdisjoint(step.header.outs):
                dead.append(step)
                continue
            live.difference_update(step.header.outs)
            live.update(step.header.reads)
        return dead[::-1]


@dataclass(frozen=True)
class _ModuleRef:
    name: str


def _unpickle_plan(*fields: Any) -> Plan:
    *head, names = fields
    names = {
        k: importlib.import_module(v.name) if isinstance(v, _ModuleRef) else v
        for k, v in names.items()
    }
    return Plan(*head, type_names=names)


def normalize_modules(modules: Any) -> list[tuple[str, Callable[..., Any], str | None]]:
    """Turn a list or dict of callables / ``(callable, header)`` pairs into named triples."""
    if isinstance(modules, Mapping):
        items = list(modules.items())
    elif isinstance(modules, list | tuple):
        items = [(f"module_{i}", m) for i, m in enumerate(modules)]
    else:
        raise HeaderError(
            f"Sequential expects a list or dict of modules (got {type(modules).__name__})."
        )
    if not items:
        raise HeaderError("Sequential expects a non-empty list of modules.")
    out: list[tuple[str, Callable[..., Any], str | None]] = []
    for i, (name, item) in enumerate(items):
        where = f"step {i} ({name!r})"
        text: Any = None
        if isinstance(item, tuple | list):
            if len(item) == 1:
                item = item[0]
            elif len(item) == 2:
                item, text = item
            else:
                raise HeaderError(
                    f"is a tuple of {len(item)} items; expected (module, header) or (module,).",
                    where=where,
                )
        if not callable(item):
            raise HeaderError(
                f"is not callable (got {type(item).__name__}: {item!r:.60}).", where=where
            )
        if text is not None and not isinstance(text, str):
            raise HeaderError(
                f"has a header that is not a str (got {type(text).__name__}: {text!r:.60}).",
                where=where,
            )
        out.append((name, item, text))
    return out


def check_step_name(name: Any, index: int, taken: Container[str]) -> str:
    where = f"step {index} ({name!r})"
    if not isinstance(name, str):
        raise HeaderError(f"has a name that is not a str ({type(name).__name__}).", where=where)
    try:
        check_name(name)
    except HeaderError as error:
        raise HeaderError(
            error.reason.replace("uses", "is named", 1).replace("has", "is named", 1),
            hint="step names must be Python identifiers, as they become attributes.",
            where=where,
        ) from None
    if name in taken:
        raise HeaderError(
            f"is named {name!r}, which would shadow an attribute of the model.",
            hint="pick another name, such as 'conv1' or 'lin'.",
            where=where,
        )
    return name


def build_plan(
    input_args: str | InputArgs,
    modules: Any,
    outputs: str | Sequence[str] | None = None,
    namespace: Mapping[str, Any] | None = None,
    taken: Container[str] = (),
) -> tuple[Plan, list[Entry]]:
    """Parse, resolve and check a whole model; return its plan and its named callables."""
    if isinstance(input_args, str):
        inputs = parse_input_args(input_args)
    elif isinstance(input_args, InputArgs):
        inputs = input_args
    else:
        raise HeaderError(f"Input args must be a str (got {type(input_args).__name__}).")
    signature, type_names = resolve_signature(inputs, namespace or {})
    entries = [
        Entry(check_step_name(name, i, taken), fn, text)
        for i, (name, fn, text) in enumerate(normalize_modules(modules))
    ]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.name in seen:
            raise HeaderError(f"reuses the name {entry.name!r}.", where=f"step {i}")
        seen.add(entry.name)

    defined: dict[str, None] = dict.fromkeys(inputs.names)
    headers: list[tuple[Header, str | None]] = []
    for i, entry in enumerate(entries):
        where = f"step {i} ({entry.name!r})"
        if entry.text is None:
            if i == 0:
                raise HeaderError(
                    "has no header; the first step needs one, such as 'x, edge_index -> x'.",
                    where=where,
                )
            header = Header.passthrough(headers[-1][0].outs)
        else:
            try:
                header = parse_header(entry.text)
            except HeaderError as error:
                raise error.located(where) from None
            _check_defined(header, entry.text, defined, where)
        _check_binding(entry.fn, header, entry.text, where)
        headers.append((header, entry.text))
        defined.update(dict.fromkeys(header.outs))

    out_names = _parse_outputs(outputs, headers[-1][0].outs, defined)
    steps = _with_lifetimes(inputs.names, entries, headers, out_names)
    plan = Plan(inputs, signature, steps, out_names, outputs is not None, type_names)
    dead = plan.dead_steps
    if dead:
        names = ", ".join(f"{s.index} ({s.name!r})" for s in dead)
        warnings.warn(
            f"graphseq: the results of step(s) {names} reach no output of the model.",
            UserWarning,
            stacklevel=3,
        )
    return plan, entries


def _check_defined(header: Header, text: str, defined: Mapping[str, None], where: str) -> None:
    for name in header.reads:
        if name in defined:
            continue
        known = list(defined)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"defined at this point: {', '.join(known)}."
        if close:
            hint += f" Did you mean {close[0]!r}?"
        raise HeaderError(
            f"reads {name!r}, which is not defined yet.",
            text=text,
            span=span_of(text.split("->")[0], name),
            hint=hint,
            where=where,
        )


def _signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _check_binding(fn: Callable[..., Any], header: Header, text: str | None, where: str) -> None:
    sig = _signature_of(fn)
    if sig is None:
        return
    positional = [a.names for a in header.positional]
    keywords = {a.keyword: a.names for a in header.keywords}
    try:
        sig.bind(*positional, **keywords)
    except TypeError as error:
        label = type(fn).__name__ if isinstance(fn, torch.nn.Module) else getattr(
            fn, "__name__", type(fn).__name__
        )
        raise HeaderError(
            f"passes arguments that {label}{sig} cannot take: {error}.",
            text=text if text is not None else str(header),
            hint=f"{label} is called as {label}{sig}.",
            where=where,
        ) from None


def _parse_outputs(
    outputs: str | Sequence[str] | None, last: tuple[str, ...], defined: Mapping[str, None]
) -> tuple[str, ...]:
    if outputs is None:
        return last
    text = outputs if isinstance(outputs, str) else ", ".join(outputs)
    try:
        names = parse_header(f"{text} -> _").reads if text.strip() else ()
    except HeaderError as error:
        raise HeaderError(f"Outputs {text!r} are not a list of names: {error.reason}") from None
    if not names:
        raise HeaderError("Outputs are empty: name at least one value.", text=text)
    for name in names:
        if name not in defined:
            close = difflib.get_close_matches(name, list(defined), n=1)
            raise HeaderError(
                f"Outputs name {name!r}, which no input or step defines.",
                text=text,
                span=span_of(text, name),
                hint=f"defined: {', '.join(defined)}."
                + (f" Did you mean {close[0]!r}?" if close else ""),
            )
    return names


def _with_lifetimes(
    inputs: tuple[str, ...],
    entries: Sequence[Entry],
    headers: Sequence[tuple[Header, str | None]],
    outputs: tuple[str, ...],
) -> tuple[Step, ...]:
    live = set(outputs)
    releases: list[tuple[str, ...]] = []
    for header, _ in reversed(headers):
        touched = dict.fromkeys(header.reads + header.outs)
        releases.append(tuple(n for n in touched if n not in live))
        live.difference_update(header.outs)
        live.update(header.reads)
    releases.reverse()

    steps = []
    defined = dict.fromkeys(inputs)
    for i, (entry, (header, text), release) in enumerate(zip(entries, headers, releases)):
        kind: Literal["module", "function"] = (
            "module" if isinstance(entry.fn, torch.nn.Module) else "function"
        )
        steps.append(Step(i, entry.name, header, text, kind, tuple(defined), release))
        defined.update(dict.fromkeys(header.outs))
    return tuple(steps)


def slice_plan(
    plan: Plan, index: slice, child: Callable[[str], Callable[..., Any]]
) -> tuple[InputArgs, dict[str, Any]]:
    """Inputs and steps of ``plan[index]``: it reads what it uses but does not produce itself."""
    start, stop, stride = index.indices(len(plan.steps))
    if stride != 1:
        raise ValueError("a Sequential can only be sliced with step 1")
    steps = plan.steps[start:stop]
    if not steps:
        raise ValueError(f"slice {index} of a {len(plan.steps)}-step model has no steps")
    written_before = {n for s in plan.steps[:start] for n in s.header.outs}
    originals = {a.name: a for a in plan.inputs.args if a.name not in written_before}
    needed: dict[str, None] = {}
    produced: set[str] = set()
    for step in steps:
        needed.update(dict.fromkeys(n for n in step.header.reads if n not in produced))
        produced.update(step.header.outs)
    args = tuple(originals.get(n, InputArg(n)) for n in needed)
    entries: dict[str, Any] = {}
    for i, step in enumerate(steps):
        text = str(step.header) if i == 0 and step.text is None else step.text
        entries[step.name] = child(step.name) if text is None else (child(step.name), text)
    return InputArgs(_reorder_defaults(args)), entries


def _reorder_defaults(args: tuple[InputArg, ...]) -> tuple[InputArg, ...]:
    """Inputs with defaults go last, as Python requires."""
    return tuple(a for a in args if not a.has_default) + tuple(a for a in args if a.has_default)
