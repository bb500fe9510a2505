"""How messages, tables and diagrams name a step's callable: the one home for labels."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["label", "qualified", "short_repr"]


def label(fn: Callable[..., Any]) -> str:
    """A callable's short name: a module's class name, a function's name.

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


def short_repr(fn: Callable[..., Any], width: int = 60) -> str:
    """A one-line label: a module's repr, a function's name, cut to ``width`` characters.

    Args:
        fn: A module, a function or a ``functools.partial``.
        width: The most characters returned, ``...`` included.

    Returns:
        The label on one line, with runs of whitespace made single spaces.

    Example:
        >>> short_repr(torch.nn.ReLU()), short_repr(torch.cat)
        ('ReLU()', 'cat')
        >>> short_repr(torch.nn.Linear(2, 3), width=12)
        'Linear(in...'

    """
    if isinstance(fn, functools.partial):
        text = f"partial({short_repr(fn.func, width)}, ...)"
    elif isinstance(fn, torch.nn.Module):
        text = repr(fn)
    else:
        text = label(fn)
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 3].rstrip() + "..."
    return text


def qualified(obj: Any) -> str:
    """Where an object is defined: ``module.qualname``.

    Args:
        obj: A class or a function.

    Returns:
        The dotted path.

    Example:
        >>> qualified(torch.nn.ReLU)
        'torch.nn.modules.activation.ReLU'
    """
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
