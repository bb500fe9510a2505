"""Binding checks: can a step's callable take the arguments its header passes?

Each callable's parameters are read once into a small :class:`Params` record (cached per
plain function, or per class ``forward``), from the function's code object where that says
all ``inspect.signature`` would, and each header is checked against it without calling
anything. The full signature is read only for an error message.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from ._errors import HeaderError, Location
from ._labels import label
from ._parsing import Header


@dataclass(frozen=True, eq=False)
class Params:
    """What binding needs from a signature, read once per function."""

    source: inspect.Signature | Callable[..., Any]  # the signature, or what it is read from
    slots: tuple[str, ...]  # parameters that can be filled by position
    var_positional: bool
    keyword_names: frozenset[str]  # parameters that can be filled by keyword
    var_keyword: bool
    required: frozenset[str]
    skip_first: bool = False  # ``source`` is a class's ``forward``: its ``self`` is not passed

    @property
    def sig(self) -> inspect.Signature:
        """The full signature, for messages (read from the function only when one is needed).

        Returns:
            The signature as ``inspect.signature`` reads the callable.
        """
        if isinstance(self.source, inspect.Signature):
            return self.source
        sig = inspect.signature(self.source)
        if self.skip_first:
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
        return sig

    @classmethod
    def of_code(cls, fn: types.FunctionType, skip_first: bool = False) -> Params | None:
        """Read a plain function's parameters from its code object, as ``inspect`` would.

        About ten times faster than :func:`inspect.signature`, which a cold build would
        otherwise call once per child class.

        Args:
            fn: A Python function.
            skip_first: Leave out its first parameter (``self`` of a class's ``forward``).

        Returns:
            The facts binding needs, or ``None`` where ``inspect`` reads more than the code
            (a ``__wrapped__`` or ``__signature__`` attribute, or ``self`` taken by ``*args``).

        Example:
            >>> def f(x, /, k=1, *args, w, **kw): ...
            >>> params = Params.of_code(f)
            >>> params.slots, sorted(params.keyword_names), sorted(params.required)
            (('x', 'k'), ['k', 'w'], ['w', 'x'])
        """
        if hasattr(fn, "__wrapped__") or hasattr(fn, "__signature__"):
            return None
        code = fn.__code__
        count, kwonly = code.co_argcount, code.co_kwonlyargcount
        if skip_first and count == 0:
            return None
        names = code.co_varnames
        first = 1 if skip_first else 0
        first_default = count - len(fn.__defaults__ or ())
        kwdefaults = fn.__kwdefaults__ or {}
        keyword_only = names[count : count + kwonly]
        return cls(
            fn,
            names[first:count],
            bool(code.co_flags & inspect.CO_VARARGS),
            frozenset((*names[max(first, code.co_posonlyargcount) : count], *keyword_only)),
            bool(code.co_flags & inspect.CO_VARKEYWORDS),
            frozenset((*names[first:first_default],
                       *(k for k in keyword_only if k not in kwdefaults))),
            skip_first,
        )

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


_PARAMS: tuple[weakref.WeakKeyDictionary[Callable[..., Any], Params], ...] = (
    weakref.WeakKeyDictionary(),  # functions called whole
    weakref.WeakKeyDictionary(),  # functions that are a class's ``forward``: ``self`` skipped
)


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
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    skip = getattr(target, "__self__", None) is fn  # a bound ``forward`` drops ``self``
    cache = _PARAMS[skip]  # one function can be a step and a class's ``forward``
    if cacheable and key in cache:
        return cache[key]
    params = None
    if cacheable:  # a static ``forward`` is read whole
        params = Params.of_code(key, skip)
    if params is None:
        try:
            params = Params.of(inspect.signature(target))
        except (TypeError, ValueError):
            return None
    if cacheable:
        cache[key] = params
    return params


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
        >>> from graphseq._parsing import parse_header
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
