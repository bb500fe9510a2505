"""Names a config file may use for its steps: ``GCNConv``, ``ReLU``, ``global_mean_pool``...

A name maps either to a *factory* (a class or function called with the step's ``args`` and
``kwargs`` to make an ``nn.Module``) or to a *function* used as the step itself (a readout
such as ``global_mean_pool``, which takes no arguments in a config).

By default the registry holds every ``nn.Module`` class that ``torch.nn`` exports, and, when
``torch_geometric`` is installed, PyG's layers, norms, aggregations, models and pooling
functions. PyG's ``Linear``, ``LayerNorm``, ``Sequential`` and ``DataParallel`` clash with
``torch.nn``'s: the bare names are torch's, PyG's are ``torch_geometric.nn.Linear`` and so on.
The defaults are loaded on first use, so ``import graphseq`` does not import PyG.

Nothing here evaluates text. A dotted path such as ``mypkg.layers.MyConv`` that is not a
registered name is imported only when the caller passes ``allow_imports=True``, which runs
code named in the config: the module's top-level code on import, then the class it names.
The path must name an ``nn.Module`` subclass or a plain function, checked before anything
is called (see :func:`resolve`).

>>> from graphseq import registry
>>> registry.get('GCNConv')
<class 'torch_geometric.nn.conv.gcn_conv.GCNConv'>
>>> conv = registry.build('GCNConv', 16, 32, cached=False)
>>> registry.describe(conv)
('GCNConv', [16, 32], {'cached': False})
"""

from __future__ import annotations

import copy
import importlib
import inspect
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ._errors import did_you_mean
from ._labels import qualified

__all__ = [
    "Kind",
    "build",
    "contains",
    "describe",
    "get",
    "kind",
    "name_of",
    "names",
    "record",
    "register",
    "resolve",
    "unregister",
]

Kind = Literal["factory", "function"]

SPEC_ATTR = "_graphseq_spec"
"""The attribute under which :func:`build` records how a module was made."""


@dataclass(frozen=True)
class _Entry:
    obj: Callable[..., Any]
    kind: Kind


_entries: dict[str, _Entry] = {}
_defaults_loaded = False

# torch.nn classes that only hold other modules or are abstract: useless as a config step.
_SKIP_TORCH = {"Module", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Container"}
_PYG_MODULES = ("conv", "norm", "aggr", "pool", "models", "dense")


def register(
    name: str,
    factory: Callable[..., Any],
    *,
    function: bool = False,
    replace: bool = False,
) -> Callable[..., Any]:
    """Register ``factory`` under ``name``; return ``factory``.

    A factory is called with a step's ``args`` and ``kwargs`` and must return an
    ``nn.Module``. With ``function=True``, ``factory`` is itself the step (a readout such as
    ``global_mean_pool``), and a config gives it no arguments.

    >>> import torch
    >>> from graphseq import registry
    >>> class Scale(torch.nn.Module):
    ...     def __init__(self, factor: float) -> None:
    ...         super().__init__()
    ...         self.factor = factor
    ...     def forward(self, x: torch.Tensor) -> torch.Tensor:
    ...         return x * self.factor
    >>> registry.register('Scale', Scale)
    <class 'graphseq.registry.Scale'>
    >>> registry.build('Scale', 2.0).factor
    2.0
    >>> registry.unregister('Scale')

    Args:
        name: The name configs use, an identifier or dotted identifiers.
        factory: An ``nn.Module`` class or any callable that makes one; or, with
            ``function=True``, the function that is the step itself.
        function: ``factory`` is itself the step, called with the step's header arguments.
        replace: Replace another object already registered under ``name``.

    Returns:
        ``factory``, unchanged.

    Raises:
        ValueError: ``name`` is not an identifier, or is taken and ``replace`` is false.
        TypeError: ``factory`` is not callable.
    """
    if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
        raise ValueError(f"registry names are identifiers, such as 'MyConv' (got {name!r})")
    if not callable(factory):
        raise TypeError(f"cannot register {name!r}: {factory!r} is not callable")
    _load_defaults()
    if name in _entries and not replace and _entries[name].obj is not factory:
        raise ValueError(
            f"{name!r} is already registered (as {qualified(_entries[name].obj)}); "
            "pass replace=True to replace it."
        )
    _entries[name] = _Entry(factory, "function" if function else "factory")
    return factory


def unregister(name: str) -> None:
    """Remove ``name`` from the registry.

    Args:
        name: A registered name.

    Raises:
        KeyError: ``name`` is not registered.
    """
    _load_defaults()
    del _entries[name]


def names() -> list[str]:
    """All registered names, sorted.

    >>> from graphseq import registry
    >>> {'Linear', 'ReLU', 'GCNConv', 'global_mean_pool'} <= set(registry.names())
    True

    Returns:
        Every name a config's ``module`` can use without ``allow_imports``.
    """
    _load_defaults()
    return sorted(_entries)


def contains(name: str) -> bool:
    """Whether ``name`` is registered.

    Args:
        name: A name, such as ``'GCNConv'``.

    Returns:
        ``True`` if ``name`` is registered.
    """
    _load_defaults()
    return name in _entries


def get(name: str) -> Callable[..., Any]:
    """The factory or function registered under ``name``.

    An unknown name raises ``ValueError`` listing the closest registered names.

    >>> from graphseq import registry
    >>> registry.get('GCNConf')
    Traceback (most recent call last):
      ...
    ValueError: unknown module 'GCNConf'. Did you mean 'GCNConv', 'GCN2Conv' or 'RGCNConv'?

    Args:
        name: A registered name.

    Returns:
        The factory (such as the ``GCNConv`` class) or the function.

    Raises:
        ValueError: ``name`` is not registered; the message suggests the closest names.
    """
    return _lookup(name).obj


def kind(name: str) -> Kind:
    """Whether ``name`` makes a step (``'factory'``) or is one (``'function'``).

    Args:
        name: A registered name.

    Returns:
        ``'factory'`` or ``'function'`` (see :func:`register`).

    Raises:
        ValueError: ``name`` is not registered.
    """
    return _lookup(name).kind


def resolve(name: str, *, allow_imports: bool = False) -> tuple[Callable[..., Any], Kind]:
    """The callable a config's ``module:`` names, and its kind.

    Registered names come first. Otherwise a dotted path ``package.module.Attr`` is imported
    when ``allow_imports`` is true. This runs code named in the config: importing the module
    runs its top-level code. Nothing else is called here: the attribute must be an
    ``nn.Module`` subclass (a factory, called later to make the step) or a plain Python
    function (the step itself), or a ``ValueError`` says what it is.

    Args:
        name: A registered name, or an import path.
        allow_imports: Import paths that are not registered names.

    Returns:
        The factory or function, and ``'factory'`` or ``'function'``.

    Raises:
        ValueError: The name is unknown, an import path without ``allow_imports``, cannot
            be imported, or names something else than a module class or a function.

    Example:
        >>> from graphseq import registry
        >>> registry.resolve('torch.nn.modules.activation.ReLU', allow_imports=True)
        (<class 'torch.nn.modules.activation.ReLU'>, 'factory')
        >>> registry.resolve('subprocess.Popen', allow_imports=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        ValueError: 'subprocess.Popen' is a class that is not a torch.nn.Module; ...
    """
    if not isinstance(name, str):
        raise TypeError(f"module names are str (got {type(name).__name__})")
    _load_defaults()
    if name in _entries or "." not in name:
        entry = _lookup(name)
        return entry.obj, entry.kind
    if not allow_imports:
        raise ValueError(
            f"{name!r} is an import path, and configs import no code unless asked: "
            "pass allow_imports=True (graphseq --allow-imports), or register it with "
            f"graphseq.registry.register({name.rsplit('.', 1)[1]!r}, ...)."
        )
    obj = _import(name)
    if _is_module_class(obj):
        return obj, "factory"
    if inspect.isfunction(obj):
        return obj, "function"
    what = "a class that is not a torch.nn.Module" if isinstance(obj, type) else (
        f"a {type(obj).__name__}, not a plain Python function"
    )
    raise ValueError(
        f"{name!r} is {what}; an import path in a config must name an nn.Module subclass "
        "or a plain function."
    )


def build(name: str, /, *args: Any, **kwargs: Any) -> Any:
    """Make the step ``name`` names: call its factory with ``args``/``kwargs``, or return
    the registered function.

    A module made here remembers how (see :func:`record`), so a model holding it can be
    written back to a config with ``model.to_config()``. The arguments are config data:
    tuples in them become lists, as they would in a YAML or JSON file, so the module is
    made exactly as ``from_config`` would make it again.

    Args:
        name: A registered name.
        *args: The factory's positional arguments.
        **kwargs: The factory's keyword arguments.

    Returns:
        The module made, or the registered function.

    Raises:
        ValueError: ``name`` is not registered.
        TypeError: A function step was given arguments, or the factory made no module.

    Example:
        >>> from graphseq import registry
        >>> registry.build('Linear', 4, 2)
        Linear(in_features=4, out_features=2, bias=True)
        >>> registry.describe(registry.build('SAGEConv', (8, 8), 16))
        ('SAGEConv', [[8, 8], 16], {})
    """
    obj, what = resolve(name)
    if what == "function":
        if args or kwargs:
            raise TypeError(f"{name!r} is a function step; it takes no args or kwargs")
        return obj
    data_args = [_as_data(a) for a in args]
    data_kwargs = {k: _as_data(v) for k, v in kwargs.items()}
    return record(obj(*data_args, **data_kwargs), name, data_args, data_kwargs)


def _as_data(value: Any) -> Any:
    """``value`` with every tuple (at any depth in lists and dicts) turned into a list."""
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    return value


def record(module: Any, name: str, args: Any = (), kwargs: Any = None) -> Any:
    """Remember that ``module`` is ``name(*args, **kwargs)``; return ``module``.

    The record is a plain attribute of the module, so it survives ``copy.deepcopy`` and
    ``pickle``; :func:`describe` reads it back.

    >>> import torch
    >>> from graphseq import registry
    >>> lin = registry.record(torch.nn.Linear(4, 2), 'Linear', [4, 2])
    >>> registry.describe(lin)
    ('Linear', [4, 2], {})

    Args:
        module: The module made.
        name: The registered name it was made from.
        args: The positional arguments it was made with.
        kwargs: The keyword arguments it was made with.

    Returns:
        ``module``, now carrying the record.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{name!r} made {type(module).__name__}, not a torch.nn.Module")
    spec = (name, copy.deepcopy(list(args)), copy.deepcopy(dict(kwargs or {})))
    object.__setattr__(module, SPEC_ATTR, spec)
    return module


def describe(obj: Any) -> tuple[str, list[Any], dict[str, Any]] | None:
    """How to make ``obj`` again: ``(name, args, kwargs)``, or ``None`` if unknown.

    Modules made by :func:`build` or :func:`record` (and so by ``from_config``) are described
    by what they were made with; functions by their registered name, else their import path.

    Args:
        obj: A module or function.

    Returns:
        ``(name, args, kwargs)`` (deep copies of the recorded arguments; empty for a
        function), or ``None`` for a module with no record or a function that is neither
        registered nor importable by its path.

    Example:
        >>> import torch
        >>> from graphseq import registry
        >>> registry.describe(torch.nn.functional.relu)
        ('torch.nn.functional.relu', [], {})
        >>> registry.describe(torch.nn.Linear(4, 2)) is None
        True
    """
    spec = getattr(obj, SPEC_ATTR, None) if isinstance(obj, torch.nn.Module) else None
    if spec is not None:
        name, args, kwargs = spec
        return name, copy.deepcopy(args), copy.deepcopy(kwargs)
    if isinstance(obj, torch.nn.Module):
        return None
    found = name_of(obj) or _import_path(obj)
    return None if found is None else (found, [], {})


def name_of(obj: Any) -> str | None:
    """The name under which ``obj`` is registered (bare names first), or ``None``.

    Args:
        obj: A class or function.

    Returns:
        The shortest registered name for ``obj``, or ``None`` if it is not registered.
    """
    _load_defaults()
    found = [name for name, entry in _entries.items() if entry.obj is obj]
    if not found:
        return None
    return min(found, key=lambda n: (n.count("."), n))


# Lookup and defaults ----------------------------------------------------------------------


def _lookup(name: str) -> _Entry:
    _load_defaults()
    entry = _entries.get(name)
    if entry is None:
        shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
        raise ValueError(f"unknown module {shown}.{_suggest(name)}")
    return entry


def _suggest(name: str) -> str:
    hint = did_you_mean(name[:200], [n for n in _entries if "." not in n], limit=3)
    return hint or " See graphseq.registry.names() for the names a config can use."


def _import(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {path!r}: {error}") from None
    obj = getattr(module, attr, None)
    if obj is None or not callable(obj):
        raise ValueError(f"cannot import {path!r}: {module_name!r} has no callable {attr!r}")
    return obj


def _import_path(fn: Any) -> str | None:
    """``package.module.name`` if importing it gives back ``fn`` itself."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or not qualname.isidentifier():
        return None
    try:
        found = getattr(importlib.import_module(module), qualname, None)
    except ImportError:
        return None
    return f"{module}.{qualname}" if found is fn else None


def _load_defaults() -> None:
    """Fill the registry with torch.nn and PyG on first use; user entries keep priority."""
    global _defaults_loaded
    if _defaults_loaded:
        return
    defaults: dict[str, _Entry] = {}
    for name, obj in vars(torch.nn).items():
        if _is_module_class(obj) and not name.startswith("_") and name not in _SKIP_TORCH:
            defaults[name] = _Entry(obj, "factory")
    for name, entry in _pyg_defaults().items():
        if name in defaults:  # Linear, LayerNorm...: the bare name stays torch.nn's
            defaults[f"torch_geometric.nn.{name}"] = entry
        else:
            defaults[name] = entry
    for name, entry in defaults.items():
        _entries.setdefault(name, entry)
    _defaults_loaded = True


def _pyg_defaults() -> dict[str, _Entry]:
    try:
        with warnings.catch_warnings():  # PyG's own import-time deprecation noise
            warnings.simplefilter("ignore", DeprecationWarning)
            pyg = importlib.import_module("torch_geometric.nn")
    except ImportError:
        return {}
    found: dict[str, _Entry] = {}
    sources = [importlib.import_module(f"torch_geometric.nn.{sub}") for sub in _PYG_MODULES]
    for source in [pyg, *sources]:
        for name in getattr(source, "__all__", ()):
            obj: Any = getattr(source, name, None)
            if _is_module_class(obj):
                found[name] = _Entry(obj, "factory")
            elif source.__name__.endswith(".pool") and isinstance(obj, types.FunctionType):
                found[name] = _Entry(obj, "function")
    return found


def _is_module_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)
