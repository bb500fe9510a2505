"""The config schema: which keys a config has and what each may hold.

:func:`validate` turns a raw mapping into a :class:`~graphseq.config.records.Config` record
and a list of every :class:`~graphseq.config.records.Problem` found. It reads no files and
builds no modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import HeaderError, did_you_mean
from .._parsing import InputArgs, parse_input_args, parse_outputs
from .._spec import default_name
from .records import (
    MAX_NAME,
    MAX_TEXT,
    STEP_KEYS,
    TOP_KEYS,
    Config,
    Limits,
    Problem,
    StepConfig,
    cut,
    kind,
    show,
)

__all__ = ["check_plain", "validate"]


# Checking ------------------------------------------------------------------------------------


class _Faults:
    """Collects problems, each prefixed with the config's label."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []
        self.step: int | None = None  # the step being checked

    def __call__(self, where: str, message: str, header: str | None = None) -> None:
        self.problems.append(Problem(self.prefix + where, message, header, self.step))


def validate(
    raw: Mapping[str, Any], label: str, limits: Limits | None = None
) -> tuple[Config, list[Problem]]:
    """Check the schema (not the modules): the well-formed parts, and every fault found.

    Args:
        raw: The config as read (a mapping).
        label: How messages name the config: ``'config'`` or the file's path.
        limits: Bounds on nesting and size; :class:`Limits` by default.

    Returns:
        The config record (holding only the well-formed steps) and the problems.
    """
    limits = limits or Limits()
    fault = _Faults(f"{label}: ")
    for key in raw:
        if key not in TOP_KEYS:
            fault(_key(key), f"unknown key{_suggest(key, TOP_KEYS)}")

    inputs: InputArgs | None = None
    raw_inputs = raw.get("inputs")
    if raw_inputs is None:
        fault("inputs", "missing: name the model's inputs, such as 'x, edge_index'")
    elif not isinstance(raw_inputs, str):
        fault("inputs", f"must be a str such as 'x, edge_index' (got {kind(raw_inputs)})")
    elif len(raw_inputs) > MAX_TEXT:
        fault("inputs", _too_long(raw_inputs, MAX_TEXT))
    else:
        try:
            inputs = parse_input_args(raw_inputs)
        except HeaderError as error:
            fault("inputs", str(error).rstrip())

    outputs = raw.get("outputs")
    checked_outputs: str | tuple[str, ...] | None = None
    if isinstance(outputs, list | tuple) and all(isinstance(o, str) for o in outputs):
        checked_outputs = _output_names(outputs, fault)
    elif isinstance(outputs, str):
        if len(outputs) > MAX_TEXT:
            fault("outputs", _too_long(outputs, MAX_TEXT))
        else:
            checked_outputs = outputs
    elif outputs is not None:
        fault("outputs", f"must be a str such as 'x1, x' (got {kind(outputs)})")

    raw_steps = raw.get("steps")
    steps: list[StepConfig] = []
    budget = _Budget(limits)
    if raw_steps is None:
        fault("steps", "missing: list the model's steps")
    elif not isinstance(raw_steps, list | tuple) or not raw_steps:
        fault("steps", f"must be a non-empty list of steps (got {kind(raw_steps)})")
    elif len(raw_steps) > limits.max_nodes:
        fault("steps", f"has {len(raw_steps):,} steps, more than max_nodes={limits.max_nodes:,}")
    else:
        names = [s.get("name") for s in raw_steps if isinstance(s, Mapping)]
        taken = {name for name in names if isinstance(name, str)}
        seen: set[str] = set()
        for index, item in enumerate(raw_steps):
            fault.step = index
            step = _validate_step(index, item, taken, seen, fault, budget)
            fault.step = None
            if step is not None:
                steps.append(step)
    return Config(label, inputs, checked_outputs, steps), fault.problems


def _output_names(items: Sequence[str], fault: _Faults) -> tuple[str, ...] | None:
    """Outputs given as a list: each item must be one value name, read on its own."""
    if sum(map(len, items)) > MAX_TEXT:
        fault("outputs", _too_long(", ".join(items), MAX_TEXT))
        return None
    names: list[str] = []
    for i, item in enumerate(items):
        try:
            found = parse_outputs(item)
        except HeaderError as error:
            fault(f"outputs[{i}]", cut(error.reason, 400))
            continue
        if len(found) != 1:
            fault(f"outputs[{i}]", f"is {show(item)}, which names {len(found)} values; each "
                  f"item of an outputs list is one name: write {show(list(found))}")
            continue
        names.append(found[0])
    return tuple(names) if len(names) == len(items) else None


def _validate_step(
    index: int,
    item: Any,
    taken: set[Any],
    seen: set[str],
    fault: _Faults,
    budget: _Budget,
) -> StepConfig | None:
    """One step of ``steps``, its problems reported to ``fault``; None where it is unusable.

    Long because each key's check, in the order a user reads a step, sits beside its message.
    """
    if not isinstance(item, Mapping):
        hint = f"; write '- module: {cut(item, 60)}'" if isinstance(item, str) else ""
        fault(f"steps[{index}]", f"must be a mapping with a 'module' key (got {kind(item)}){hint}")
        return None
    name = item.get("name")
    if name is None:
        name = default_name(index, taken)
        taken.add(name)
    header = item.get("header")
    where = f"steps[{index}] ({show(name)})"
    head = header if isinstance(header, str) else None
    before = len(fault.problems)
    for key in item:
        if key not in STEP_KEYS:
            fault(f"{where}.{_key(key)}", f"unknown key{_suggest(key, STEP_KEYS)}", head)
    if not isinstance(name, str) or not name:
        fault(f"{where}.name", f"must be a non-empty str, such as 'conv1' (got {kind(name)})",
              head)
    elif len(name) > MAX_NAME:
        fault(f"{where}.name", _too_long(name, MAX_NAME), head)
    elif name in seen:
        fault(f"{where}.name", "is used by an earlier step; step names are unique", head)
    else:
        seen.add(name)
    module = item.get("module")
    if module is None:
        fault(f"{where}.module", "missing: name a registered module, such as 'GCNConv'", head)
    elif not isinstance(module, str):
        fault(f"{where}.module", f"must be a str (got {kind(module)})", head)
    elif len(module) > MAX_NAME:
        fault(f"{where}.module", _too_long(module, MAX_NAME), head)
    args = item.get("args", [])
    if args is None:
        args = []
    if not isinstance(args, list | tuple):
        fault(f"{where}.args", f"must be a list (got {kind(args)})", head)
    else:
        args = list(args)
        for i, value in enumerate(args):
            budget.check(value, f"{where}.args[{i}]", fault, head)
    kwargs = item.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping):
        fault(f"{where}.kwargs", f"must be a mapping of names to values (got {kind(kwargs)})",
              head)
    else:
        kwargs = dict(kwargs)
        for key, value in kwargs.items():
            if not isinstance(key, str) or not key.isidentifier():
                fault(f"{where}.kwargs", f"has key {show(key)}; keys are argument names", head)
            else:
                budget.check(value, f"{where}.kwargs.{key}", fault, head)
    if header is not None and not isinstance(header, str):
        fault(f"{where}.header", f"must be a str such as 'x, edge_index -> x' (got "
              f"{kind(header)}); quote a header that starts with '[': '[x1, x2] -> x'", None)
    elif header is not None and len(header) > MAX_TEXT:
        fault(f"{where}.header", _too_long(header, MAX_TEXT), None)
    if len(fault.problems) != before:
        return None
    assert isinstance(module, str)
    return StepConfig(index, name, module, args, kwargs, header)


class _Budget:
    """Checks values are plain data, within the nesting and count limits, without cycles."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.left = limits.max_nodes
        self.spent = False  # reported once

    def check(self, value: Any, where: str, fault: _Faults, header: str | None) -> None:
        problem = check_plain(value, self.limits, self)
        if problem is not None:
            path, message = problem
            fault(where + path, message, header)


def check_plain(
    value: Any, limits: Limits | None = None, budget: _Budget | None = None
) -> tuple[str, str] | None:
    """The first way ``value`` is not plain config data, as ``(path, message)``, or ``None``.

    Plain data is None, bool, int, finite float, str, and lists and str-keyed mappings of
    them, nested at most ``limits.max_depth`` deep, with at most ``limits.max_nodes`` values
    in all, and containing no cycle.

    Args:
        value: The value to check.
        limits: The depth and count bounds; :class:`Limits` by default.
        budget: A count of values shared by several calls, so ``max_nodes`` bounds them all
            (used by :func:`validate`); a fresh one by default.

    Returns:
        ``None`` if ``value`` is plain, else where the first fault is (a path such as
        ``'[1].a'``, ``''`` for ``value`` itself) and what is wrong there.

    Example:
        >>> from graphseq.config.schema import check_plain
        >>> check_plain([1, {'a': (2, 3)}])  # doctest: +ELLIPSIS
        ('[1].a', 'is tuple (2, 3); configs hold plain data (...)')
    """
    limits = limits or Limits()
    budget = budget or _Budget(limits)
    active: set[int] = set()

    def walk(value: Any, path: str, depth: int) -> tuple[str, str] | None:
        budget.left -= 1
        if budget.left < 0:
            if budget.spent:
                return None
            budget.spent = True
            return path, f"holds more than max_nodes={limits.max_nodes:,} values"
        if value is None or isinstance(value, bool | int | str):
            return None
        if isinstance(value, float):
            return None if math.isfinite(value) else (path, f"is {value}; use a finite number")
        if isinstance(value, list | Mapping) and not isinstance(value, tuple):
            if isinstance(value, Mapping) and not all(isinstance(k, str) for k in value):
                return path, _NOT_PLAIN.format(kind(value))
            if id(value) in active:
                return path, "contains itself; configs hold trees of plain data"
            if depth >= limits.max_depth:
                return path, f"nests deeper than max_depth={limits.max_depth} levels"
            active.add(id(value))
            try:
                items: Sequence[tuple[str, Any]] = (
                    [(f".{k}", v) for k, v in value.items()] if isinstance(value, Mapping)
                    else [(f"[{i}]", v) for i, v in enumerate(value)]
                )
                for step, item in items:
                    found = walk(item, path + cut(step, 60), depth + 1)
                    if found is not None:
                        return found
            finally:
                active.discard(id(value))
            return None
        return path, _NOT_PLAIN.format(kind(value))

    return walk(value, "", 0)


_NOT_PLAIN = (
    "is {}; configs hold plain data (numbers, strings, booleans, null, lists and mappings "
    "with str keys)"
)


def _key(key: Any) -> str:
    return cut(key, 60) if isinstance(key, str) else show(key)


def _suggest(key: Any, choices: tuple[str, ...]) -> str:
    hint = did_you_mean(cut(str(key), 60), choices)
    if hint:
        return "." + hint
    return "; known keys: " + ", ".join(repr(c) for c in choices)


def _too_long(text: str, limit: int) -> str:
    return f"is {len(text):,} characters long, more than {limit:,}: {show(text, 40)}"
