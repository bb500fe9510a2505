"""Model surgery: every edit is an operation on records, then codegen again.

An edit of a model (``insert``, ``append``, ``extend``, ``replace``, ``remove``) and each
model made from one (a slice, ``submodel``, ``clone``) is worked out here from the model's
records alone: its :class:`~graphseq._spec.ModelSpec`, its :class:`~graphseq._plan.Plan` and
its steps' callables, in step order. Nothing goes back to header text. Each function checks
its result like the constructor does and returns it as an :class:`Edit` (an
:class:`Appended` for the fast path of steps added at the end); the model only commits it,
and generates its ``forward`` from the new plan. A rejected edit raises before anything is
committed, so the model stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._binding import check_binding, params_of
from ._errors import HeaderError, Location, step_label
from ._parsing import Header, InputArgs, fold
from ._plan import (
    Plan,
    StepDecl,
    check_reads,
    defined_values,
    select,
    slice_decls,
    slice_inputs,
)
from ._spec import ModelSpec, check, make_inputs, make_outputs, make_steps

Fns = list[Callable[..., Any]]
"""A model's step callables, in step order (modules and functions alike)."""


class Edit(NamedTuple):
    """A checked model: its spec, its steps' callables (in step order) and its plan."""

    spec: ModelSpec
    fns: Fns
    plan: Plan


@dataclass(frozen=True)
class Tail:
    """What checking one more step at the end needs: names used, values defined, last outs."""

    names: frozenset[str]
    defined: dict[str, None]  # in order of definition, for messages
    last_outs: tuple[str, ...]


class Appended(NamedTuple):
    """Steps added at the end, checked against the model's tail alone (the plan comes later)."""

    spec: ModelSpec
    decls: list[StepDecl]  # the new steps only
    fns: Fns
    tail: Tail


def tail_of(plan: Plan) -> Tail:
    """The tail of the model that ``plan`` describes.

    Args:
        plan: A checked plan.

    Returns:
        Its step names, every value it defines, and what its last step writes.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> tail_of(make_spec('x', [(torch.nn.ReLU(), 'x -> h')])[1]).defined
        {'x': None, 'h': None}
    """
    return Tail(frozenset(s.name for s in plan.steps), defined_values(plan),
                plan.steps[-1].header.outs)


def step_index(names: Sequence[str], key: int | str) -> int:
    """The index of the step ``key`` names: a step name, or an index (negative from the end).

    Args:
        names: The step names, in order.
        key: A name (NFKC-normalised, as Python reads attribute names) or an index.

    Returns:
        An index in ``range(len(names))``.

    Raises:
        KeyError: No step has that name.
        TypeError: ``key`` is neither a name nor an index.
        IndexError: The index is out of range.

    Example:
        >>> step_index(['conv1', 'act1'], 'act1'), step_index(['conv1', 'act1'], -2)
        (1, 0)
    """
    if isinstance(key, str):
        normal = fold(key)
        if normal.isidentifier():
            key = normal
        if key in names:
            return names.index(key)
        raise KeyError(f"no step named {key!r}; steps: {list(names)}")
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"steps are selected by name or index, not {type(key).__name__}")
    if not -len(names) <= key < len(names):
        raise IndexError(f"step index {key} is out of range for {len(names)} steps")
    return key % len(names)


def position(size: int, index: Any) -> int:
    """Where ``insert(index, ...)`` puts a step in a model of ``size`` steps.

    Args:
        size: How many steps the model has.
        index: An int (negative counts from the end; past the end means at the end).

    Returns:
        A position in ``range(size + 1)``.

    Raises:
        TypeError: ``index`` is not an int.

    Example:
        >>> position(3, -1), position(3, 10)
        (2, 3)
    """
    if isinstance(index, bool) or not hasattr(index, "__index__"):
        raise TypeError(f"steps are inserted at an int index, not {type(index).__name__} "
                        f"{index!r:.40}")
    at = int(index.__index__())
    return min(at, size) if at >= 0 else max(0, size + at)


def insert(spec: ModelSpec, fns: Fns, index: int, items: Sequence[Any],
           taken: Container[str], owner: object = None) -> Edit:
    """The model with ``module`` or ``(module, header)`` items added before step ``index``.

    Args:
        spec: The model's spec.
        fns: Its steps' callables.
        index: Where the new steps go (``len(spec.steps)``: at the end).
        items: The new steps, named by default.
        taken: Names a step must not have.
        owner: The model being edited, which no new step may be or hold.

    Returns:
        The checked new model.

    Raises:
        HeaderError: A new step does not fit.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h')])
        >>> edit = insert(spec, fns, 0, [(torch.nn.ELU(), 'x -> x')], ())
        >>> [s.name for s in edit.plan.steps], edit.fns[0]
        (['module_1', 'module_0'], ELU(alpha=1.0))
    """
    used = {d.name for d in spec.steps}
    made = make_steps([(None, item) for item in items], taken, start=index, used=used,
                      owner=owner)
    if made.fault is not None:
        raise made.fault
    return _put(spec, fns, index, 0, made.decls, made.fns)


def append(spec: ModelSpec, tail: Tail, items: Sequence[Any],
           taken: Container[str], owner: object = None) -> Appended | None:
    """Steps added at the end, checked against ``tail`` alone (no pass over the model).

    Args:
        spec: The model's spec.
        tail: Its tail (see :func:`tail_of`).
        items: The new ``module`` or ``(module, header)`` steps.
        taken: Names a step must not have.
        owner: The model being edited, which no new step may be or hold.

    Returns:
        The new spec, steps and tail; ``None`` where a new step could leave others' results
        reaching no output, so that :func:`insert` checks the whole model (and it warns).

    Raises:
        HeaderError: A new step has a bad header, reads a name not defined yet, or cannot
            take its arguments.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h')])
        >>> append(spec, tail_of(plan), [torch.nn.ELU()], ()).tail.last_outs
        ('h',)
    """
    start = len(spec.steps)
    made = make_steps([(None, item) for item in items], taken, start=start, used=tail.names,
                      owner=owner)
    for offset, (decl, fn) in enumerate(zip(made.decls, made.fns, strict=True)):
        header = decl.header or Header.passthrough(tail.last_outs)
        at = Location("step", start + offset, decl.name, "header")
        if decl.header is not None:
            check_reads(header, decl.text, tail.defined, at)
        check_binding(fn, params_of(fn), header, decl.text, at)
        if not _keeps_all_alive(tail, header, spec.outputs):
            return None
        defined = dict(tail.defined)
        defined.update(dict.fromkeys(header.outs))
        tail = Tail(tail.names | {decl.name}, defined, header.outs)
    if made.fault is not None:
        raise made.fault
    return Appended(_with_steps(spec, spec.steps + tuple(made.decls)), made.decls, made.fns,
                    tail)


def replace(spec: ModelSpec, fns: Fns, index: int, module: Callable[..., Any],
            header: str | None, taken: Container[str], owner: object = None) -> Edit:
    """The model with ``module`` as step ``index``, under its name and (by default) header.

    Args:
        spec: The model's spec.
        fns: Its steps' callables.
        index: The step to replace.
        module: The new module or function.
        header: A new header, or ``None`` to keep the step's own.
        taken: Names a step must not have.
        owner: The model being edited, which the new child may not be or hold.

    Returns:
        The checked new model.

    Raises:
        HeaderError: The new child cannot take the header's arguments, the new header
            does not fit, or the child is the model itself (or holds it).

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h')])
        >>> replace(spec, fns, 0, torch.nn.ELU(), None, ()).fns
        [ELU(alpha=1.0)]
    """
    old = spec.steps[index]
    text = header if header is not None else old.text
    used = {d.name for d in spec.steps} - {old.name}
    made = make_steps([(old.name, module if text is None else (module, text))], taken,
                      start=index, used=used, owner=owner)
    if made.fault is not None:
        raise made.fault
    return _put(spec, fns, index, 1, made.decls, made.fns)


def remove(spec: ModelSpec, fns: Fns, index: int) -> Edit:
    """The model without step ``index``; refused while something needs what only it writes.

    Args:
        spec: The model's spec.
        fns: Its steps' callables.
        index: The step to remove.

    Returns:
        The checked new model.

    Raises:
        HeaderError: It is the only step, or a later step or an output needs what only
            this step writes (the fault is numbered as in the model with the step).

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h'),
        ...                                   (torch.nn.ReLU(), 'h -> h')])
        >>> [d.name for d in remove(spec, fns, 1).spec.steps]
        ['module_0']
    """
    at = Location("step", index, spec.steps[index].name)
    if len(spec.steps) == 1:
        raise HeaderError("cannot be removed: it is the model's only step.", location=at)
    try:
        return _put(spec, fns, index, 1, [], [])
    except HeaderError as error:
        raise HeaderError(
            f"cannot be removed: {_without(error, index)}",
            text=error.text,
            span=error.span,
            hint=error.hint,
            location=at,
        ) from None


def slice_model(spec: ModelSpec, plan: Plan, fns: Fns, idx: slice) -> Edit:
    """A new model of consecutive steps: a name end is kept (as pandas' ``.loc``), an index
    end is not (as Python's slices), in any mix.

    Args:
        spec: The model's spec.
        plan: Its plan.
        fns: Its steps' callables.
        idx: ``slice(1, 3)`` (steps 1 and 2), ``slice('conv1', 'conv2')`` (both kept) or
            ``slice('conv1', 3)`` (``conv1`` up to step 3, which is not kept).

    Returns:
        The checked new model; its inputs are what the steps read before writing.

    Raises:
        ValueError: A stride, or no steps.
        KeyError: No step has that name.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h'), torch.nn.ELU()])
        >>> slice_model(spec, plan, fns, slice('module_1', None)).spec.inputs.names
        ('h',)
    """
    names = [d.name for d in spec.steps]
    by_name = isinstance(idx.start, str) or isinstance(idx.stop, str)
    if by_name and idx.step is not None:
        raise ValueError("a slice by step names takes no stride")
    first = step_index(names, idx.start) if isinstance(idx.start, str) else idx.start
    end = step_index(names, idx.stop) + 1 if isinstance(idx.stop, str) else idx.stop
    start, stop, stride = slice(first, end, idx.step).indices(len(names))
    if stride != 1:
        raise ValueError("a Sequential can only be sliced with step 1")
    steps = plan.steps[start:stop]
    if not steps:
        raise ValueError(f"slice {idx} of a {len(plan.steps)}-step model has no steps")
    return _derive(slice_inputs(plan, steps), slice_decls(steps), fns[start:stop], None,
                   spec.type_names)


def submodel(spec: ModelSpec, plan: Plan, fns: Fns, outputs: str | Iterable[str],
             inputs: str | Iterable[str] | None = None) -> Edit:
    """A new model of only the steps ``outputs`` need (a name's last binding is meant).

    Args:
        spec: The model's spec.
        plan: Its plan.
        fns: Its steps' callables.
        outputs: The values to return: ``'x1, x'`` or a list of names.
        inputs: The values to start from; by default the model's inputs that the kept
            steps read.

    Returns:
        The checked new model.

    Raises:
        HeaderError: An output is not defined, cannot be computed from ``inputs`` (the
            missing names are listed), or needs no step.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h'),
        ...                                   (torch.nn.ELU(), 'h -> y')])
        >>> submodel(spec, plan, fns, 'y', inputs='h').fns
        [ELU(alpha=1.0)]
    """
    wanted = make_outputs(outputs)
    assert wanted is not None
    given = _names_of(inputs) if inputs is not None else None
    args, kept, decls = select(plan, wanted, given)
    if not kept:
        raise HeaderError(
            f"Outputs {wanted.text!r} need no step: they are inputs already.",
            location=Location("outputs"),
        )
    return _derive(args, decls, [fns[s.index] for s in kept], wanted, spec.type_names)


def clone(spec: ModelSpec, fns: Fns, fn: Callable[[str, Any], Any],
          taken: Container[str]) -> Edit:
    """A new model with the same names, whose children are ``fn(name, child)``.

    ``fn`` returns the new child, or ``(child, header)`` to give the step a new header;
    every other step keeps its own.

    Args:
        spec: The model's spec.
        fns: Its steps' callables.
        fn: Called once per step with its name and child; returns the new child, or the
            child and its header.
        taken: Names a step must not have.

    Returns:
        The checked new model.

    Raises:
        HeaderError: A new child is not a step (a class, say), a new header is not valid,
            or a child cannot take its step's arguments.

    Example:
        >>> import torch
        >>> from graphseq._spec import make_spec
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> h')])
        >>> clone(spec, fns, lambda name, child: torch.nn.ELU(), ()).fns
        [ELU(alpha=1.0)]
        >>> clone(spec, fns, lambda name, child: (child, 'x -> y'), ()).spec.steps[0].text
        'x -> y'
    """
    new = [fn(d.name, child) for d, child in zip(spec.steps, fns, strict=True)]
    made = make_steps([(d.name, f) for d, f in zip(spec.steps, new, strict=True)], taken)
    if made.fault is not None:
        raise made.fault
    # A returned header replaces the step's; else the header as declared, with the new
    # child's kind (a function may become a module).
    decls = [made_decl if made_decl.text is not None else decl._replace(kind=made_decl.kind)
             for decl, made_decl in zip(spec.steps, made.decls, strict=True)]
    return _derive(spec.inputs, decls, made.fns, spec.outputs, spec.type_names)


def _put(spec: ModelSpec, fns: Fns, index: int, remove: int, decls: list[StepDecl],
         new: Fns) -> Edit:
    """``spec`` with ``remove`` steps at ``index`` replaced by ``decls``, checked."""
    steps = spec.steps[:index] + tuple(decls) + spec.steps[index + remove:]
    edited = _with_steps(spec, steps)
    fns = fns[:index] + new + fns[index + remove:]
    return Edit(edited, fns, check(edited, fns))


def _derive(inputs: InputArgs, decls: Iterable[StepDecl], fns: Fns,
            outputs: tuple[str, ...] | None, namespace: Mapping[str, Any]) -> Edit:
    """A new model from records, its types resolved in ``namespace``, checked."""
    inputs, signature, names = make_inputs(inputs, namespace)
    spec = ModelSpec(inputs, signature, tuple(decls), outputs, names)
    return Edit(spec, fns, check(spec, fns))


def _with_steps(spec: ModelSpec, steps: tuple[StepDecl, ...]) -> ModelSpec:
    return ModelSpec(spec.inputs, spec.signature, steps, spec.outputs, spec.type_names)


def _keeps_all_alive(tail: Tail, header: Header, outputs: tuple[str, ...] | None) -> bool:
    """Whether a step added after ``tail`` leaves every step's results reaching an output."""
    if outputs is None:  # the new step's outputs become the model's: it must read the old ones
        return not set(tail.last_outs).isdisjoint(header.reads)
    written = [o for o in header.outs if o in outputs]
    return bool(written) and all(o in header.reads or o not in tail.defined for o in written)


def _without(error: HeaderError, removed: int) -> str:
    """What fails in the model without step ``removed``, its steps numbered as in the model
    with it; decided from the error's location, never from its text."""
    at = error.location
    if at is not None and at.part == "step" and at.index is not None:
        label = step_label(at.index + (at.index >= removed), at.name)
        return f"without it, {label} {error.reason}"
    return f"the model's {at.part if at is not None else 'steps'} need it. {error.reason}"


def _names_of(names: str | Iterable[str]) -> tuple[str, ...]:
    """Input names given as ``'h, edge_index'`` or a list (the outputs grammar)."""
    parsed = make_outputs(names, "inputs")
    assert parsed is not None
    return parsed
