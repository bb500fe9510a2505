"""Reading text with Python's parser: which items it holds, and where each stands.

Text is read as Python reads it: a header's argument side and its outputs as a call's
arguments, input args as a ``def``'s parameters. Each item comes with its span in characters
(ast counts UTF-8 bytes per line). When Python cannot read the text, tokenize finds the
bracket, comma or item at fault. This module knows nothing of torch or of graphseq's records.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ._errors import HeaderError

__all__ = [
    "Item",
    "Node",
    "Param",
    "Token",
    "call_args",
    "def_params",
    "locator",
    "parse",
    "plain_names",
    "token_items",
    "tokens",
]

Node = ast.expr | ast.keyword
"""A call's argument: an expression, or a ``keyword=value``."""
Item = tuple[str, int, int]
"""An item's text, and its start and end in the text it came from."""
Token = tuple[int, str, int, int]
"""A token's type (a ``tokenize`` constant), its string, and its start and end in the text."""
Param = tuple[ast.arg, ast.expr | None, int, int, tuple[int, int] | None]
"""A parameter, its default, its start and end, and the span of its type."""
_N = TypeVar("_N", ast.expr | ast.keyword, ast.arg)

_NEWLINES = re.compile(r"\r\n?|\n")
_COMMENT = re.compile(r"#[^\r\n]*")
_BLANK = str.maketrans("", "", " \t\f\r\n\\")  # what may stand between items, and commas
_BLANK_OR_PARENS = str.maketrans("", "", " \t\f\r\n\\()")
_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")
_NOT_TOKENS = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                         tokenize.ENDMARKER})


def parse(source: str, mode: Literal["eval", "exec"]) -> ast.AST | None:
    """``ast.parse(source)``, or ``None`` where Python cannot read it.

    Args:
        source: Python source.
        mode: ``"eval"`` for an expression, ``"exec"`` for statements.

    Returns:
        The tree, or ``None`` for a syntax error, null bytes, surrogates or too deep nesting.

    Example:
        >>> parse('x +', 'eval') is None
        True
    """
    try:
        return ast.parse(source, mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # null bytes, surrogates
        return None


def _offsets(source: str, skip: int) -> Callable[[int, int], int]:
    """Map ast's ``(lineno, col_offset)`` in ``source`` to a character offset, less ``skip``.

    ``col_offset`` counts UTF-8 bytes within a line, and Python ends lines at ``\\r\\n``,
    ``\\r`` or ``\\n``; the text's own offsets count characters from its start.
    """
    if source.isascii() and "\n" not in source and "\r" not in source:
        return lambda line, col: col - skip
    starts = [0, *(m.end() for m in _NEWLINES.finditer(source))]

    def offset(line: int, col: int) -> int:
        start = starts[line - 1]
        return start + len(source[start : start + col].encode()[:col].decode()) - skip

    return offset


def _gap(text: str) -> str:
    """``text``, which lies between nodes (so outside strings), with comments blanked out."""
    return _COMMENT.sub(lambda m: " " * len(m.group()), text) if "#" in text else text


def _spans(
    text: str,
    nodes: list[tuple[_N, ast.AST]],
    at: Callable[[int, int], int],
    blank: dict[int, Any],
) -> list[tuple[_N, int, int]] | None:
    """Each ``(node, last)`` as ``(node, start, end)`` in ``text``, if only commas lie between.

    ``last`` is the node that ends the item (a parameter's default). ``None`` when there are
    no items, or something else lies between or around them, such as a parenthesis where
    ``blank`` does not allow one. Comments and line continuations may stand there, as in
    Python. A trailing comma raises the empty-item error.
    """
    items = []
    end = 0
    for i, (node, last) in enumerate(nodes):
        a = at(node.lineno, node.col_offset)
        b = at(last.end_lineno or 0, last.end_col_offset or 0)  # type: ignore[attr-defined]
        if a < end or b > len(text) or _gap(text[end:a]).translate(blank) != ("," if i else ""):
            return None
        items.append((node, a, b))
        end = b
    rest = _gap(text[end:])
    if items and rest.translate(blank) == ",":  # Python allows a trailing comma; we do not
        comma = end + rest.index(",")
        raise HeaderError("has an empty item.", span=(comma + 1, max(comma + 1, len(text) - 1) + 1))
    return items if items and not rest.translate(blank) else None


def call_args(text: str, parens: bool = True) -> list[tuple[Node, int, int]] | None:
    """The arguments of the call ``_(text)`` in order, with their spans in ``text``.

    Args:
        text: What stands between the call's parentheses.
        parens: Whether grouping parentheses may stand around an argument.

    Returns:
        Each argument's node, start and end; ``None`` where ``text`` is not just a call's
        arguments separated by commas.

    Raises:
        HeaderError: ``text`` ends with a comma ("has an empty item."), as Python allows.

    Example:
        >>> [(type(node).__name__, a, b) for node, a, b in call_args('x, w=[a, b]')]
        [('Name', 0, 1), ('keyword', 3, 11)]
    """
    end = "\n)" if "#" in text else ")"  # a comment at the end must not swallow the ``)``
    source = f"_({text}{end}"
    tree = parse(source, "eval")
    call = tree.body if isinstance(tree, ast.Expression) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        return None  # ``x)(y`` or ``x) + (y``: a ``)`` in text closed the call early
    at = _offsets(source, 2)
    if at(call.end_lineno or 0, call.end_col_offset or 0) != len(text) + len(end):
        return None  # a ``)`` in text closed the call early, before a comment
    nodes: list[Node] = sorted([*call.args, *call.keywords], key=lambda n: (n.lineno, n.col_offset))
    return _spans(text, [(n, n) for n in nodes], at, _BLANK_OR_PARENS if parens else _BLANK)


def locator(text: str, shift: int = 0) -> Callable[[ast.AST], tuple[int, int]]:
    """Where a node of :func:`call_args` ``(text)`` stands in ``text`` (plus ``shift``).

    Args:
        text: What :func:`call_args` read.
        shift: Added to each offset (where ``text`` starts in a longer text).

    Returns:
        A function from a node (an argument or a node inside one) to its start and end.

    Example:
        >>> (node, _, _), = call_args('[ｘ, y]')
        >>> locator('[ｘ, y]')(node.elts[1])
        (4, 5)
    """
    at = _offsets(f"_({text}{chr(10) if '#' in text else ''})", 2)

    def locate(node: ast.AST) -> tuple[int, int]:
        start = at(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = at(node.end_lineno or 0, node.end_col_offset or 0)  # type: ignore[attr-defined]
        return start + shift, end + shift

    return locate


def def_params(text: str) -> list[Param] | None:
    """The parameters of ``def _(text): pass`` with their spans in ``text``.

    Args:
        text: What stands between the ``def``'s parentheses.

    Returns:
        Each parameter as ``(param, default, start, end, span of its type)``; ``None`` where
        ``text`` is not just plain parameters separated by commas (``*``, ``/``, ``*args``
        and ``**kwargs`` give ``None`` too).

    Raises:
        HeaderError: ``text`` ends with a comma ("has an empty item."), as Python allows.

    Example:
        >>> [(p.arg, a, b, type_span) for p, _, a, b, type_span in def_params('x: T, k=2')]
        [('x', 0, 4, (3, 4)), ('k', 6, 9, None)]
    """
    end = "\n)" if "#" in text else ")"  # a comment at the end must not swallow the ``)``
    source = f"def _({text}{end}: pass"
    tree = parse(source, "exec")
    func = tree.body[0] if isinstance(tree, ast.Module) and len(tree.body) == 1 else None
    if not isinstance(func, ast.FunctionDef) or func.returns or len(func.body) != 1:
        return None
    params = func.args
    if params.posonlyargs or params.vararg or params.kwonlyargs or params.kwarg:
        return None
    at = _offsets(source, 6)
    body = func.body[0]
    if at(body.end_lineno or 0, body.end_col_offset or 0) != len(text) + len(end) + 6:
        return None  # a ``)`` in text closed the parameters early
    args = params.args
    defaults: list[ast.expr | None] = [None] * (len(args) - len(params.defaults))
    defaults += params.defaults
    items = _spans(text, [(p, d or p) for p, d in zip(args, defaults, strict=True)], at,
                   _BLANK_OR_PARENS)
    if items is None:
        return None
    found: list[Param] = []
    for (_, a, b), param, default in zip(items, args, defaults, strict=True):
        note = param.annotation
        span = None
        if note is not None:
            span = (at(note.lineno, note.col_offset),
                    at(note.end_lineno or 0, note.end_col_offset or 0))
        found.append((param, default, a, b, span))
    return found


def plain_names(text: str) -> list[Item] | None:
    """The fast path: ``text``'s comma-separated parts if every one is an identifier.

    Args:
        text: Names separated by commas.

    Returns:
        Each name with its start and end in ``text``; ``None`` where a part is not an
        identifier (keywords and names to normalise are left to the caller).

    Example:
        >>> plain_names(' x,edge_index ')
        [('x', 1, 2), ('edge_index', 3, 13)]
        >>> plain_names('x, [y]') is None
        True
    """
    parts = text.split(",")
    items = []
    at = 0
    for part in parts:
        name = part.strip()
        if not name.isidentifier():
            return None
        start = at + len(part) - len(part.lstrip())
        items.append((name, start, start + len(name)))
        at += len(part) + 1
    return items


def tokens(text: str) -> list[Token]:
    """``text``'s tokens, by Python's tokenize module, without line ends and indents.

    The text is read inside parentheses, as ast reads it, so lines do not indent. Reading
    stops early at a string that is never closed.

    Args:
        text: Any text.

    Returns:
        Each token's type, string, start and end in ``text``.

    Example:
        >>> [(string, a, b) for _, string, a, b in tokens('w=[a, b]')]
        [('w', 0, 1), ('=', 1, 2), ('[', 2, 3), ('a', 3, 4), (',', 4, 5), ('b', 6, 7), (']', 7, 8)]
    """
    source = f"({text}\n)"
    starts = [0, *(m.end() for m in re.finditer("\n", source))]
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _NOT_TOKENS or token.string.isspace():
                continue
            a = starts[token.start[0] - 1] + token.start[1] - 1
            b = starts[token.end[0] - 1] + token.end[1] - 1
            if 0 <= a and b <= len(text):
                found.append((token.type, token.string, a, b))
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def token_items(text: str) -> list[Item]:
    """The comma-separated items of ``text`` that Python could not read as a whole.

    Args:
        text: Items separated by commas outside brackets.

    Returns:
        Each item, stripped, with its start and end in ``text``.

    Raises:
        HeaderError: A bracket is never opened or never closed, or an item is empty.

    Example:
        >>> token_items('x, 1y, f(y, z)')
        [('x', 0, 1), ('1y', 3, 5), ('f(y, z)', 7, 14)]
        >>> try:
        ...     token_items('x, f(y, z')
        ... except HeaderError as error:
        ...     print(error.reason, error.span)
        has a bracket that is never closed. (4, 5)
    """
    opened: list[int] = []
    cuts = []
    for kind, string, a, _ in tokens(text):
        if kind != tokenize.OP:
            continue
        if string in _OPEN:
            opened.append(a)
        elif string in _CLOSE:
            if not opened:
                raise HeaderError("has a closing bracket that was never opened.", span=(a, a + 1))
            opened.pop()
        elif string == "," and not opened:
            cuts.append(a)
    if opened:
        raise HeaderError("has a bracket that is never closed.", span=(opened[-1], opened[-1] + 1))
    items = []
    for a, b in zip([0, *(c + 1 for c in cuts)], [*cuts, len(text)], strict=True):
        part = text[a:b]
        stripped = part.strip()
        if not stripped:
            raise HeaderError("has an empty item.", span=(a, max(a, b - 1) + 1))
        start = a + len(part) - len(part.lstrip())
        items.append((stripped, start, start + len(stripped)))
    return items
