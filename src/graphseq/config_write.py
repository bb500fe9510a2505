"""The model-to-config direction: :func:`to_config` and :func:`save`, with the YAML layout.

A tool on top of the plan: it reads ``model.plan`` and ``model[step.name]`` only, and does
not import :mod:`graphseq.sequential`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import registry
from .config_io import yaml_module
from .config_schema import check_plain, normal_form

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["save", "to_config", "to_yaml"]


class Described(Protocol):
    """What :func:`to_config` reads from a model: its plan, and its children by name."""

    @property
    def plan(self) -> Plan: ...

    def __getitem__(self, key: str) -> Any: ...


def to_config(model: Described) -> dict[str, Any]:
    """The config dict (in normal form) that ``from_config`` builds ``model`` back from.

    Each step must be a module made from a config or by ``graphseq.registry.build`` (or
    marked with ``graphseq.registry.record``), or a registered function.

    Args:
        model: A :class:`graphseq.Sequential` (anything with ``plan`` and ``model[name]``).

    Returns:
        Plain data: str, numbers, booleans, None, lists and dicts.

    Raises:
        ValueError: Some steps cannot be described; the message names them.

    Example:
        >>> from graphseq import Sequential, registry
        >>> from graphseq.config import to_config
        >>> model = Sequential('x', [(registry.build('Linear', 4, 2), 'x -> x')])
        >>> to_config(model)
        {'inputs': 'x', 'steps': [{'name': 'module_0', 'module': 'Linear', 'args': [4, 2], \
'header': 'x -> x'}]}
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
        for key, value in (("args", args), ("kwargs", kwargs)):
            problem = check_plain(value)
            if problem is not None:
                unknown.append(f"{step.where}: {name} {key}{problem[0]} {problem[1]}")
        steps.append((step.name, name, args, kwargs, step.text))
    if unknown:
        raise ValueError(
            "to_config() cannot describe " + "; ".join(unknown) + ". Only modules made by "
            "graphseq.from_config or graphseq.registry.build (e.g. "
            "registry.build('GCNConv', 16, 32)), or marked with graphseq.registry.record, and "
            "registered functions, made from plain data, can be written to a config."
        )
    outputs = ", ".join(plan.outputs) if plan.explicit_outputs else None
    return normal_form(str(plan.inputs), outputs, steps)


def _short(child: Any) -> str:
    text = repr(child) if hasattr(child, "parameters") else getattr(child, "__name__", repr(child))
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


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
        >>> from graphseq.config_write import to_yaml
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
