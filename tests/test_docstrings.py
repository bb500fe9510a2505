"""Docstrings: every public name has one, and every example in them runs and prints what it shows.

The API reference on the site is made from these docstrings (mkdocstrings, Google style).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import graphseq

SRC = Path(graphseq.__file__).parent
MODULES = sorted(
    f"graphseq.{info.name}"
    for info in pkgutil.iter_modules(graphseq.__path__)
    if not info.name.startswith("_")
)
WITH_EXAMPLES = [m for m in MODULES if ">>>" in (SRC / f"{m.split('.')[-1]}.py").read_text()]


def public_objects(module: ModuleType) -> Iterator[tuple[str, Any]]:
    """The public functions and classes of ``module``, and their public methods.

    Public means listed in ``__all__`` where the module has one, else not starting with ``_``;
    names imported from elsewhere are checked where they are defined.
    """
    listed = getattr(module, "__all__", None)
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if listed is not None and name not in listed:
            continue
        if inspect.isclass(value):
            yield f"{module.__name__}.{name}", value
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                func = member.fget if isinstance(member, property) else member
                func = getattr(func, "__func__", func)  # staticmethod, classmethod
                if inspect.isfunction(func) and func.__qualname__.startswith(value.__qualname__):
                    yield f"{module.__name__}.{name}.{attr}", func
        elif callable(value) and (inspect.isfunction(value) or hasattr(value, "__wrapped__")):
            yield f"{module.__name__}.{name}", value


def test_modules_are_found():
    assert {"graphseq.sequential", "graphseq.parsing", "graphseq.cli"} <= set(MODULES)
    assert "graphseq.sequential" in WITH_EXAMPLES


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_a_docstring(name: str):
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring"
    missing = [path for path, obj in public_objects(module) if not (obj.__doc__ or "").strip()]
    assert not missing, f"no docstring: {', '.join(missing)}"


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_pass(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
