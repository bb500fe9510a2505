"""The model's call signature: parsed input args with their types resolved, never evaluated."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._errors import HeaderError, Location
from ._parsing import InputArgs, check_type


class Parameter(NamedTuple):
    """One input of a model: name, resolved type, type as written, default."""

    name: str
    type: Any
    type_repr: str
    default: Any


class Signature(NamedTuple):
    """A model's inputs by name, and its return type."""

    param_dict: dict[str, Parameter]
    return_type: Any
    return_type_repr: str


class Child(NamedTuple):
    """One step as the reference reports it: its name, the names it reads and writes."""

    name: str
    param_names: list[str]
    return_names: list[str]


_PYG_TYPING = "torch_geometric.typing"


def default_namespace() -> dict[str, Any]:
    """Names a type string may use without importing anything: typing, torch and Tensor.

    Returns:
        A new dict: every name in ``typing.__all__``, then ``torch``, ``Tensor`` and
        ``typing`` itself.
    """
    names: dict[str, Any] = {n: getattr(typing, n) for n in typing.__all__}
    names.update(torch=torch, Tensor=Tensor, typing=typing)
    return names


_DEFAULTS = default_namespace()


def _pyg_name(name: str) -> Any:
    """A name from PyG's typing aliases (``Adj``, ``OptTensor``...) when PyG is installed."""
    module = sys.modules.get(_PYG_TYPING)
    if module is None:
        try:
            module = importlib.import_module(_PYG_TYPING)
        except ImportError:
            raise KeyError(name) from None
    if name.startswith("_") or not hasattr(module, name):
        raise KeyError(name)
    return getattr(module, name)


def lookup(name: str, namespace: Mapping[str, Any]) -> Any:
    """Resolve a bare name: the given namespace, then typing/torch, PyG, builtins.

    Args:
        name: A bare name such as ``'Tensor'`` or ``'Adj'``.
        namespace: Names looked at first (the caller's globals).

    Returns:
        What ``name`` stands for (only classes are taken from builtins).

    Raises:
        KeyError: ``name`` is found nowhere.

    Example:
        >>> lookup('Tensor', {}), lookup('int', {})
        (<class 'torch.Tensor'>, <class 'int'>)
    """
    for source in (namespace, _DEFAULTS):
        if name in source:
            return source[name]
    try:
        return _pyg_name(name)
    except KeyError:
        pass
    if hasattr(builtins, name) and isinstance(getattr(builtins, name), type):
        return getattr(builtins, name)
    raise KeyError(name)


def eval_type(value: Any, globals: Mapping[str, Any] | None = None) -> Any:
    """Return the type a type string names; a non-string passes through.

    Only names, dotted names, subscripts and ``|`` are resolved: nothing is evaluated.

    >>> eval_type('Optional[Tensor]', {})
    typing.Optional[torch.Tensor]

    Args:
        value: A type string such as ``'Optional[Tensor]'``, or a type.
        globals: Extra names to look types up in, after ``typing``, ``torch`` and PyG's
            typing aliases.

    Returns:
        The type, or ``value`` itself when it is not a string.
    """
    namespace = globals or {}
    return _eval(value, lambda name: lookup(name, namespace))


def _eval(value: Any, find: Callable[[str], Any]) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return _resolve(check_type(value), find)
    except KeyError as error:
        raise HeaderError(
            f"Type {value!r} uses {error.args[0]!r}, which is not defined.", text=value
        ) from None


def _resolve(node: ast.expr, find: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Name):
        return find(node.id)
    if isinstance(node, ast.Attribute):
        try:
            return getattr(_resolve(node.value, find), node.attr)
        except AttributeError:
            raise KeyError(ast.unparse(node)) from None
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_resolve(e, find) for e in node.elts)
    if isinstance(node, ast.List):
        return [_resolve(e, find) for e in node.elts]
    if isinstance(node, ast.BinOp):
        try:
            return typing.Union[_resolve(node.left, find), _resolve(node.right, find)]  # noqa: UP007
        except TypeError as error:
            raise HeaderError(f"{ast.unparse(node)!r} is not a valid type: {error}") from None
    if isinstance(node, ast.Subscript):
        base = _resolve(node.value, find)
        if not _subscriptable(base):
            raise HeaderError(f"{ast.unparse(node.value)!r} is not a generic type.")
        try:
            return base[_resolve(node.slice, find)]
        except TypeError as error:
            raise HeaderError(f"{ast.unparse(node)!r} is not a valid type: {error}") from None
    raise HeaderError(f"{ast.unparse(node)!r} is not a type.")  # pragma: no cover


def _subscriptable(base: Any) -> bool:
    module = getattr(base, "__module__", "")
    return isinstance(base, type) or module in ("typing", "typing_extensions", "collections.abc")


def resolve_signature(
    inputs: InputArgs, namespace: Mapping[str, Any]
) -> tuple[Signature, dict[str, Any]]:
    """Resolve parsed input args to a :class:`Signature`, plus the names its types use.

    Untyped inputs are ``Tensor`` (``Optional[Tensor]`` with a ``None`` default, the default's
    type with another default), as in the reference.

    Args:
        inputs: The parsed input args.
        namespace: Names the types may use besides typing, torch, PyG's typing aliases and
            builtin classes (the caller's globals).

    Returns:
        The signature (the return type is ``Tensor`` when none was written), and each name
        the types use with what it resolved to.

    Raises:
        HeaderError: A type uses an undefined name or is not a valid type (location
            ``inputs``).
    """
    params: dict[str, Parameter] = {}
    used: dict[str, Any] = {}
    for i, arg in enumerate(inputs.args):
        type_repr = arg.type_repr or _implied_type(arg.default, arg.has_default)
        default = arg.default if arg.has_default else inspect.Parameter.empty
        resolved = _resolve_text(type_repr, namespace, used, inputs, i)
        params[arg.name] = Parameter(arg.name, resolved, type_repr, default)
    return_repr = inputs.return_repr or "Tensor"
    return_type = _resolve_text(return_repr, namespace, used, inputs, None)
    return Signature(params, return_type, return_repr), used


def _implied_type(default: Any, has_default: bool) -> str:
    if not has_default:
        return "Tensor"
    if default is None:
        return "Optional[Tensor]"
    return type(default).__name__


def _resolve_text(
    type_repr: str, namespace: Mapping[str, Any], used: dict[str, Any], inputs: InputArgs,
    index: int | None,
) -> Any:
    """The type ``type_repr`` of input ``index`` (``None``: the return type) resolved."""

    def find(name: str) -> Any:
        used[name] = lookup(name, namespace)
        return used[name]

    what = "The return type" if index is None else f"Input {inputs.args[index].name!r}"
    try:
        return _resolve(check_type(type_repr), find)
    except KeyError as error:
        reason = f"{what} has type {type_repr!r}, which uses {error.args[0]!r}: it is not defined."
    except HeaderError as error:
        reason = f"{what} has type {type_repr!r}: {error.reason}"
    text, span = inputs.shown(index)  # the user's text, and the type's span in it
    raise HeaderError(
        reason,
        text=text,
        span=span,
        hint="types come from typing, torch, torch_geometric.typing and the calling module.",
        location=Location("inputs"),
    )


def caller_namespace(skip_package: str = "graphseq") -> dict[str, Any]:
    """The globals of the nearest frame outside ``skip_package`` (read, never imported).

    Args:
        skip_package: The package whose frames (its modules and subpackages) are passed over.

    Returns:
        That frame's globals dict itself (not a copy), or an empty dict if every frame is
        inside ``skip_package``.
    """
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != skip_package and not name.startswith(skip_package + "."):
            return frame.f_globals
        frame = frame.f_back  # type: ignore[assignment]
    return {}
