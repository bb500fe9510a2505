"""The config's records (limits, problems, the error, the checked config) and message helpers.

Every value shown in a message is cut short (:func:`show`), so a message stays small whatever
the config holds. This module imports nothing of torch.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._parsing import InputArgs

__all__ = ["Config", "ConfigError", "Limits", "Problem", "StepConfig", "cut", "show"]

TOP_KEYS = ("inputs", "outputs", "steps")
STEP_KEYS = ("name", "module", "args", "kwargs", "header")

MAX_TEXT = 2_000
"""The longest ``inputs``, ``outputs`` or ``header`` string, in characters."""
MAX_NAME = 200
"""The longest step ``name`` or ``module`` string, in characters."""
MAX_SHOWN = 12
"""How many problems a :class:`ConfigError` message lists (each at most 800 characters,
so a message stays under 10 KB); ``problems`` holds them all."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what reading and checking a config may cost.

    Args:
        max_bytes: The largest config file read, in bytes (default 1 MiB).
        max_depth: The deepest nesting of lists and mappings (default 32).
        max_nodes: The most values (scalars, lists and mappings, keys included) after YAML
            aliases are expanded (default 50,000).

    Example:
        >>> from graphseq.config import Limits
        >>> Limits()
        Limits(max_bytes=1048576, max_depth=32, max_nodes=50000)
        >>> Limits(max_bytes=10 * 2**20).max_bytes
        10485760
    """

    max_bytes: int = 1 << 20
    max_depth: int = 32
    max_nodes: int = 50_000

    def __post_init__(self) -> None:
        for field in ("max_bytes", "max_depth", "max_nodes"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{field} must be a positive int (got {value!r})")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (``steps[2] ('conv2').kwargs``) and what."""

    where: str
    message: str
    header: str | None = None
    step: int | None = None  # the index of the step at fault, if any

    def __str__(self) -> str:
        text = f"{cut(self.where, 160)}: {cut(self.message, 400)}"
        if self.header is not None:
            text += f"\n    header: {cut(self.header, 200)}"
        return text


class ConfigError(ValueError):
    """A config that cannot be read or built; ``problems`` lists every fault found.

    The message lists the first 12 problems, each cut short, so it stays under 10 KB.

    Args:
        problems: Every fault found, in order; kept whole as ``problems``.

    Example:
        >>> from graphseq import from_config
        >>> from_config({'inputs': 'x', 'steps': [{'name': 'lin', 'module': 'Linear',
        ...                                        'arg': [4]}]})
        Traceback (most recent call last):
          ...
        graphseq.config.ConfigError: config: steps[0] ('lin').arg: unknown key. Did you mean 'args'?
    """

    __module__ = "graphseq.config"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """The message's lines: the first problems, then how many more there are.

        Returns:
            One line per problem shown (at most 12), then ``... and N more problems`` if any
            were left out.
        """
        shown = [str(p) for p in self.problems[:MAX_SHOWN]]
        hidden = len(self.problems) - MAX_SHOWN
        if hidden > 0:
            shown.append(f"... and {hidden} more problem{'s' if hidden > 1 else ''}")
        return shown


@dataclass
class StepConfig:
    """One well-formed step of a config: what the normal form writes for it.

    ``index`` is its position; ``header`` is ``None`` when none was written.
    """

    index: int
    name: str
    module: str
    args: list[Any]
    kwargs: dict[str, Any]
    header: str | None

    @property
    def where(self) -> str:
        """Where the step is in the config, as messages show it: ``steps[2] ('conv2')``."""
        return f"steps[{self.index}] ({show(self.name)})"


@dataclass
class Config:
    """A config whose schema is right; its modules are not made yet."""

    label: str
    inputs: InputArgs | None
    outputs: str | tuple[str, ...] | None  # as written: the text, or the checked names
    steps: list[StepConfig]


# Showing values ------------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlong = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def cut(text: str, limit: int = 200) -> str:
    """``text``, cut to ``limit`` characters with ``...`` at the end.

    Args:
        text: The text to shorten.
        limit: The most characters returned, ``...`` included.

    Returns:
        ``text`` itself if it fits, else its start followed by ``...``.

    Example:
        >>> from graphseq.config.records import cut
        >>> cut('abcdefghij', 8)
        'abcde...'
    """
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def show(value: Any, limit: int = 60) -> str:
    """A short repr of ``value`` for messages: nested and long values are cut with ``...``.

    Args:
        value: Any value; one whose ``repr`` raises is shown by its type, ``<Name>``.
        limit: About how long the result may be (at most ``limit + 20`` characters).

    Returns:
        The repr on one line, with runs of whitespace made single spaces.

    Example:
        >>> from graphseq.config.records import show
        >>> show([[1, 2, 3, 4, 5, 6, 7, 8]] * 9)
        '[[1, 2, 3, 4, 5, 6, ...], [1, 2, 3, 4, 5, 6, ...], [1, 2, 3, 4, 5, 6, ...], [...'
    """
    try:
        text = _repr.repr(value)
    except Exception:  # a hostile __repr__: name the type only
        text = f"<{type(value).__name__}>"
    return cut(" ".join(text.split()), limit + 20)


def kind(value: Any) -> str:
    """``null``, or the type and a short repr: ``int 3``, ``list [1, 2]``."""
    return "null" if value is None else f"{type(value).__name__} {show(value, 40)}"
