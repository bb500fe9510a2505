"""Models as config files: ``from_config(config)`` (a dict or a path) and ``model.to_config()``.

A config is plain data (YAML read with PyYAML's safe loader, or JSON)::

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

Nothing in a config is evaluated: ``module`` names a registry entry, whose factory is called
with the step's ``args`` and ``kwargs``. A dotted import path is accepted only with
``allow_imports=True``, which runs code named in the config (see :func:`from_config`).
Reading is bounded by :class:`Limits` (file size, nesting depth, value count).

The normal form, which :func:`to_config` returns and :func:`normalize` computes, has the
top-level keys ``inputs``, ``outputs`` (only when the model has explicit outputs) and
``steps``; every step has ``name`` and ``module``, then ``args`` and ``kwargs`` only when not
empty, then ``header`` only when one was written. ``inputs`` and ``outputs`` are written as
``'a, b'``. So ``to_config(from_config(c)) == normalize(c)`` for every valid config ``c``.

The work is split by direction: :mod:`graphseq.config_io` reads files within the limits,
:mod:`graphseq.config_schema` checks the schema, this module makes the steps and builds the
model, and :mod:`graphseq.config_write` writes a model back as a config.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from . import registry
from .config_io import Source, load
from .config_schema import (
    Config,
    ConfigError,
    Limits,
    Problem,
    StepConfig,
    cut,
    normal_form,
    outputs_text,
    show,
    validate,
)
from .config_write import save, to_config
from .errors import HeaderError

if TYPE_CHECKING:
    from .sequential import Sequential

__all__ = [
    "ConfigError",
    "Limits",
    "Problem",
    "from_config",
    "load",
    "normalize",
    "save",
    "to_config",
]


def from_config(
    source: Source, *, allow_imports: bool = False, limits: Limits | None = None
) -> Sequential:
    """Build a :class:`graphseq.Sequential` from a config dict or a ``.yaml``/``.json`` path.

    Every problem found in the schema or in making the modules is reported at once, in a
    :class:`ConfigError` (a ``ValueError``) naming the file, each step and key. A header
    that does not fit raises :class:`graphseq.HeaderError`, also located in the config.

    Args:
        source: A config mapping, or the path of a ``.yaml``, ``.yml`` or ``.json`` file.
        allow_imports: Let ``module`` be an import path such as ``mypkg.layers.MyConv``.
            This runs code named in the config: importing the module runs its top-level
            code, and the class or function named is then called (a class, to make the
            step) or becomes a step (a function). Before anything is called, the path must
            name an ``nn.Module`` subclass or a plain Python function. Only pass it for
            configs you trust as you trust your own code.
        limits: Bounds on reading the file and checking the values; :class:`Limits` by
            default (1 MiB, 32 levels of nesting, 50,000 values).

    Returns:
        The model.

    Raises:
        ConfigError: The file cannot be read, or the config is not valid.
        HeaderError: A header, the inputs or the outputs do not fit the steps.
        OSError: The file does not exist or cannot be opened.

    Example:
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

    raw, label = load(source, limits)
    config, problems = validate(raw, label, limits)
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
    assert config.inputs is not None  # else validate() reported a problem
    try:
        # Type names in a config resolve from typing, torch and PyG only, never the caller.
        return build_model(config.inputs, modules, config.outputs, namespace={})
    except HeaderError as error:
        raise _located(error, config) from None


def normalize(source: Source, *, limits: Limits | None = None) -> dict[str, Any]:
    """A config in normal form (see the module doc), checked but not built.

    Args:
        source: A config mapping or file, as for :func:`from_config`.
        limits: Bounds on reading; :class:`Limits` by default.

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
    try:
        outputs = outputs_text(config.outputs)
    except HeaderError as error:
        problems.insert(0, Problem(f"{label}: outputs", str(error)))
    if problems:
        raise ConfigError(problems)
    return normal_form(str(config.inputs), outputs, [
        (s.name, s.module, s.args, s.kwargs, s.header) for s in config.steps
    ])


# Making the steps ----------------------------------------------------------------------------


def _make(step: StepConfig, allow_imports: bool) -> tuple[Any, Problem | None]:
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
        return problem(key, f"{call} failed: {type(error).__name__}: {cut(str(error), 300)}")


def _call_text(step: StepConfig) -> str:
    parts = [show(a) for a in step.args] + [f"{k}={show(v)}" for k, v in step.kwargs.items()]
    return cut(f"{step.module}({', '.join(parts)})", 300)


# Locating build errors -----------------------------------------------------------------------

_FIELDS = {"header": ".header", "name": ".name", "module": ".module"}


def _located(error: HeaderError, config: Config) -> HeaderError:
    """The build error, saying which config key it came from (``In gcn.yaml, steps[1]...``).

    The key comes from the error's structured location, never from its message.
    """
    location = error.location
    key = "inputs"
    if location is not None and location.part == "step" and location.index is not None:
        step = next((s for s in config.steps if s.index == location.index), None)
        key = step.where if step is not None else f"steps[{location.index}]"
        key += _FIELDS.get(location.field or "", "")
    elif location is not None:
        key = {"inputs": "inputs", "outputs": "outputs", "modules": "steps"}[location.part]
    reason = error.reason
    if location is None or location.part != "step":
        reason = reason[:1].lower() + reason[1:]
    text = error.text if error.text and error.text.strip() else None
    return HeaderError(
        cut(reason, 1_000), text, error.span if text else None,
        cut(error.hint, 2_000) if error.hint else None,
        f"In {config.label}, {key}:", location,
    )

