"""A griffe extension so that graphseq's docstrings read well in the API reference.

graphseq's docstrings are Google style, with reST habits here and there. Before mkdocstrings
parses a docstring this extension:

- reads an ``Example:`` heading as ``Examples:``, so its ``>>>`` lines render as code (griffe
  would treat ``Example:`` as an admonition of Markdown text);
- fences runs of ``>>>`` lines found outside an Examples section as ``pycon`` code;
- leaves out undocumented instance attributes that ``__init__`` copies from a parameter of
  the same name (``self.reason = reason``): the parameter is documented already;
- turns reST roles (``:class:`X```, ``:func:`f```, ``:meth:``, ...) into inline code and the
  reST literal-block marker ``::`` into ``:``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|obj|exc|py:\w+):`~?([^`]+)`")
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.M)
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")


def readable(text: str) -> str:
    """``text`` with the reST habits above turned into what mkdocstrings renders well."""
    text = _EXAMPLE.sub(r"\1Examples:", text)
    text = _ROLE.sub(r"`\1`", text)
    text = re.sub(r"(\S)::$", r"\1:", text, flags=re.M)
    out: list[str] = []
    in_examples = False
    in_run = False
    indent = ""
    for line in text.splitlines():
        stripped = line.strip()
        if _SECTION.match(line) and not line.startswith((" ", "\t")):
            in_examples = stripped == "Examples:"
        if in_run and not stripped:
            out.append(f"{indent}```")
            in_run = False
        if not in_examples and not in_run and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            in_run = True
        out.append(line)
    if in_run:
        out.append(f"{indent}```")
    return "\n".join(out)


class ReadableDocstrings(griffe.Extension):
    """Apply ``readable`` to every docstring before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = readable(obj.docstring.value)

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        for name, member in list(cls.members.items()):
            if (
                not member.is_alias
                and member.is_attribute
                and member.docstring is None
                and "instance-attribute" in member.labels
                and str(getattr(member, "value", "")) == name
            ):
                del cls.members[name]
