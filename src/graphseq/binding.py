"""Binding checks: can a step's callable take the arguments its header passes?

Each callable's ``inspect.signature`` is read once into a small :class:`Params` record
(cached per plain function, or per class ``forward``), and each header is checked against
it without calling anything.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import HeaderError, Location
from .parsing import Header


@dataclass(frozen=True, eq=False)
class Params:
    """What binding needs from a signature, read once per function."""

    sig: inspect.Signature
    slots: tuple[str, ...]  # parameters that can be filled by position
    var_positional: bool
    keyword_names: frozenset[str]  # parameters that can be filled by keyword
    var_keyword: bool
    required: frozenset[str]

    @classmethod
    def of(cls, sig: inspect.Signature) -> Params:
        """Read ``sig`` into a :class:`Params`.

        Args:
            sig: A callable's signature.

        Returns:
            The facts binding needs.

        Example:
            >>> Params.of(inspect.signature(lambda x, k=1: x)).required
            frozenset({'x'})
        """
        kinds = inspect.Parameter
        params = list(sig.parameters.values())
        by_position = (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        by_keyword = (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
        variadic = (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
        return cls(
            sig,
            tuple(p.name for p in params if p.kind in by_position),
            any(p.kind == kinds.VAR_POSITIONAL for p in params),
            frozenset(p.name for p in params if p.kind in by_keyword),
            any(p.kind == kinds.VAR_KEYWORD for p in params),
            frozenset(
                p.name for p in params if p.default is p.empty and p.kind not in variadic
            ),
        )

    def accepts(self, positional: int, keywords: Iterable[str]) -> bool:
        """Whether a call with ``positional`` arguments and these keywords binds.

        Args:
            positional: How many positional arguments.
            keywords: The keyword names.

        Returns:
            ``True`` if the call binds.

        Example:
            >>> Params.of(inspect.signature(lambda x, k=1: x)).accepts(1, ['k'])
            True
        """
        if positional > len(self.slots) and not self.var_positional:
            return False
        given = set(self.slots[:positional])
        for name in keywords:
            if name in given:
                return False
            if name in self.keyword_names:
                given.add(name)
            elif not self.var_keyword:
                return False
        return self.required <= given


_PARAMS: weakref.WeakKeyDictionary[Callable[..., Any], Params] = weakref.WeakKeyDictionary()


def params_of(fn: Callable[..., Any]) -> Params | None:
    """Binding facts for calling ``fn``; ``None`` when its signature cannot be read.

    Args:
        fn: A module or a function.

    Returns:
        Its :class:`Params`, cached per plain function (or per class ``forward``).

    Example:
        >>> params_of(torch.nn.ReLU()).slots
        ('input',)
    """
    key: Any = fn
    if isinstance(fn, torch.nn.Module) and "forward" not in fn.__dict__:
        key = type(fn).forward
    cacheable = isinstance(key, types.FunctionType)
    if cacheable and key in _PARAMS:
        return _PARAMS[key]
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        params = Params.of(inspect.signature(target))
    except (TypeError, ValueError):
        return None
    if cacheable:
        _PARAMS[key] = params
    return params


def label(fn: Callable[..., Any]) -> str:
    """How messages name a callable: a module's class name, a function's name.

    Args:
        fn: A module or a function.

    Returns:
        ``'GCNConv'``, ``'cat'``...

    Example:
        >>> label(torch.nn.ReLU()), label(torch.cat)
        ('ReLU', 'cat')
    """
    if isinstance(fn, torch.nn.Module):
        return type(fn).__name__
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def check_binding(
    fn: Callable[..., Any],
    params: Params | None,
    header: Header,
    text: str | None,
    at: Location,
) -> None:
    """Raise if ``fn`` cannot take the arguments ``header`` passes.

    Args:
        fn: The step's callable.
        params: Its binding facts (``None``: not checked).
        header: The step's header, written or implied.
        text: The header as written, or ``None`` where it was implied.
        at: The step's location (field ``"header"``).

    Raises:
        HeaderError: The call would not bind; the message shows how ``fn`` is called.

    Example:
        >>> relu = torch.nn.ReLU()
        >>> from graphseq.parsing import parse_header
        >>> check_binding(relu, params_of(relu), parse_header('x -> x'), 'x -> x',
        ...               Location('step', 0, 'act', 'header'))
    """
    if params is None:
        return
    if params.accepts(len(header.positional), (str(a.keyword) for a in header.keywords)):
        return
    positional = [a.names for a in header.positional]
    keywords = {str(a.keyword): a.names for a in header.keywords}
    try:
        params.sig.bind(*positional, **keywords)
    except TypeError as error:
        name = label(fn)
        raise HeaderError(
            f"passes arguments that {name} cannot take: {error}.",
            text=text if text is not None else str(header),
            hint=f"{name} is called as {name}{plain_signature(params.sig)}.",
            location=at if text is not None else Location("step", at.index, at.name),
        ) from None


def plain_signature(sig: inspect.Signature) -> inspect.Signature:
    """``sig`` without annotations: ``(x, edge_index, edge_weight=None)``.

    Args:
        sig: A signature.

    Returns:
        The same signature without annotations.

    Example:
        >>> str(plain_signature(inspect.signature(lambda x, k=1: x)))
        '(x, k=1)'
    """
    empty = inspect.Parameter.empty
    params = [p.replace(annotation=empty) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=empty)
