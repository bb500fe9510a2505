"""Build-time errors: one sentence, the header with a caret under the fault, then a hint.

Every :class:`HeaderError` carries a structured :class:`Location` (inputs, outputs, the
module list, or one step and the field of it at fault), so that callers such as the config
loader map an error to its source without reading the message. :meth:`HeaderError._render`
is the one place the house style is written. :func:`closest` is the one suggester.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Part = Literal["inputs", "outputs", "modules", "step"]


@dataclass(frozen=True)
class Location:
    """Where a build error is: the inputs, the outputs, the module list, or one step.

    Args:
        part: ``"inputs"``, ``"outputs"``, ``"modules"`` (the list as a whole) or ``"step"``.
        index: The step's index (``part == "step"``).
        name: The step's name (``part == "step"``).
        field: The step's field at fault: ``"header"``, ``"name"`` or ``"module"``.

    Example:
        >>> Location("step", 2, "conv2", "header").label
        "step 2 ('conv2')"
    """

    part: Part
    index: int | None = None
    name: str | None = None
    field: str | None = None

    @property
    def label(self) -> str | None:
        """How a message names a step (``step 2 ('conv2')``); ``None`` for other parts."""
        if self.part != "step" or self.index is None:
            return None
        return step_label(self.index, self.name)


class HeaderError(ValueError):
    """A header, input-args string or module list that cannot be built.

    ``str(error)`` reads::

        step 2 ('conv2') reads 'x2', which is not defined yet.
            x2, edge_index -> x3
            ^^
          defined at this point: x, edge_index, x1. Did you mean 'x1'?

    Args:
        reason: What is wrong, one sentence.
        text: The text at fault (a header, the input args), shown under the sentence.
        span: ``(start, end)`` of the fault in ``text``, underlined with carets.
        hint: What would be right, shown last.
        where: A prefix for the sentence; by default the location's step label.
        location: Where the error is, as a record (see :class:`Location`).

    Example:
        >>> error = HeaderError("reads 'x2', which is not defined yet.",
        ...                     location=Location("step", 1, "conv2", "header"))
        >>> str(error)
        "step 1 ('conv2') reads 'x2', which is not defined yet."
    """

    def __init__(
        self,
        reason: str,
        text: str | None = None,
        span: tuple[int, int] | None = None,
        hint: str | None = None,
        where: str | None = None,
        location: Location | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.span = span
        self.hint = hint
        self.location = location
        self.where = where if where is not None else (location.label if location else None)
        super().__init__(self._render())

    def at(self, location: Location, where: str | None = None) -> HeaderError:
        """The same error at ``location`` (its label becomes the prefix unless ``where``).

        Args:
            location: Where the error happened.
            where: A prefix to use instead of the location's label.

        Returns:
            A new :class:`HeaderError`; ``self`` is unchanged.

        Example:
            >>> HeaderError("has no '->'.").at(Location("step", 0, "lin")).where
            "step 0 ('lin')"
        """
        prefix = where if where is not None else location.label
        return HeaderError(self.reason, self.text, self.span, self.hint, prefix, location)

    def _render(self) -> str:
        head = f"{self.where} {self.reason}" if self.where else self.reason
        if not (self.where and self.location is not None and self.location.part == "step"):
            head = head[:1].upper() + head[1:]  # a sentence; a step's label stays lower case
        lines = [head]
        if self.text is not None and self.text.strip():  # an empty text shows nothing
            lines.append(f"    {self.text.translate(_VISIBLE)}")
            if self.span is not None:
                start, end = self.span
                lines.append("    " + " " * start + "^" * max(1, end - start))
        if self.hint:
            lines.append(f"  {self.hint}")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[object, ...]:
        args = (self.reason, self.text, self.span, self.hint, self.where, self.location)
        return (type(self), args, dict(self.__dict__))


def step_label(index: int, name: object) -> str:
    """How every message names a step.

    Args:
        index: The step's index.
        name: The step's name.

    Returns:
        ``step 2 ('conv2')``.

    Example:
        >>> step_label(2, 'conv2')
        "step 2 ('conv2')"
    """
    return f"step {index} ({name!r})"


_VISIBLE = str.maketrans({"\n": "\u2424", "\r": "\u240d", "\t": "\u2409"})


# Suggestions -------------------------------------------------------------------------------


def closest(word: str, candidates: Iterable[str], limit: int = 1) -> list[str]:
    """The candidates nearest to ``word``, best first, at most ``limit`` of them.

    Nearness is the edit distance, ignoring case, relative to the longer word; a candidate
    more than half of ``word``'s length away (at least 1) is not near. Ties go to the same
    case, then the same length, then the more similar text, then the later candidate (the
    most recently defined name).

    Args:
        word: The word that was not found.
        candidates: The words it could have meant.
        limit: How many suggestions at most.

    Returns:
        The nearest candidates, best first; empty if none is near.

    Example:
        >>> closest('x2', ['x', 'edge_index', 'x1'])
        ['x1']
        >>> closest('relu', ['ReLU', 'ELU', 'GELU'], limit=2)
        ['ReLU', 'GELU']
    """
    folded = word.casefold()
    most = max(1, len(word) // 2)
    scored: list[tuple[tuple[float, int, int, float, int], str]] = []
    for order, candidate in enumerate(dict.fromkeys(candidates)):
        distance = _edit_distance(folded, candidate.casefold(), most)
        if distance > most:
            continue
        key = (
            distance / max(len(word), len(candidate), 1),
            _edit_distance(word, candidate, len(word) + len(candidate)),
            abs(len(candidate) - len(word)),
            -SequenceMatcher(None, word, candidate).ratio(),
            -order,
        )
        scored.append((key, candidate))
    scored.sort()
    return [candidate for _, candidate in scored[: max(0, limit)]]


def did_you_mean(word: str, candidates: Iterable[str], limit: int = 1) -> str:
    """The suggestion sentence for ``word``, to append to a message.

    Args:
        word: The word that was not found.
        candidates: The words it could have meant.
        limit: How many suggestions at most.

    Returns:
        ``""`` when nothing is near, else ``" Did you mean 'a'?"`` or
        ``" Did you mean 'a', 'b' or 'c'?"``.

    Example:
        >>> did_you_mean('GCNConf', ['GCNConv', 'GATConv', 'Linear'], limit=3)
        " Did you mean 'GCNConv' or 'GATConv'?"
        >>> did_you_mean('banana', ['x'])
        ''
    """
    found = [repr(c) for c in closest(word, candidates, limit)]
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"
    return f" Did you mean {listed}?"


def _edit_distance(a: str, b: str, most: int) -> int:
    """Levenshtein distance of ``a`` and ``b``; anything above ``most`` reads ``most + 1``."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > most:
            return most + 1
    return row[-1]
