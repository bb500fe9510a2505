"""Writing configs: the normal form, :func:`normalize`, :func:`to_config`, :func:`save`.

The normal form has the top-level keys ``inputs``, ``outputs`` (only when the model has
explicit outputs) and ``steps``; every step has ``name`` and ``module``, then ``args`` and
``kwargs`` only when not empty, then ``header`` only when one was written. ``inputs`` and
``outputs`` are written as ``'a, b'``.

A tool on top of the plan: it reads ``model.plan`` and ``model[step.name]`` only, and does
not import :mod:`graphseq._sequential`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from .. import registry
from .._errors import HeaderError
from .._labels import short_repr
from .._parsing import parse_outputs
from .read import Source, load, yaml_module
from .records import ConfigError, Limits, Problem, StepConfig
from .recover import Unrecoverable, recover
from .schema import check_plain, validate

if TYPE_CHECKING:
    from .._plan import Plan

__all__ = ["normal_form", "normalize", "save", "to_config", "to_yaml"]


class Described(Protocol):
    """What :func:`to_config` reads from a model: its plan, and its children by name."""

    @property
    def plan(self) -> Plan: ...

    def __getitem__(self, key: str) -> Any: ...


# The normal form ---------------------------------------------------------------------------


def normal_form(
    inputs: str, outputs: Sequence[str] | None, steps: Sequence[StepConfig]
) -> dict[str, Any]:
    """The config in normal form: ``inputs``, ``outputs`` if given, then ``steps``, each with
    ``name`` and ``module``, then ``args`` and ``kwargs`` only when not empty, then ``header``
    only when one was written.

    Args:
        inputs: The model's inputs, such as ``'x, edge_index'``.
        outputs: The model's output names, written ``'x1, x'``; ``None`` leaves the key out.
        steps: The steps' records; a ``header`` of ``None`` is left out.

    Returns:
        A new dict of plain data, ready to write as YAML or JSON (``args`` and ``kwargs``
        are shallow copies).

    Example:
        >>> from graphseq.config.records import StepConfig
        >>> from graphseq.config.write import normal_form
        >>> normal_form('x', None, [StepConfig(0, 'lin', 'Linear', [4, 2], {}, None)])
        {'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear', 'args': [4, 2]}]}
    """
    out: dict[str, Any] = {"inputs": inputs}
    if outputs is not None:
        out["outputs"] = ", ".join(outputs)
    rows = []
    for step in steps:
        row: dict[str, Any] = {"name": step.name, "module": step.module}
        if step.args:
            row["args"] = list(step.args)
        if step.kwargs:
            row["kwargs"] = dict(step.kwargs)
        if step.header is not None:
            row["header"] = step.header
        rows.append(row)
    out["steps"] = rows
    return out


def normalize(source: Source, *, limits: Limits | None = None) -> dict[str, Any]:
    """A config in normal form (see the module doc), checked but not built.

    So ``to_config(from_config(c)) == normalize(c)`` for every valid config ``c``.

    Args:
        source: A config mapping or file, as for :func:`graphseq.from_config`.
        limits: Bounds on reading; :class:`~graphseq.config.Limits` by default.

    Returns:
        The config in normal form.

    Raises:
        ConfigError: The config's schema is not valid.

    Example:
        >>> from graphseq.config import normalize
        >>> normalize({'inputs': 'x,edge_index', 'steps': [{
        ...     'module': 'GCNConv', 'args': [4, 4], 'kwargs': {}, 'header': 'x, edge_index -> x',
        ... }]})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'inputs': 'x, edge_index',
         'steps': [{'name': 'module_0', 'module': 'GCNConv', 'args': [4, 4],
                    'header': 'x, edge_index -> x'}]}
    """
    raw, label = load(source, limits)
    config, problems = validate(raw, label, limits)
    outputs: Sequence[str] | None = None
    if isinstance(config.outputs, str):
        try:
            outputs = parse_outputs(config.outputs)
        except HeaderError as error:
            problems.insert(0, Problem(f"{label}: outputs", str(error)))
    else:
        outputs = config.outputs
    if problems:
        raise ConfigError(problems)
    return normal_form(str(config.inputs), outputs, config.steps)


def to_config(model: Described) -> dict[str, Any]:
    """The config dict (in normal form) that ``from_config`` builds ``model`` back from.

    A module made from a config or by ``graphseq.registry.build`` is described by what it
    was made with. A module built by hand, of a registered class, is described by the
    arguments read back from it, each verified by rebuilding the module and comparing (see
    :mod:`graphseq.config.recover`). A function must be registered or importable.

    Args:
        model: A :class:`graphseq.Sequential` (anything with ``plan`` and ``model[name]``).

    Returns:
        Plain data: str, numbers, booleans, None, lists and dicts.

    Raises:
        ValueError: Some steps cannot be described; the message names them.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> from graphseq.config import to_config
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2, bias=False), 'x -> x')])
        >>> to_config(model)
        {'inputs': 'x', 'steps': [{'name': 'module_0', 'module': 'Linear', 'args': [4, 2], \
'kwargs': {'bias': False}, 'header': 'x -> x'}]}
    """
    plan = model.plan
    steps = []
    unknown = []
    for step in plan.steps:
        child = model[step.name]
        described = registry.describe(child)
        if described is None and isinstance(child, torch.nn.Module):
            try:
                described = recover(child)
            except Unrecoverable as error:
                unknown.append(f"{step.where}: {short_repr(child)}: {error}")
                continue
        if described is None:
            unknown.append(f"{step.where}: {short_repr(child)}: a function that is neither "
                           "registered nor importable by its name")
            continue
        name, args, kwargs = described
        for key, value in (("args", args), ("kwargs", kwargs)):
            problem = check_plain(value)
            if problem is not None:
                unknown.append(f"{step.where}: {name} {key}{problem[0]} {problem[1]}")
        steps.append(StepConfig(step.index, step.name, name, args, kwargs, step.text))
    if unknown:
        raise ValueError(
            "to_config() cannot describe " + "; ".join(unknown) + ". A config holds modules "
            "of registered classes whose arguments are plain data (read back from a module "
            "built by hand, or recorded by graphseq.registry.build, e.g. "
            "registry.build('GCNConv', 16, 32)), and registered or importable functions."
        )
    outputs = plan.outputs if plan.explicit_outputs else None
    return normal_form(str(plan.inputs), outputs, steps)


def save(config: Mapping[str, Any] | Described, path: str | os.PathLike[str]) -> Path:
    """Write a config (or a model's ``to_config()``) to ``.yaml``/``.yml`` or ``.json``.

    Args:
        config: A config mapping, or a model to describe with :func:`to_config`.
        path: The file to write; its suffix picks the format.

    Returns:
        The path written.

    Raises:
        ValueError: The path is a folder, its suffix is not ``.yaml``, ``.yml`` or ``.json``,
            or the model cannot be described.

    Example:
        >>> import tempfile, pathlib
        >>> from graphseq import from_config
        >>> from graphseq.config import save
        >>> model = from_config({'inputs': 'x', 'steps': [{'module': 'Linear', 'args': [4, 2],
        ...                                                 'header': 'x -> x'}]})
        >>> path = save(model, pathlib.Path(tempfile.mkdtemp()) / 'model.yaml')
        >>> from_config(path).to_config() == model.to_config()
        True
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{target}: is a folder; name a file in it, such as "
                         f"{target / 'model.yaml'}")
    data = config if isinstance(config, Mapping) else to_config(config)
    suffix = target.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    elif suffix in (".yaml", ".yml"):
        text = to_yaml(data)
    else:
        raise ValueError(f"{target}: a config file ends in .yaml, .yml or .json")
    target.write_text(text, encoding="utf-8")
    return target


def to_yaml(data: Mapping[str, Any]) -> str:
    """YAML with one key per line, and ``args``/``kwargs`` on one line: ``args: [16, 64]``.

    Args:
        data: A config in normal form.

    Returns:
        The YAML text.

    Example:
        >>> from graphseq.config.write import to_yaml
        >>> print(to_yaml({'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear',
        ...                                          'args': [4, 2], 'kwargs': {'bias': False}}]}))
        inputs: x
        steps:
        - name: lin
          module: Linear
          args: [4, 2]
          kwargs: {bias: false}
        <BLANKLINE>
    """
    yaml = yaml_module()

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
    return str(yaml.dump(out, Dumper=dumper, sort_keys=False, default_flow_style=False))
