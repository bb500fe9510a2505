"""``model.summary(...)``: a table of the steps, with what one example run produces.

The steps are run here, one by one, straight from the plan (each child is called with the
arguments its header declares), so that every named value is seen, functions included, and
the model itself is never changed: no hooks, no patched methods.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .plan import Plan, Step

if TYPE_CHECKING:
    from .sequential import Sequential

INPUT = -1
"""The producer index of the model's inputs in :func:`recorded_shapes`."""

ValueKey = tuple[int, str]
"""A value in the dataflow: ``(index of the step that wrote it, name)``; inputs use ``INPUT``."""


@dataclass(frozen=True)
class _Recorded:
    """What the last ``summary`` with example inputs saw, and for which plan."""

    plan: Plan
    values: dict[ValueKey, str]


def summarize(model: Sequential, *example_args: Any, **example_kwargs: Any) -> str:
    """A table of ``model``'s steps; with example inputs, their output shapes and dtypes.

    The model runs once on the examples, in eval mode and under ``torch.no_grad()``; the
    train/eval mode of every submodule is put back afterwards, also if the run fails.

    >>> import torch, graphseq
    >>> from torch.nn import Linear, ReLU
    >>> model = graphseq.Sequential('x', [(Linear(4, 8), 'x -> h'), ReLU(), Linear(8, 2)])
    >>> print(model.summary(torch.randn(3, 4)))
    Inputs: x [3, 4] float32
    #  Name      Module                                            Header  Output          Params
    -  --------  ------------------------------------------------  ------  --------------  ------
    0  module_0  Linear(in_features=4, out_features=8, bias=True)  x -> h  [3, 8] float32      40
    1  module_1  ReLU()                                            h -> h  [3, 8] float32       0
    2  module_2  Linear(in_features=8, out_features=2, bias=True)  h -> h  [3, 2] float32      18
    Outputs: h [3, 2] float32
    Total params: 58
    Trainable params: 58
    Non-trainable params: 0
    """
    plan = model.plan
    values: dict[ValueKey, str] | None = None
    if example_args or example_kwargs:
        values = _run(model, example_args, example_kwargs)
        model.__dict__["_shapes"] = _Recorded(plan, values)
    return _table(model, values)


def recorded_shapes(model: Sequential) -> Mapping[ValueKey, str]:
    """The value descriptions the last ``summary`` with example inputs recorded.

    Empty if there was none, or if the model was edited since (its plan changed).

    >>> import torch, graphseq
    >>> model = graphseq.Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
    >>> _ = model.summary(torch.randn(3, 4))
    >>> recorded_shapes(model)[(0, 'y')]
    '[3, 2] float32'
    """
    recorded = model.__dict__.get("_shapes")
    if isinstance(recorded, _Recorded) and recorded.plan is model.plan:
        return recorded.values
    return {}


# Running the steps -------------------------------------------------------------------------


def _run(model: Sequential, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[ValueKey, str]:
    """Run ``model``'s steps on the examples; describe every value they bind."""
    try:
        bound = inspect.signature(model.forward).bind(*args, **kwargs)
    except TypeError as error:
        names = ", ".join(model.plan.inputs.names)
        raise TypeError(
            f"summary() example inputs do not match the model's inputs ({names}): {error}."
        ) from None
    bound.apply_defaults()
    env: dict[str, Any] = dict(bound.arguments)
    values = {(INPUT, name): describe(value) for name, value in env.items()}

    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            for step in model.plan.steps:
                results = _call_step(step, model._child(step.name), env)
                for name, value in zip(step.header.outs, results, strict=True):
                    env[name] = value
                    values[(step.index, name)] = describe(value)
    finally:
        for module, training in modes.items():
            module.training = training
    return values


def _call_step(step: Step, fn: Callable[..., Any], env: Mapping[str, Any]) -> tuple[Any, ...]:
    """Call ``fn`` as the step's header says; its results, one per output name."""
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for arg in step.header.args:
        if arg.pack == "list":
            value: Any = [env[n] for n in arg.names]
        elif arg.pack == "tuple":
            value = tuple(env[n] for n in arg.names)
        else:
            value = env[arg.names[0]]
        if arg.keyword is None:
            positional.append(value)
        else:
            keywords[arg.keyword] = value
    outs = step.header.outs
    try:
        result = fn(*positional, **keywords)
        if len(outs) == 1:
            return (result,)
        results = tuple(result)
        if len(results) != len(outs):
            raise ValueError(
                f"step returned {len(results)} values, but its header names {len(outs)}"
            )
        return results
    except Exception as error:
        error.add_note(f"graphseq: raised in {step.where} during summary(): {step.header_text}")
        raise


def describe(value: Any) -> str:
    """A short description of a value: shape and dtype for tensors, nested for sequences.

    >>> describe(torch.zeros(2, 3, dtype=torch.long))
    '[2, 3] int64'
    >>> describe((torch.zeros(4), None, 7))
    '([4] float32, None, int)'
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
    return type(value).__name__


# The table ------------------------------------------------------------------------------------


def short_repr(fn: Callable[..., Any], width: int = 60) -> str:
    """A one-line label for a step's callable: a module's repr, a function's name.

    >>> short_repr(torch.nn.ReLU()), short_repr(torch.cat)
    ('ReLU()', 'cat')
    """
    if isinstance(fn, functools.partial):
        text = f"partial({short_repr(fn.func, width)}, ...)"
    elif isinstance(fn, torch.nn.Module):
        text = repr(fn)
    else:
        name = getattr(fn, "__name__", None)
        text = name if isinstance(name, str) else type(fn).__name__
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 3].rstrip() + "..."
    return text


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


def _table(model: Sequential, values: Mapping[ValueKey, str] | None) -> str:
    plan = model.plan
    columns = ["#", "Name", "Module", "Header"] + (["Output"] if values is not None else [])
    columns.append("Params")
    rows: list[list[str]] = []
    seen_params: set[int] = set()
    first_use: dict[int, int] = {}
    total = trainable = 0
    any_lazy = False
    for step in plan.steps:
        fn = model._child(step.name)
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

    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    right = {0, len(columns) - 1}

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    lines = [_io_line("Inputs", [(INPUT, n) for n in plan.inputs.names], values)]
    lines.append(line(columns))
    lines.append(line(["-" * w for w in widths]))
    lines.extend(line(r) for r in rows)
    lines.append(_io_line("Outputs", [(_producer(plan, n), n) for n in plan.outputs], values))
    lazy_note = " (+ lazy parameters, not yet initialized: pass example inputs)"
    lines.append(f"Total params: {total:,}" + (lazy_note if any_lazy else ""))
    lines.append(f"Trainable params: {trainable:,}")
    lines.append(f"Non-trainable params: {total - trainable:,}")
    return "\n".join(lines)


def _outputs(step: Step, values: Mapping[ValueKey, str]) -> str:
    outs = step.header.outs
    if len(outs) == 1:
        return values.get((step.index, outs[0]), "?")
    return ", ".join(f"{n}: {values.get((step.index, n), '?')}" for n in outs)


def _io_line(title: str, keys: list[ValueKey], values: Mapping[ValueKey, str] | None) -> str:
    if values is None:
        return f"{title}: " + ", ".join(name for _, name in keys)
    return f"{title}: " + ", ".join(f"{name} {values.get((i, name), '?')}" for i, name in keys)


def _producer(plan: Plan, name: str) -> int:
    """The index of the last step that writes ``name``, or ``INPUT``."""
    for step in reversed(plan.steps):
        if name in step.header.outs:
            return step.index
    return INPUT
