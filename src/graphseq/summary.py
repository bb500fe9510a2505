"""``model.summary(...)``: a table of the steps, with what one example run produces.

The steps run through the ``summary`` variant of the generated code (the same call lines as
``forward``, see :func:`graphseq._codegen.call_line`), which hands each step's results to a
recorder: only their shapes are kept, and each value is freed after its last use, as in
``forward``. The model itself is never changed: no hooks, no patched methods. This module
takes a plan and the children, never the model.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from ._codegen import compile_forward, generate, note_adder
from ._labels import short_repr
from ._plan import INPUT, Plan, Step

__all__ = ["INPUT", "ValueKey", "describe", "recorded", "run", "table"]

ValueKey = tuple[int, str]
"""A value in the dataflow: ``(index of the step that wrote it, name)``; inputs use ``INPUT``."""

_RECORDED: dict[int, dict[ValueKey, str]] = {}
"""What the last :func:`run` of each live plan saw, by the plan's ``id`` (freed with it)."""


def recorded(plan: Plan) -> Mapping[ValueKey, str]:
    """What the last :func:`run` on ``plan`` (this plan object) described; empty if none.

    An edit makes a new plan, so what was recorded for the old one no longer shows.

    Args:
        plan: A model's plan.

    Returns:
        Value descriptions by ``(producer, name)``, read-only.

    Example:
        >>> import graphseq
        >>> model = graphseq.Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
        >>> _ = run(model.plan, model.children_by_name(), (torch.randn(3, 4),), {})
        >>> recorded(model.plan)[(0, 'y')], dict(recorded(model[:1].plan))
        ('[3, 2] float32', {})
    """
    return MappingProxyType(_RECORDED.get(id(plan), {}))


def _remember(plan: Plan, values: dict[ValueKey, str]) -> None:
    if id(plan) not in _RECORDED:
        weakref.finalize(plan, _RECORDED.pop, id(plan), None)
    _RECORDED[id(plan)] = values


def run(
    plan: Plan,
    children: Mapping[str, Callable[..., Any]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> dict[ValueKey, str]:
    """Run the steps on example inputs; describe every value they bind.

    The run is in eval mode and under ``torch.no_grad()``; the train/eval mode of every
    submodule is put back afterwards, also if the run fails. What it saw is kept for
    :func:`recorded` while ``plan`` lives.

    Args:
        plan: The model's plan.
        children: Each step's callable by step name.
        args: Example inputs.
        kwargs: Example keyword inputs.

    Returns:
        A description (``'[3, 2] float32'``) of each value, by ``(producer, name)``.

    Raises:
        TypeError: The examples do not match the model's inputs.

    Example:
        >>> import graphseq
        >>> model = graphseq.Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
        >>> run(model.plan, model.children_by_name(), (torch.randn(3, 4),), {})[(0, 'y')]
        '[3, 2] float32'
    """
    code = generate(plan, "summary")
    fn = compile_forward(code)
    bound = _bind(plan, fn, args, kwargs)
    values = {(INPUT, name): describe(value) for name, value in bound.arguments.items()}
    steps = plan.steps

    def record(index: int, *results: Any) -> None:
        for name, value in zip(steps[index].header.outs, results, strict=True):
            values[(index, name)] = describe(value)

    modules = [c for c in children.values() if isinstance(c, torch.nn.Module)]
    modes = {m: m.training for child in modules for m in child.modules()}
    try:
        for module in modules:
            module.eval()
        with torch.no_grad():
            fn(children, record, *bound.args, **bound.kwargs)
    except Exception as error:
        note_adder(plan, code, " during summary()")(error)
        raise
    finally:
        for module, training in modes.items():
            module.training = training
    _remember(plan, values)
    return values


def _bind(plan: Plan, fn: Callable[..., Any], args: tuple[Any, ...],
          kwargs: Mapping[str, Any]) -> inspect.BoundArguments:
    """The examples bound to the model's inputs (defaults applied), or a ``TypeError``."""
    params = list(inspect.signature(fn).parameters.values())[2:]
    try:
        bound = inspect.Signature(params).bind(*args, **kwargs)
    except TypeError as error:
        names = ", ".join(plan.inputs.names)
        raise TypeError(
            f"summary() example inputs do not match the model's inputs ({names}): {error}."
        ) from None
    bound.apply_defaults()
    return bound


def describe(value: Any) -> str:
    """A short description of a value: shape and dtype for tensors, nested for sequences.

    Args:
        value: Any value a step returned or was given.

    Returns:
        ``'[2, 3] int64'`` for a tensor; ``'None'``; for a list or tuple, its first 4 items
        described alike (and the count if there are more), down to 2 levels, below which
        only ``list(5)``; for a dict (a typed value), its first 4 types and their values
        (edge types joined by ``__``); else the value's type name.

    Example:
        >>> describe(torch.zeros(2, 3, dtype=torch.long))
        '[2, 3] int64'
        >>> describe((torch.zeros(4), None, 7))
        '([4] float32, None, int)'
        >>> describe({'paper': torch.zeros(3, 2), ('a', 'to', 'paper'): torch.zeros(2, 5)})
        '{paper: [3, 2] float32, a__to__paper: [2, 5] float32}'
    """
    return _describe(value, 0)


def _describe(value: Any, depth: int) -> str:
    if isinstance(value, torch.Tensor):
        dims = ", ".join(str(d) for d in value.shape)
        return f"[{dims}] {str(value.dtype).removeprefix('torch.')}"
    if value is None:
        return "None"
    if isinstance(value, list | tuple):
        if depth >= 2:
            return f"{type(value).__name__}({len(value)})"
        items = [_describe(v, depth + 1) for v in value[:4]]
        if len(value) > 4:
            items.append(f"... {len(value)} items")
        text = ", ".join(items)
        return f"[{text}]" if isinstance(value, list) else f"({text})"
    if isinstance(value, dict) and depth < 2:  # a typed value: by node or edge type
        items = [f"{'__'.join(k) if isinstance(k, tuple) else k}: {_describe(v, depth + 1)}"
                 for k, v in list(value.items())[:4]]
        if len(value) > 4:
            items.append(f"... {len(value)} types")
        return "{" + ", ".join(items) + "}"
    return type(value).__name__


# The table ------------------------------------------------------------------------------------


def _params(fn: Callable[..., Any], seen: set[int]) -> tuple[int, int, bool]:
    """Counts of parameters of ``fn`` not in ``seen`` (all, trainable), and if any is lazy."""
    if not isinstance(fn, torch.nn.Module):
        return 0, 0, False
    total = trainable = 0
    lazy = False
    for p in fn.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            lazy = True
            continue
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable, lazy


def table(
    plan: Plan,
    children: Mapping[str, Callable[..., Any]],
    values: Mapping[ValueKey, str] | None = None,
) -> str:
    """A table of the steps: name, callable, header, parameters (and outputs, with values).

    Args:
        plan: The model's plan.
        children: Each step's callable by step name.
        values: What :func:`run` recorded, or ``None``.

    Returns:
        The table as text.

    Example:
        >>> import graphseq
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> h')])
        >>> print(table(model.plan, model.children_by_name()))
        Inputs: x
        #  Name      Module  Header  Params
        -  --------  ------  ------  ------
        0  module_0  ReLU()  x -> h       0
        Outputs: h
        Total params: 0
        Trainable params: 0
        Non-trainable params: 0
    """
    columns = ["#", "Name", "Module", "Header"] + (["Output"] if values is not None else [])
    columns.append("Params")
    rows, total, trainable, any_lazy = _rows(plan, children, values)
    lines = [_io_line("Inputs", [(INPUT, n) for n in plan.inputs.names], values)]
    lines += _aligned(columns, rows)
    outputs = list(zip(plan.output_sources, plan.outputs, strict=True))
    lines.append(_io_line("Outputs", outputs, values))
    lazy_note = " (+ lazy parameters, not yet initialized: pass example inputs)"
    lines.append(f"Total params: {total:,}" + (lazy_note if any_lazy else ""))
    lines.append(f"Trainable params: {trainable:,}")
    lines.append(f"Non-trainable params: {total - trainable:,}")
    return "\n".join(lines)


def _rows(plan: Plan, children: Mapping[str, Callable[..., Any]],
          values: Mapping[ValueKey, str] | None) -> tuple[list[list[str]], int, int, bool]:
    """The table's rows, with the parameter counts (all, trainable) and if any is lazy."""
    rows: list[list[str]] = []
    seen_params: set[int] = set()
    first_use: dict[int, int] = {}
    total = trainable = 0
    any_lazy = False
    for step in plan.steps:
        fn = children[step.name]
        count, train, lazy = _params(fn, seen_params)
        total, trainable, any_lazy = total + count, trainable + train, any_lazy or lazy
        if isinstance(fn, torch.nn.Module) and id(fn) in first_use:
            cell = f"shared with {first_use[id(fn)]}"
        else:
            cell = "?" if lazy else f"{count:,}"
            first_use.setdefault(id(fn), step.index)
        row = [str(step.index), step.name, short_repr(fn), step.header_text]
        if values is not None:
            row.append(_outputs(step, values))
        rows.append(row + [cell])
    return rows, total, trainable, any_lazy


def _aligned(columns: list[str], rows: list[list[str]]) -> list[str]:
    """The heading, a rule and the rows, in columns; the first and last right-aligned."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    right = {0, len(columns) - 1}

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(columns), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _outputs(step: Step, values: Mapping[ValueKey, str]) -> str:
    outs = step.header.outs
    if len(outs) == 1:
        return values.get((step.index, outs[0]), "?")
    return ", ".join(f"{n}: {values.get((step.index, n), '?')}" for n in outs)


def _io_line(title: str, keys: list[ValueKey], values: Mapping[ValueKey, str] | None) -> str:
    if values is None:
        return f"{title}: " + ", ".join(name for _, name in keys)
    return f"{title}: " + ", ".join(f"{name} {values.get((i, name), '?')}" for i, name in keys)
