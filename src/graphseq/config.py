"""Models as config files: ``from_config(dict | path)`` and ``model.to_config()``.

A config is plain data (YAML read with ``yaml.safe_load``, or JSON)::

    inputs: x, edge_index, batch
    outputs: x                      # optional
    steps:
      - name: conv1                 # optional: module_<index> otherwise
        module: GCNConv             # a name in graphseq.registry
        args: [16, 64]              # optional
        kwargs: {cached: false}     # optional
        header: x, edge_index -> x1 # optional after the first step
      - module: ReLU
      - module: global_mean_pool    # a function: no args or kwargs
        header: x1, batch -> x

Nothing in a config is evaluated or imported: ``module`` names a registry entry, and a
dotted import path is accepted only with ``allow_imports=True``.

The normal form, which :func:`to_config` returns and :func:`normalize` computes, has the
top-level keys ``inputs``, ``outputs`` (only when the model has explicit outputs) and
``steps``; every step has ``name`` and ``module``, then ``args`` and ``kwargs`` only when not
empty, then ``header`` only when one was written. ``inputs`` and ``outputs`` are written as
``'a, b'``. So ``to_config(from_config(c)) == normalize(c)`` for every valid config ``c``.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import registry
from .errors import HeaderError, step_label
from .parsing import parse_input_args, split

if TYPE_CHECKING:
    from .sequential import Sequential

__all__ = ["ConfigError", "Problem", "from_config", "load", "normalize", "save", "to_config"]

Source = Mapping[str, Any] | str | os.PathLike[str]

_TOP_KEYS = ("inputs", "outputs", "steps")
_STEP_KEYS = ("name", "module", "args", "kwargs", "header")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (``steps[2] ('conv2').kwargs``) and what."""

    where: str
    message: str
    header: str | None = None
    step: int | None = None  # the index of the step at fault, if any

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.header is not None:
            text += f"\n    header: {self.header}"
        return text


class ConfigError(ValueError):
    """A config that cannot be built; ``problems`` lists every fault found.

    >>> from graphseq import from_config
    >>> from_config({'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear', 'arg': [4]}]})
    Traceback (most recent call last):
      ...
    graphseq.config.ConfigError: config: steps[0] ('lin').arg: unknown key. Did you mean 'args'?
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


@dataclass
class _Step:
    index: int
    name: str
    module: str
    args: list[Any]
    kwargs: dict[str, Any]
    header: str | None

    @property
    def where(self) -> str:
        return f"steps[{self.index}] ({self.name!r})"


@dataclass
class _Config:
    label: str
    inputs: str
    outputs: str | None
    steps: list[_Step]


# Reading -----------------------------------------------------------------------------------


def load(source: Source) -> tuple[Mapping[str, Any], str]:
    """The raw config and a label for messages: ``'config'`` for a dict, else the path.

    Paths ending in ``.yaml``/``.yml`` are read with ``yaml.safe_load``, ``.json`` with
    ``json``.
    """
    if isinstance(source, Mapping):
        return source, "config"
    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            [Problem("config", f"expected a dict or a path (got {type(source).__name__})")]
        )
    path = Path(source)
    label = str(source)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(
            [Problem(label, "a config file ends in .yaml, .yml or .json")]
        )
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError([Problem(label, f"is not valid JSON: {error}")]) from None
    else:
        yaml = _yaml()
        try:
            with path.open(encoding="utf-8") as stream:
                data = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            reason = " ".join(str(error).split())
            raise ConfigError([Problem(label, f"is not valid YAML: {reason}")]) from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Problem(label, f"must hold a mapping with 'inputs' and 'steps' "
                            f"(got {type(data).__name__})")]
        )
    return data, label


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError(
            [Problem("config", "reading YAML needs PyYAML: pip install pyyaml")]
        ) from None
    return yaml


# Checking ----------------------------------------------------------------------------------


def _validate(raw: Mapping[str, Any], label: str) -> tuple[_Config, list[Problem]]:
    """Check the schema (not the modules): the well-formed parts, and every fault found."""
    fault = _Faults(f"{label}: ")
    for key in raw:
        if key not in _TOP_KEYS:
            fault(str(key), f"unknown key{_did_you_mean(key, _TOP_KEYS)}")

    inputs = raw.get("inputs")
    if inputs is None:
        fault("inputs", "missing: name the model's inputs, such as 'x, edge_index'")
    elif not isinstance(inputs, str):
        fault("inputs", f"must be a str such as 'x, edge_index' (got {_kind(inputs)})")
    else:
        try:
            inputs = str(parse_input_args(inputs))
        except HeaderError as error:
            fault("inputs", str(error).rstrip())

    outputs = raw.get("outputs")
    if isinstance(outputs, list | tuple) and all(isinstance(o, str) for o in outputs):
        outputs = ", ".join(outputs)
    elif isinstance(outputs, str):
        outputs = ", ".join(split(outputs, ","))
    elif outputs is not None:
        fault("outputs", f"must be a str such as 'x1, x' (got {_kind(outputs)})")

    raw_steps = raw.get("steps")
    steps: list[_Step] = []
    if raw_steps is None:
        fault("steps", "missing: list the model's steps")
    elif not isinstance(raw_steps, list | tuple) or not raw_steps:
        fault("steps", f"must be a non-empty list of steps (got {_kind(raw_steps)})")
    else:
        names = [s.get("name") for s in raw_steps if isinstance(s, Mapping)]
        taken = {name for name in names if isinstance(name, str)}
        seen: set[str] = set()
        for index, item in enumerate(raw_steps):
            fault.step = index
            step = _validate_step(index, item, taken, seen, fault)
            fault.step = None
            if step is not None:
                steps.append(step)
    config = _Config(label, inputs if isinstance(inputs, str) else "", outputs, steps)
    return config, fault.problems


class _Faults:
    """Collects problems, each prefixed with the config's label."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []
        self.step: int | None = None  # the step being checked

    def __call__(self, where: str, message: str, header: str | None = None) -> None:
        self.problems.append(Problem(self.prefix + where, message, header, self.step))


def _validate_step(
    index: int,
    item: Any,
    taken: set[Any],
    seen: set[str],
    fault: _Faults,
) -> _Step | None:
    if not isinstance(item, Mapping):
        hint = f"; write '- module: {item}'" if isinstance(item, str) else ""
        fault(f"steps[{index}]", f"must be a mapping with a 'module' key (got {_kind(item)}){hint}")
        return None
    name = item.get("name")
    if name is None:
        name = _free_name(index, taken)
        taken.add(name)
    header = item.get("header")
    where = f"steps[{index}] ({name!r})"
    head = header if isinstance(header, str) else None
    before = len(fault.problems)
    for key in item:
        if key not in _STEP_KEYS:
            fault(f"{where}.{key}", f"unknown key{_did_you_mean(key, _STEP_KEYS)}", head)
    if not isinstance(name, str) or not name.isidentifier():
        fault(f"{where}.name", "must be a Python identifier, such as 'conv1'", head)
    elif name in seen:
        fault(f"{where}.name", "is used by an earlier step; step names are unique", head)
    else:
        seen.add(name)
    module = item.get("module")
    if module is None:
        fault(f"{where}.module", "missing: name a registered module, such as 'GCNConv'", head)
    elif not isinstance(module, str):
        fault(f"{where}.module", f"must be a str (got {_kind(module)})", head)
    args = item.get("args", [])
    if args is None:
        args = []
    if not isinstance(args, list | tuple):
        fault(f"{where}.args", f"must be a list (got {_kind(args)})", head)
    else:
        args = list(args)
        for i, value in enumerate(args):
            _check_data(value, f"{where}.args[{i}]", fault, head)
    kwargs = item.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping):
        fault(f"{where}.kwargs", f"must be a mapping of names to values (got {_kind(kwargs)})",
              head)
    else:
        kwargs = dict(kwargs)
        for key, value in kwargs.items():
            if not isinstance(key, str) or not key.isidentifier():
                fault(f"{where}.kwargs", f"has key {key!r}; keys are argument names", head)
            else:
                _check_data(value, f"{where}.kwargs.{key}", fault, head)
    if header is not None and not isinstance(header, str):
        fault(f"{where}.header", f"must be a str such as 'x, edge_index -> x' (got "
              f"{_kind(header)}); quote a header that starts with '[': '[x1, x2] -> x'", None)
    if len(fault.problems) != before:
        return None
    assert isinstance(module, str)
    return _Step(index, name, module, args, kwargs, header)


def _check_data(value: Any, where: str, fault: _Faults, header: str | None) -> None:
    """Configs hold plain data: None, bool, int, float, str, and lists/mappings of them."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            fault(where, f"is {value}; use a finite number", header)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_data(item, f"{where}[{i}]", fault, header)
        return
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        for key, item in value.items():
            _check_data(item, f"{where}.{key}", fault, header)
        return
    fault(
        where,
        f"is {_kind(value)}; configs hold plain data (numbers, strings, booleans, null, "
        "lists and mappings with str keys)",
        header,
    )


def _free_name(index: int, taken: set[Any]) -> str:
    n = index
    while f"module_{n}" in taken:
        n += 1
    return f"module_{n}"


def _did_you_mean(key: Any, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), choices, n=1)
    known = ", ".join(repr(c) for c in choices)
    return f". Did you mean {close[0]!r}?" if close else f"; known keys: {known}"


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.40}"


# Building ----------------------------------------------------------------------------------


def _make(step: _Step, allow_imports: bool) -> tuple[Any, Problem | None]:
    """The step's module or function, or the problem that stops it being made."""

    def problem(key: str, message: str) -> tuple[Any, Problem]:
        return None, Problem(f"{step.where}{key}", message, step.header)

    try:
        obj, kind = registry.resolve(step.module, allow_imports=allow_imports)
    except ValueError as error:
        return problem(".module", str(error))
    if kind == "function":
        if step.args or step.kwargs:
            key = ".args" if step.args else ".kwargs"
            return problem(
                key, f"{step.module!r} is a function used as the step itself; it takes no "
                "args or kwargs"
            )
        return obj, None
    call = _call_text(step)
    try:
        signature: inspect.Signature | None = inspect.signature(obj)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(*step.args, **step.kwargs)
        except TypeError as error:
            key = ".args"
            if step.kwargs:
                try:
                    signature.bind_partial(*step.args)
                    key = ".kwargs"
                except TypeError:
                    pass
            return problem(key, f"{call} does not match {step.module}{signature}: {error}")
    try:
        module = obj(*step.args, **step.kwargs)
        return registry.record(module, step.module, step.args, step.kwargs), None
    except Exception as error:  # a constructor may raise anything; report it, keep going
        key = ""
        if isinstance(error, TypeError) and any(
            f"keyword argument {k!r}" in str(error) for k in step.kwargs
        ):
            key = ".kwargs"  # caught by a **kwargs further down, e.g. MessagePassing's
        return problem(key, f"{call} failed: {type(error).__name__}: {error}")


def _call_text(step: _Step) -> str:
    parts = [repr(a) for a in step.args] + [f"{k}={v!r}" for k, v in step.kwargs.items()]
    return f"{step.module}({', '.join(parts)})"


def from_config(source: Source, *, allow_imports: bool = False) -> Sequential:
    """Build a :class:`graphseq.Sequential` from a config dict or a ``.yaml``/``.json`` path.

    Every problem found in the schema or in making the modules is reported at once, in a
    :class:`ConfigError` (a ``ValueError``) naming each step and key. A header that does not
    fit raises :class:`graphseq.HeaderError`, also located in the config.

    >>> import torch
    >>> from graphseq import from_config
    >>> model = from_config({
    ...     'inputs': 'x, edge_index',
    ...     'steps': [
    ...         {'name': 'conv', 'module': 'GCNConv', 'args': [16, 4],
    ...          'header': 'x, edge_index -> x'},
    ...         {'module': 'ReLU'},
    ...     ],
    ... })
    >>> model(torch.randn(3, 16), torch.tensor([[0, 1], [1, 2]])).shape
    torch.Size([3, 4])
    >>> model.to_config()['steps'][1]
    {'name': 'module_1', 'module': 'ReLU'}
    """
    from .sequential import build_model

    raw, label = load(source)
    config, problems = _validate(raw, label)
    modules: dict[str, Any] = {}
    for step in config.steps:
        made, problem = _make(step, allow_imports)
        if problem is not None:
            problems.append(
                Problem(f"{label}: {problem.where}", problem.message, problem.header, step.index)
            )
        else:
            modules[step.name] = made if step.header is None else (made, step.header)
    if problems:
        problems.sort(key=lambda p: -1 if p.step is None else p.step)
        raise ConfigError(problems)
    try:
        # Type names in a config resolve from typing, torch and PyG only, never the caller.
        return build_model(config.inputs, modules, config.outputs, namespace={})
    except HeaderError as error:
        raise _located(error, config) from None


def _located(error: HeaderError, config: _Config) -> HeaderError:
    """The build error, saying which config key it came from ("In gcn.yaml, steps[1]...")."""
    where = f"In {config.label}, inputs:"
    if error.where is not None:
        where = f"In {config.label}, {error.where}:"
        for step in config.steps:
            if error.where == step_label(step.index, step.name):
                key = ".header" if error.text is not None and error.text == step.header else ""
                where = f"In {config.label}, {step.where}{key}:"
    elif config.outputs is not None and error.reason.startswith("Outputs"):
        where = f"In {config.label}, outputs:"
    reason = error.reason
    if error.where is None:
        reason = reason[:1].lower() + reason[1:]
    text = error.text if error.text and error.text.strip() else None
    return HeaderError(reason, text, error.span if text else None, error.hint, where)


# Writing -----------------------------------------------------------------------------------


def normalize(source: Source) -> dict[str, Any]:
    """A config in normal form (see the module doc), checked but not built.

    >>> from graphseq.config import normalize
    >>> normalize({'inputs': 'x,edge_index', 'steps': [
    ...     {'module': 'GCNConv', 'args': [4, 4], 'kwargs': {}, 'header': 'x, edge_index -> x'}]})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'inputs': 'x, edge_index',
     'steps': [{'name': 'module_0', 'module': 'GCNConv', 'args': [4, 4],
                'header': 'x, edge_index -> x'}]}
    """
    raw, label = load(source)
    config, problems = _validate(raw, label)
    if problems:
        raise ConfigError(problems)
    return _dump(config.inputs, config.outputs, [
        (s.name, s.module, s.args, s.kwargs, s.header) for s in config.steps
    ])


def _dump(
    inputs: str,
    outputs: str | None,
    steps: list[tuple[str, str, list[Any], dict[str, Any], str | None]],
) -> dict[str, Any]:
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


def to_config(model: Sequential) -> dict[str, Any]:
    """The config dict (in normal form) that :func:`from_config` builds ``model`` back from.

    Each step must be a module made from a config or by ``graphseq.registry.build`` (or
    marked with ``graphseq.registry.record``), or a registered function; otherwise a
    ``ValueError`` names the steps that cannot be described.
    """
    plan = model.plan
    steps = []
    unknown = []
    for step in plan.steps:
        child = model[step.name]
        described = registry.describe(child)
        if described is None:
            unknown.append(f"{step.where}: {_short(child)}")
            continue
        name, args, kwargs = described
        steps.append((step.name, name, args, kwargs, step.text))
    if unknown:
        raise ValueError(
            "to_config() cannot describe " + "; ".join(unknown) + ". Only modules made by "
            "graphseq.from_config or graphseq.registry.build (e.g. "
            "registry.build('GCNConv', 16, 32)), or marked with graphseq.registry.record, and "
            "registered functions can be written to a config."
        )
    outputs = ", ".join(plan.outputs) if plan.explicit_outputs else None
    return _dump(str(plan.inputs), outputs, steps)


def _short(child: Any) -> str:
    text = repr(child) if hasattr(child, "parameters") else getattr(child, "__name__", repr(child))
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def save(config: Mapping[str, Any] | Sequential, path: str | os.PathLike[str]) -> Path:
    """Write a config (or a model's ``to_config()``) to ``.yaml``/``.yml`` or ``.json``.

    >>> import tempfile, pathlib
    >>> from graphseq import from_config
    >>> from graphseq.config import save
    >>> model = from_config({'inputs': 'x', 'steps': [{'module': 'Linear', 'args': [4, 2],
    ...                                                 'header': 'x -> x'}]})
    >>> path = save(model, pathlib.Path(tempfile.mkdtemp()) / 'model.yaml')
    >>> from_config(path).to_config() == model.to_config()
    True
    """
    data = config if isinstance(config, Mapping) else to_config(config)
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".json":
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    elif suffix in (".yaml", ".yml"):
        target.write_text(_to_yaml(data), encoding="utf-8")
    else:
        raise ValueError(f"{target}: a config file ends in .yaml, .yml or .json")
    return target


def _to_yaml(data: Mapping[str, Any]) -> str:
    """YAML with one key per line, and ``args``/``kwargs`` on one line: ``args: [16, 64]``."""
    yaml = _yaml()

    dumper: Any = type("Dumper", (yaml.SafeDumper,), {})

    def flow_list(dumper: Any, value: list[Any]) -> Any:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)

    def block_list(dumper: Any, value: list[Any]) -> Any:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=False)

    def flow_dict(dumper: Any, value: dict[str, Any]) -> Any:
        return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)

    class Steps(list[Any]):
        pass

    class Kwargs(dict[str, Any]):
        pass

    dumper.add_representer(list, flow_list)
    dumper.add_representer(Steps, block_list)
    dumper.add_representer(Kwargs, flow_dict)
    out = dict(data)
    if isinstance(out.get("steps"), list):
        out["steps"] = Steps(
            {**step, "kwargs": Kwargs(step["kwargs"])}
            if isinstance(step, Mapping) and isinstance(step.get("kwargs"), Mapping)
            else step
            for step in out["steps"]
        )
    return yaml.dump(out, Dumper=dumper, sort_keys=False, default_flow_style=False)
