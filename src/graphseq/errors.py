"""Build-time errors: one sentence, the header with a caret under the fault, then a hint."""

from __future__ import annotations


class HeaderError(ValueError):
    """A header, input-args string or module list that cannot be built.

    ``str(error)`` reads::

        step 2 ('conv2') reads 'x2', which is not defined yet.
            x2, edge_index -> x3
            ^^
          defined at this point: x, edge_index, x1. Did you mean 'x1'?
    """

    def __init__(
        self,
        reason: str,
        text: str | None = None,
        span: tuple[int, int] | None = None,
        hint: str | None = None,
        where: str | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.span = span
        self.hint = hint
        self.where = where
        super().__init__(self._render())

    def located(self, where: str) -> HeaderError:
        """The same error, prefixed with where it happened (``step 2 ('conv2')``)."""
        return HeaderError(self.reason, self.text, self.span, self.hint, where)

    def _render(self) -> str:
        head = f"{self.where} {self.reason}" if self.where else self.reason
        lines = [head[:1].upper() + head[1:] if not head.startswith("step") else head]
        if self.text is not None:
            lines.append(f"    {self.text.translate(_VISIBLE)}")
            if self.span is not None:
                start, end = self.span
                lines.append("    " + " " * start + "^" * max(1, end - start))
        if self.hint:
            lines.append(f"  {self.hint}")
        return "\n".join(lines)


def step_label(index: int, name: object) -> str:
    """How every message names a step: ``step 2 ('conv2')``."""
    return f"step {index} ({name!r})"


_VISIBLE = str.maketrans({"\n": "\u2424", "\r": "\u240d", "\t": "\u2409"})


def span_of(text: str, word: str, start: int = 0) -> tuple[int, int] | None:
    """Where ``word`` first stands in ``text`` as a whole word, from ``start``."""
    import re

    match = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", text[start:])
    if match is None:
        return None
    return start + match.start(), start + match.end()
