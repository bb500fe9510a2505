"""Making a config's steps and building its model: :func:`from_config`.

Each step's ``module`` is resolved in :mod:`graphseq.registry` and called with the step's
``args`` and ``kwargs``; a build error is located at the config key it came from, by its
structured :class:`~graphseq._errors.Location`, never by its message.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from .. import registry
from .._errors import HeaderError
from .read import Source, load
from .records import Config, ConfigError, Limits, Problem, StepConfig, cut, show
from .schema import validate

if TYPE_CHECKING:
    from .._sequential import Sequential

__all__ = ["from_config"]


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
    from .._sequential import build_model

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
    passed_on: list[str] = []  # kwargs only a **kwargs takes: checked further down
    if signature is not None:
        named = {
            p.name for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        passed_on = [k for k in step.kwargs if k not in named]
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
        # A TypeError with kwargs passed on by a **kwargs (as PyG's layers pass theirs to
        # MessagePassing) is about those kwargs: decided from the signature, not the message.
        key = ".kwargs" if isinstance(error, TypeError) and passed_on else ""
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
    text = error.text if error.text and error.text.strip() else None
    return HeaderError(
        cut(reason, 1_000), text, error.span if text else None,
        cut(error.hint, 2_000) if error.hint else None,
        f"In {config.label}, {key}:", location,
    )

