"""The validated dataflow plan: what each step reads, writes, and where each value dies.

``build_plan`` is the one place a model is checked. Summary, diagrams, slicing, configs and
codegen all read the :class:`Plan`; none of them re-parses a header.
"""

from __future__ import annotations

import importlib
import inspect
import types
import warnings
import weakref
from collections.abc import Callable, Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import torch

from .errors import HeaderError, Location, did_you_mean, span_of, step_label
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
        return step_label(self.index, self.name)

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
    key: Hashable = None  # equal keys give equal steps and equal generated code

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
        return (_unpickle_plan, (*fields, names))  # the key is not kept: it holds callables' facts


@dataclass(frozen=True)
class _ModuleRef:
    name: str


def _unpickle_plan(
    inputs: InputArgs,
    signature: Signature,
    steps: tuple[Step, ...],
    outputs: tuple[str, ...],
    explicit_outputs: bool,
    names: dict[str, Any],
) -> Plan:
    type_names = {
        k: importlib.import_module(v.name) if isinstance(v, _ModuleRef) else v
        for k, v in names.items()
    }
    return Plan(inputs, signature, steps, outputs, explicit_outputs, type_names)


def normalize_modules(modules: Any) -> list[tuple[str, Callable[..., Any], str | None]]:
    """Turn a list or dict of callables / ``(callable, header)`` pairs into named triples."""
    if isinstance(modules, Mapping):
        items = list(modules.items())
    elif isinstance(modules, list | tuple):
        items = [(f"module_{i}", m) for i, m in enumerate(modules)]
    else:
        raise HeaderError(
            f"Sequential expects a list or dict of modules (got {type(modules).__name__}).",
            location=Location("modules"),
        )
    if not items:
        raise HeaderError(
            "Sequential expects a non-empty list of modules.", location=Location("modules")
        )
    out: list[tuple[str, Callable[..., Any], str | None]] = []
    for i, (name, item) in enumerate(items):
        where = step_label(i, name)
        at = Location("step", i, name if isinstance(name, str) else None, "module")
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
                    location=at,
                )
        if not callable(item):
            raise HeaderError(
                f"is not callable (got {type(item).__name__}: {item!r:.60}).",
                where=where,
                location=at,
            )
        if text is not None and not isinstance(text, str):
            raise HeaderError(
                f"has a header that is not a str (got {type(text).__name__}: {text!r:.60}).",
                where=where,
                location=Location("step", i, at.name, "header"),
            )
        out.append((name, item, text))
    return out


def check_step_name(name: Any, index: int, taken: Container[str]) -> str:
    where = step_label(index, name)
    if not isinstance(name, str):
        raise HeaderError(
            f"has a name that is not a str ({type(name).__name__}).",
            where=where,
            location=Location("step", index, None, "name"),
        )
    at = Location("step", index, name, "name")
    try:
        name = check_name(name)
    except HeaderError as error:
        raise HeaderError(
            error.reason.replace("uses", "is named", 1).replace("has", "is named", 1),
            hint="step names must be Python identifiers, as they become attributes.",
            where=where,
            location=at,
        ) from None
    if name in taken:
        raise HeaderError(
            f"is named {name!r}, which would shadow an attribute of the model.",
            hint="pick another name, such as 'conv1' or 'lin'.",
            where=where,
            location=at,
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
    specs = tuple(
        StepSpec(e.name, e.text, _kind(e.fn), _label(e.fn), _params_of(e.fn)) for e in entries
    )
    steps, out_names, dead = _dataflow(inputs.names, specs, outputs)
    plan = Plan(inputs, signature, steps, out_names, outputs is not None, type_names,
                key=(inputs, specs, outputs))
    if dead:
        names = ", ".join(f"{steps[i].index} ({steps[i].name!r})" for i in dead)
        warnings.warn(
            f"graphseq: the results of step(s) {names} reach no output of the model.",
            UserWarning,
            stacklevel=3,
        )
    return plan, entries


class StepSpec(NamedTuple):
    """All the dataflow check needs of one user step; two models with equal specs share a plan."""

    name: str
    text: str | None
    kind: Literal["module", "function"]
    label: str
    params: _Params | None


def _kind(fn: Callable[..., Any]) -> Literal["module", "function"]:
    return "module" if isinstance(fn, torch.nn.Module) else "function"


@lru_cache(maxsize=512)
def _dataflow(
    inputs: tuple[str, ...], specs: tuple[StepSpec, ...], outputs: str | tuple[str, ...] | None
) -> tuple[tuple[Step, ...], tuple[str, ...], tuple[int, ...]]:
    """Check the steps' headers in order; return the steps, the outputs and the dead steps."""
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.name in seen:
            raise HeaderError(
                f"reuses the name {spec.name!r}.",
                where=f"step {i}",
                location=Location("step", i, spec.name, "name"),
            )
        seen.add(spec.name)

    defined: dict[str, None] = dict.fromkeys(inputs)
    headers: list[Header] = []
    for i, spec in enumerate(specs):
        at = Location("step", i, spec.name, "header")
        if spec.text is None:
            if i == 0:
                raise HeaderError(
                    "has no header; the first step needs one, such as 'x, edge_index -> x'.",
                    location=Location("step", i, spec.name),
                )
            header = Header.passthrough(headers[-1].outs)
        else:
            try:
                header = parse_header(spec.text)
            except HeaderError as error:
                raise error.at(at) from None
            _check_defined(header, spec.text, defined, at)
        if spec.params is not None:
            _check_binding(spec, header, at)
        headers.append(header)
        defined.update(dict.fromkeys(header.outs))

    out_names = _parse_outputs(outputs, headers[-1].outs, defined)
    steps = _with_lifetimes(inputs, specs, headers, out_names)
    live = set(out_names)
    dead = []
    for step in reversed(steps):
        if live.isdisjoint(step.header.outs):
            dead.append(step.index)
            continue
        live.difference_update(step.header.outs)
        live.update(step.header.reads)
    return steps, out_names, tuple(dead[::-1])


def _check_defined(header: Header, text: str, defined: Mapping[str, None], at: Location) -> None:
    for name in header.reads:
        if name in defined:
            continue
        raise HeaderError(
            f"reads {name!r}, which is not defined yet.",
            text=text,
            span=span_of(text.split("->")[0], name),
            hint=f"defined at this point: {', '.join(defined)}.{did_you_mean(name, defined)}",
            location=at,
        )


@dataclass(frozen=True, eq=False)
class _Params:
    """What binding needs from a signature, read once per function."""

    sig: inspect.Signature
    slots: tuple[str, ...]  # parameters that can be filled by position
    posonly: int
    var_positional: bool
    keyword_names: frozenset[str]  # parameters that can be filled by keyword
    var_keyword: bool
    required: frozenset[str]

    @classmethod
    def of(cls, sig: inspect.Signature) -> _Params:
        kinds = inspect.Parameter
        params = list(sig.parameters.values())
        slots = tuple(p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY,
                                                           kinds.POSITIONAL_OR_KEYWORD))
        return cls(
            sig,
            slots,
            sum(p.kind == kinds.POSITIONAL_ONLY for p in params),
            any(p.kind == kinds.VAR_POSITIONAL for p in params),
            frozenset(p.name for p in params if p.kind in (kinds.POSITIONAL_OR_KEYWORD,
                                                           kinds.KEYWORD_ONLY)),
            any(p.kind == kinds.VAR_KEYWORD for p in params),
            frozenset(p.name for p in params if p.default is p.empty
                      and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)),
        )

    def accepts(self, positional: int, keywords: Iterable[str]) -> bool:
        """Whether a call with ``positional`` arguments and these keywords binds."""
        if positional > len(self.slots) and not self.var_positional:
            return False
        given = set(self.slots[:positional])
        for name in keywords:
            if name in given:
                return False
            if name in self.keyword_names:
                given.add(name)
            elif not self.var_keyword:
                return False
        return self.required <= given


_PARAMS: weakref.WeakKeyDictionary[Callable[..., Any], _Params] = weakref.WeakKeyDictionary()


def _params_of(fn: Callable[..., Any]) -> _Params | None:
    """Binding facts for calling ``fn``, cached per plain function (or per class ``forward``)."""
    key: Any = fn
    if isinstance(fn, torch.nn.Module) and "forward" not in fn.__dict__:
        key = type(fn).forward
    cacheable = isinstance(key, types.FunctionType)
    if cacheable and key in _PARAMS:
        return _PARAMS[key]
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        params = _Params.of(inspect.signature(target))
    except (TypeError, ValueError):
        return None
    if cacheable:
        _PARAMS[key] = params
    return params


def _check_binding(spec: StepSpec, header: Header, at: Location) -> None:
    params = spec.params
    assert params is not None
    if params.accepts(len(header.positional), (str(a.keyword) for a in header.keywords)):
        return
    positional = [a.names for a in header.positional]
    keywords = {str(a.keyword): a.names for a in header.keywords}
    try:
        params.sig.bind(*positional, **keywords)
    except TypeError as error:
        label = spec.label
        raise HeaderError(
            f"passes arguments that {label} cannot take: {error}.",
            text=spec.text if spec.text is not None else str(header),
            hint=f"{label} is called as {label}{plain_signature(params.sig)}.",
            location=at if spec.text is not None else Location("step", at.index, at.name),
        ) from None


def _label(fn: Callable[..., Any]) -> str:
    if isinstance(fn, torch.nn.Module):
        return type(fn).__name__
    return getattr(fn, "__name__", type(fn).__name__)


def plain_signature(sig: inspect.Signature) -> inspect.Signature:
    """``sig`` without annotations: ``(x, edge_index, edge_weight=None)``."""
    empty = inspect.Parameter.empty
    params = [p.replace(annotation=empty) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=empty)


def _parse_outputs(
    outputs: str | Sequence[str] | None, last: tuple[str, ...], defined: Mapping[str, None]
) -> tuple[str, ...]:
    if outputs is None:
        return last
    text = outputs if isinstance(outputs, str) else ", ".join(outputs)
    try:
        names = parse_header(f"{text} -> _").reads if text.strip() else ()
    except HeaderError as error:
        raise HeaderError(
            f"Outputs {text!r} are not a list of names: {error.reason}",
            location=Location("outputs"),
        ) from None
    if not names:
        raise HeaderError(
            "Outputs are empty: name at least one value.", text=text, location=Location("outputs")
        )
    for name in names:
        if name not in defined:
            raise HeaderError(
                f"Outputs name {name!r}, which no input or step defines.",
                text=text,
                span=span_of(text, name),
                hint=f"defined: {', '.join(defined)}.{did_you_mean(name, defined)}",
                location=Location("outputs"),
            )
    return names


def _with_lifetimes(
    inputs: tuple[str, ...],
    specs: Sequence[StepSpec],
    headers: Sequence[Header],
    outputs: tuple[str, ...],
) -> tuple[Step, ...]:
    live = set(outputs)
    releases: list[tuple[str, ...]] = []
    for header in reversed(headers):
        touched = dict.fromkeys(header.reads + header.outs)
        releases.append(tuple(n for n in touched if n not in live))
        live.difference_update(header.outs)
        live.update(header.reads)
    releases.reverse()

    steps = []
    defined = dict.fromkeys(inputs)
    for i, (spec, header, release) in enumerate(zip(specs, headers, releases, strict=True)):
        steps.append(Step(i, spec.name, header, spec.text, spec.kind, tuple(defined), release))
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
