"""The config schema: its keys, the plain data it holds, the limits, and the errors.

This module reads no files and builds no models. :func:`validate` turns a raw mapping into a
:class:`Config` record and a list of every :class:`Problem` found; :func:`normal_form` writes
a record back as plain data. Every value shown in a message is cut short (:func:`show`), so a
message stays small whatever the config holds.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import HeaderError, did_you_mean
from .parsing import InputArgs, parse_input_args, parse_outputs
from .spec import default_name

__all__ = [
    "Config",
    "ConfigError",
    "Limits",
    "Problem",
    "StepConfig",
    "check_plain",
    "cut",
    "normal_form",
    "show",
    "validate",
]

TOP_KEYS = ("inputs", "outputs", "steps")
STEP_KEYS = ("name", "module", "args", "kwargs", "header")

MAX_TEXT = 2_000
"""The longest ``inputs``, ``outputs`` or ``header`` string, in characters."""
MAX_NAME = 200
"""The longest step ``name`` or ``module`` string, in characters."""
MAX_SHOWN = 12
"""How many problems a :class:`ConfigError` message lists (each at most 800 characters,
so a message stays under 10 KB); ``problems`` holds them all."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what reading and checking a config may cost.

    Args:
        max_bytes: The largest config file read, in bytes (default 1 MiB).
        max_depth: The deepest nesting of lists and mappings (default 32).
        max_nodes: The most values (scalars, lists and mappings, keys included) after YAML
            aliases are expanded (default 50,000).

    Example:
        >>> from graphseq.config import Limits
        >>> Limits()
        Limits(max_bytes=1048576, max_depth=32, max_nodes=50000)
        >>> Limits(max_bytes=10 * 2**20).max_bytes
        10485760
    """

    max_bytes: int = 1 << 20
    max_depth: int = 32
    max_nodes: int = 50_000

    def __post_init__(self) -> None:
        for field in ("max_bytes", "max_depth", "max_nodes"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{field} must be a positive int (got {value!r})")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (``steps[2] ('conv2').kwargs``) and what."""

    where: str
    message: str
    header: str | None = None
    step: int | None = None  # the index of the step at fault, if any

    def __str__(self) -> str:
        text = f"{cut(self.where, 160)}: {cut(self.message, 400)}"
        if self.header is not None:
            text += f"\n    header: {cut(self.header, 200)}"
        return text


class ConfigError(ValueError):
    """A config that cannot be read or built; ``problems`` lists every fault found.

    The message lists the first 12 problems, each cut short, so it stays under 10 KB.

    Args:
        problems: Every fault found, in order; kept whole as ``problems``.

    Example:
        >>> from graphseq import from_config
        >>> from_config({'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear',
        ...                                        'arg': [4]}]})
        Traceback (most recent call last):
          ...
        graphseq.config.ConfigError: config: steps[0] ('lin').arg: unknown key. Did you mean 'args'?
    """

    __module__ = "graphseq.config"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """The message's lines: the first problems, then how many more there are.

        Returns:
            One line per problem shown (at most 12), then ``... and N more problems`` if any
            were left out.
        """
        shown = [str(p) for p in self.problems[:MAX_SHOWN]]
        hidden = len(self.problems) - MAX_SHOWN
        if hidden > 0:
            shown.append(f"... and {hidden} more problem{'s' if hidden > 1 else ''}")
        return shown


@dataclass
class StepConfig:
    """One well-formed step of a config."""

    index: int
    name: str
    module: str
    args: list[Any]
    kwargs: dict[str, Any]
    header: str | None

    @property
    def where(self) -> str:
        """Where the step is in the config, as messages show it: ``steps[2] ('conv2')``."""
        return f"steps[{self.index}] ({show(self.name)})"


@dataclass
class Config:
    """A config whose schema is right; its modules are not made yet."""

    label: str
    inputs: InputArgs | None
    outputs: str | tuple[str, ...] | None
    steps: list[StepConfig]


# Showing values ------------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlong = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def cut(text: str, limit: int = 200) -> str:
    """``text``, cut to ``limit`` characters with ``...`` at the end.

    Args:
        text: The text to shorten.
        limit: The most characters returned, ``...`` included.

    Returns:
        ``text`` itself if it fits, else its start followed by ``...``.

    Example:
        >>> from graphseq.config_schema import cut
        >>> cut('abcdefghij', 8)
        'abcde...'
    """
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def show(value: Any, limit: int = 60) -> str:
    """A short repr of ``value`` for messages: nested and long values are cut with ``...``.

    Args:
        value: Any value; one whose ``repr`` raises is shown by its type, ``<Name>``.
        limit: About how long the result may be (at most ``limit + 20`` characters).

    Returns:
        The repr on one line, with runs of whitespace made single spaces.

    Example:
        >>> from graphseq.config_schema import show
        >>> show([[1, 2, 3, 4, 5, 6, 7, 8]] * 9)
        '[[1, 2, 3, 4, 5, 6, ...], [1, 2, 3, 4, 5, 6, ...], [1, 2, 3, 4, 5, 6, ...], [...'
    """
    try:
        text = _repr.repr(value)
    except Exception:  # a hostile __repr__: name the type only
        text = f"<{type(value).__name__}>"
    return cut(" ".join(text.split()), limit + 20)


def kind(value: Any) -> str:
    """``null``, or the type and a short repr: ``int 3``, ``list [1, 2]``."""
    return "null" if value is None else f"{type(value).__name__} {show(value, 40)}"


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
    if isinstance(outputs, list | tuple) and all(isinstance(o, str) for o in outputs):
        outputs = tuple(outputs)
        if sum(map(len, outputs)) > MAX_TEXT:
            fault("outputs", _too_long(", ".join(outputs), MAX_TEXT))
    elif isinstance(outputs, str):
        if len(outputs) > MAX_TEXT:
            fault("outputs", _too_long(outputs, MAX_TEXT))
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
    checked_outputs = outputs if isinstance(outputs, str | tuple) else None
    return Config(label, inputs, checked_outputs, steps), fault.problems


def _validate_step(
    index: int,
    item: Any,
    taken: set[Any],
    seen: set[str],
    fault: _Faults,
    budget: _Budget,
) -> StepConfig | None:
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
        >>> from graphseq.config_schema import check_plain
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


# Writing -------------------------------------------------------------------------------------


def normal_form(
    inputs: str,
    outputs: str | None,
    steps: Sequence[tuple[str, str, list[Any], dict[str, Any], str | None]],
) -> dict[str, Any]:
    """The config in normal form: ``inputs``, ``outputs`` if given, then ``steps``, each with
    ``name`` and ``module``, then ``args`` and ``kwargs`` only when not empty, then ``header``
    only when one was written.

    Args:
        inputs: The model's inputs, such as ``'x, edge_index'``.
        outputs: The model's outputs, such as ``'x1, x'``, or ``None`` to leave the key out.
        steps: Each step as ``(name, module, args, kwargs, header)``; ``header`` is ``None``
            when none was written.

    Returns:
        A new dict of plain data, ready to write as YAML or JSON (``args`` and ``kwargs``
        are shallow copies).

    Example:
        >>> from graphseq.config_schema import normal_form
        >>> normal_form('x', None, [('lin', 'Linear', [4, 2], {}, None)])
        {'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear', 'args': [4, 2]}]}
    """
    out: dict[str, Any] = {"inputs": inputs}
    if outputs is not None:
        out["outputs"] = outputs
    rows = []
    for name, module, args, kwargs, header in steps:
        row: dict[str, Any] = {"name": name, "module": module}
        if args:
            row["args"] = list(args)
        if kwargs:
            row["kwargs"] = dict(kwargs)
        if header is not None:
            row["header"] = header
        rows.append(row)
    out["steps"] = rows
    return out


def outputs_text(outputs: str | tuple[str, ...] | None) -> str | None:
    """Outputs as the normal form writes them: ``'x1, x'``.

    Raises:
        HeaderError: The outputs are not a list of names (location ``outputs``).
    """
    if outputs is None:
        return None
    text = outputs if isinstance(outputs, str) else ", ".join(outputs)
    return ", ".join(parse_outputs(text))
