"""Grammar of headers (``'x, edge_index -> x1'``) and input args (``'x: Tensor, batch'``).

Strings become small immutable records. :mod:`graphseq._reading` reads the text with Python's
``ast`` and ``tokenize``; only names, packed lists/tuples of names, keywords, type expressions
and literal defaults are accepted, so nothing a user writes can ever become code. This module
knows nothing of torch.
"""

from __future__ import annotations

import ast
import keyword
import math
import tokenize
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal, NoReturn

from . import _reading as reading
from ._errors import HeaderError, Location

RESERVED = frozenset({"self"})

Pack = Literal["", "list", "tuple"]
Span = tuple[int, int]
"""Where something stands in the text it was read from: ``(start, end)``."""

DISCARD = "_"
"""The throwaway name: a header may write it many times; a read means its last write."""

_CONSTANTS = {"None": None, "True": True, "False": False}
_LITERAL_TYPES = (type(None), bool, int, float, complex, str, bytes)


@dataclass(frozen=True)
class Arg:
    """One argument in a header: ``x``, ``[x1, x2]``, ``(x1, x2)``, a literal such as
    ``None`` or ``0.5``, or a keyword ``kw=x`` / ``kw=[a, b]`` / ``kw=None``.

    Attributes:
        names: The value names it reads (none for a literal).
        pack: ``"list"`` or ``"tuple"`` for a packed argument, else ``""``.
        keyword: The keyword, or ``None`` for a positional argument.
        literal: A literal's Python source (``None``, ``0.5``, ``'sum'``), else ``None``.
        value: The literal's value.
        spans: Where each name stands in the header it was read from (empty if implied).
    """

    names: tuple[str, ...]
    pack: Pack = ""
    keyword: str | None = None
    literal: str | None = None
    value: Any = field(default=None, compare=False)
    spans: tuple[Span, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        if self.literal is not None:
            value = self.literal
        elif self.pack == "list":
            value = f"[{', '.join(self.names)}]"
        elif self.pack == "tuple":
            inner = ", ".join(self.names)
            value = f"({inner},)" if len(self.names) == 1 else f"({inner})"
        else:
            value = self.names[0]
        return f"{self.keyword}={value}" if self.keyword else value


@dataclass(frozen=True)
class Header:
    """A parsed function header ``ARGS -> OUTS``.

    Attributes:
        args: The arguments, in order.
        outs: The names written, in order (``_`` may stand more than once).
        out_spans: Where each output stands in the header text (empty if implied).
    """

    args: tuple[Arg, ...]
    outs: tuple[str, ...]
    out_spans: tuple[Span, ...] = field(default=(), compare=False)

    def __hash__(self) -> int:  # headers are cache keys: hash once
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.args, self.outs))

    @cached_property
    def reads(self) -> tuple[str, ...]:
        """The names this header reads, each once, in order of first use."""
        return tuple(dict.fromkeys(n for arg in self.args for n in arg.names))

    @cached_property
    def positional(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.keyword is None)

    @cached_property
    def keywords(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.keyword is not None)

    def __str__(self) -> str:
        return f"{', '.join(map(str, self.args))} -> {', '.join(self.outs)}"

    def read_span(self, name: str) -> Span | None:
        """Where ``name`` is first read in the header text; ``None`` if not known.

        Args:
            name: A value name the header reads.

        Returns:
            Its span, from the parsed records (never searched for in text).

        Example:
            >>> parse_header('x1, [ｘ, x] -> y').read_span('x')
            (5, 6)
        """
        for arg in self.args:
            if name in arg.names and len(arg.spans) == len(arg.names):
                return arg.spans[arg.names.index(name)]
        return None

    @classmethod
    @lru_cache(maxsize=1024)
    def passthrough(cls, names: tuple[str, ...]) -> Header:
        """The implied header of a headerless step: read ``names`` and rebind them.

        Its spans are where each name stands in ``str(header)``, the text shown for it.
        """
        spans = _joined_spans(names)
        right = len(", ".join(names)) + 4
        return cls(tuple(Arg((n,), spans=(span,)) for n, span in zip(names, spans, strict=True)),
                   names, tuple((a + right, b + right) for a, b in spans))


def _joined_spans(parts: Sequence[str], sep: str = ", ") -> tuple[Span, ...]:
    """Where each of ``parts`` stands in ``sep.join(parts)``."""
    spans = []
    at = 0
    for part in parts:
        spans.append((at, at + len(part)))
        at += len(part) + len(sep)
    return tuple(spans)


class Names(tuple[str, ...]):
    """Value names (a model's outputs, a submodel's inputs), with the text they were read
    from and each one's span in it: a tuple of str everywhere else.

    Example:
        >>> names = parse_outputs('a,   zz')
        >>> names, names.text, names.spans
        (('a', 'zz'), 'a,   zz', ((0, 1), (5, 7)))
    """

    text: str
    spans: tuple[Span, ...]

    def __new__(cls, names: Iterable[str], text: str | None = None,
                spans: tuple[Span, ...] = ()) -> Names:
        made = super().__new__(cls, names)
        made.text = ", ".join(made) if text is None else text
        made.spans = spans if text is not None else _joined_spans(made)
        return made


@dataclass(frozen=True)
class InputArg:
    """One model input: a name, an optional type text and an optional literal default.

    Attributes:
        name: The input's name.
        type_repr: Its type as written (on one line), or ``None``.
        default: Its default value.
        has_default: Whether it has a default.
        span: Where the input stands in the input args text (``None``: made from records).
        type_span: Where its type stands in that text.
    """

    name: str
    type_repr: str | None = None
    default: Any = None
    has_default: bool = False
    span: Span | None = field(default=None, compare=False)
    type_span: Span | None = field(default=None, compare=False)

    def __str__(self) -> str:
        text = self.name if self.type_repr is None else f"{self.name}: {self.type_repr}"
        if self.has_default:
            text += f" = {self.default!r}"
        return text


@dataclass(frozen=True)
class InputArgs:
    """Parsed model input args, with the optional return annotation after ``->``.

    Attributes:
        args: The inputs, in order.
        return_repr: The return type as written, or ``None``.
        text: The input args as the user wrote them (``None``: made from records).
        return_span: Where the return type stands in ``text``.
    """

    args: tuple[InputArg, ...]
    return_repr: str | None = None
    text: str | None = field(default=None, compare=False)
    return_span: Span | None = field(default=None, compare=False)

    def __hash__(self) -> int:  # input args are cache keys: hash once
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.args, self.return_repr))

    @property
    def names(self) -> tuple[str, ...]:
        """The input names, in order."""
        return tuple(a.name for a in self.args)

    def __str__(self) -> str:
        text = ", ".join(map(str, self.args))
        return text if self.return_repr is None else f"{text} -> {self.return_repr}"

    def shown(self, index: int | None) -> tuple[str, Span | None]:
        """The text a message shows, and where input ``index``'s type (or, for ``None``, the
        return type) stands in it: the user's own text where these records were read from
        one, else the records written out.

        Args:
            index: An input's position, or ``None`` for the return type.

        Returns:
            The text and the span (``None`` where that part was not written).

        Example:
            >>> parse_input_args('x,   k:  Foo').shown(1)
            ('x,   k:  Foo', (9, 12))
        """
        if self.text is not None:
            return self.text, self.return_span if index is None else self.args[index].type_span
        parts = [str(a) for a in self.args]
        text = str(self)
        if index is None:
            return text, None if self.return_repr is None else (
                len(text) - len(self.return_repr), len(text))
        arg = self.args[index]
        if arg.type_repr is None:
            return text, None
        start = _joined_spans(parts)[index][0] + len(arg.name) + 2
        return text, (start, start + len(arg.type_repr))


def split(content: str, sep: str) -> list[str]:
    """PyG's ``torch_geometric.inspector.split``, kept for drop-in compatibility.

    Splits ``content`` on the one-character ``sep``, ignoring it inside ``()`` and ``[]``;
    parts are stripped, and a trailing ``sep`` adds no empty part. graphseq's own grammar does
    not use it: Python's tokenizer reads headers and input args.

    Args:
        content: The text to split.
        sep: A one-character separator.

    Returns:
        The stripped parts.

    Raises:
        ValueError: ``sep`` is not one character.

    Example:
        >>> split('x, Tuple[Tensor, Tensor], y', ',')
        ['x', 'Tuple[Tensor, Tensor]', 'y']
    """
    if len(sep) != 1:
        raise ValueError(f"split() expects a one-character separator (got {sep!r})")
    parts = []
    start = depth = 0
    for end, char in enumerate(content):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(content[start:end].strip())
            start = end + 1
    if start != len(content):
        parts.append(content[start:].strip())
    return parts


def _sentence(reason: str, span: tuple[int, int] | None = None) -> HeaderError:
    """An error whose reason is a whole sentence (``Input ...``, ``Type ...``): no prefix."""
    return HeaderError(reason, span=span, where="")


def fold(name: str) -> str:
    """``name`` as Python reads an identifier: NFKC-normalised (``ｘ`` is ``x``).

    The one home of this folding: value names, type names and step names all use it.

    Args:
        name: A name as written.

    Returns:
        Its NFKC form (ASCII text is returned as it is).

    Example:
        >>> fold('ｘ1'), fold('Ｔensor')
        ('x1', 'Tensor')
    """
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def check_name(name: str, span: tuple[int, int] | None = None) -> str:
    """``name`` as Python reads it (NFKC-normalised) if it is a usable value name.

    Python folds ``ｘ`` and ``x`` into one identifier, so graphseq does too.

    Args:
        name: A value name as written.
        span: Where it stands in the text being parsed, for the caret of an error.

    Returns:
        The NFKC-normalised name.

    Raises:
        HeaderError: ``name`` is a Python keyword, not an identifier, or ``self``.

    Example:
        >>> check_name('ｘ1')
        'x1'
    """
    name = fold(name)
    if keyword.iskeyword(name):
        raise HeaderError(f"uses {name!r}, a Python keyword, as a name.", span=span)
    if not name.isidentifier():
        raise HeaderError(f"has {name!r}, which is not a valid name.", span=span)
    if name in RESERVED:
        raise HeaderError(f"uses {name!r}, which is reserved for the model itself.", span=span)
    return name


_KINDS = {
    ast.Attribute: "an attribute access",
    ast.Call: "a call",
    ast.Subscript: "a subscript",
    ast.Constant: "a literal",
    ast.Starred: "a * unpacking",
    ast.Lambda: "a lambda",
    ast.NamedExpr: "an assignment",
    ast.BinOp: "an operation",
    ast.UnaryOp: "an operation",
    ast.BoolOp: "an operation",
    ast.Compare: "a comparison",
    ast.Dict: "a dict",
    ast.Set: "a set",
}


def _kind(node: ast.AST) -> str:
    return _KINDS.get(type(node), "an expression")


# Items that Python could not read --------------------------------------------------------------


def _check_words(item: str, start: int) -> None:
    """Raise :func:`check_name`'s error for the first name-like word of ``item`` that is bad.

    A word is what stands between the commas of ``item``, after a ``keyword=`` and inside
    its outer brackets; a word holding brackets or ``=`` is left to the syntax error.
    """
    tokens = reading.tokens(item)
    for i, (kind, string, _, _) in enumerate(tokens):
        if kind == tokenize.OP and "=" in string:
            tokens = tokens[i + 1 :]
            break
    if len(tokens) > 1 and tokens[0][1] in ("(", "[") and tokens[-1][1] in (")", "]"):
        tokens = tokens[1:-1]
    words: list[list[reading.Token]] = [[]]
    depth = 0
    for token in tokens:
        kind, string = token[:2]
        depth += kind == tokenize.OP and string in "([{"
        depth -= kind == tokenize.OP and string in ")]}"
        if kind == tokenize.OP and string == "," and depth == 0:
            words.append([])
        else:
            words[-1].append(token)
    for word in words:
        if not word:
            continue
        a, b = word[0][2], word[-1][3]
        text = item[a:b]
        bad = (keyword.iskeyword(text) and text not in _CONSTANTS) or not text.isidentifier()
        if bad and not any(_punctuated(token) for token in word):
            check_name(text, (start + a, start + b))


def _shifted(error: HeaderError, by: int) -> HeaderError:
    span = None if error.span is None else (error.span[0] + by, error.span[1] + by)
    return HeaderError(error.reason, span=span, hint=error.hint)


# Headers ---------------------------------------------------------------------------------------


Locate = Callable[[ast.AST], Span]
"""Where an ast node of a header's argument side stands in that text."""


def _literal_arg(node: ast.expr) -> Arg | None:
    """``node`` as a literal argument, read by ``ast.literal_eval``'s rules; ``None`` if it
    is not one (or is a container, which would read as a pack)."""
    if not isinstance(node, ast.Constant | ast.UnaryOp | ast.BinOp):
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if type(value) not in _LITERAL_TYPES or value != value:  # noqa: PLR0124  (NaN)
        return None
    return Arg((), literal=literal_source(value), value=value)


def literal_source(value: Any) -> str:
    """Python source that reads back as ``value`` (a header's literal), by literal rules.

    It uses no name (a value may be called ``float``), so it is safe in generated code.

    Args:
        value: ``None``, a bool, a number (not NaN), a str or bytes.

    Returns:
        Its ``repr``; an infinity, whose ``repr`` is not source, as ``1e999``.

    Example:
        >>> literal_source(0.5), literal_source(float('-inf')), literal_source('sum')
        ('0.5', '-1e999', "'sum'")
    """
    if isinstance(value, float) and math.isinf(value):
        return "-1e999" if value < 0 else "1e999"
    if isinstance(value, complex) and not (math.isfinite(value.real) and
                                           math.isfinite(value.imag)):
        sign = "-" if value.imag < 0 else "+"
        return f"({literal_source(value.real)} {sign} {literal_source(abs(value.imag))}j)"
    return repr(value)


def _arg(node: reading.Node, item: str, span: Span, locate: Locate) -> Arg:
    """One header argument from its ast node (``item`` is its text, at ``span``)."""
    if isinstance(node, ast.Name):
        return Arg((check_name(node.id, span),), spans=(span,))
    if isinstance(node, ast.keyword):
        if node.arg is None:
            raise HeaderError("uses ** unpacking, which is not supported.", span=span)
        check_name(node.arg, span)
        literal = _literal_arg(node.value)
        if literal is not None:
            return Arg((), keyword=node.arg, literal=literal.literal, value=literal.value)
        names, pack, spans = _value(node.value, item, span, locate)
        return Arg(names, pack, node.arg, spans=spans)
    literal = _literal_arg(node)
    if literal is not None:
        return literal
    names, pack, spans = _value(node, item, span, locate)
    return Arg(names, pack, spans=spans)


def _value(
    node: ast.expr, item: str, span: Span, locate: Locate
) -> tuple[tuple[str, ...], Pack, tuple[Span, ...]]:
    if isinstance(node, ast.Name):
        at = locate(node)
        return (check_name(node.id, at),), "", (at,)
    if isinstance(node, ast.List | ast.Tuple):
        pack: Pack = "list" if isinstance(node, ast.List) else "tuple"
        if not node.elts:
            raise HeaderError(f"packs an empty {pack}.", span=span)
        names = []
        spans = []
        for elt in node.elts:
            if not isinstance(elt, ast.Name):
                raise HeaderError(
                    f"packs {_kind(elt)} into a {pack}; only names can be packed.", span=span
                )
            spans.append(locate(elt))
            names.append(check_name(elt.id, spans[-1]))
        return tuple(names), pack, tuple(spans)
    raise HeaderError(
        f"has {item!r}, which is {_kind(node)}; expected a name, a packed [list] or (tuple) "
        "of names, a literal such as None or 0.5, or a keyword such as edge_weight=w.",
        span=span,
    )


def _check_keywords(args: tuple[Arg, ...], spans: list[Span]) -> None:
    """Keywords come after the positional arguments, each once."""
    seen: set[str] = set()
    for arg, span in zip(args, spans, strict=True):
        if arg.keyword is None and seen:
            raise HeaderError("has a positional argument after a keyword.", span=span)
        if arg.keyword is not None:
            if arg.keyword in seen:
                raise HeaderError(f"passes keyword {arg.keyword!r} twice.", span=span)
            seen.add(arg.keyword)


def _name_arg(name: str, span: Span) -> Arg:
    """A plain argument: a name, or ``None``/``True``/``False``."""
    if name in _CONSTANTS:
        return Arg((), literal=name, value=_CONSTANTS[name])
    return Arg((check_name(name, span),), spans=(span,))


def _header_args(left: str) -> tuple[Arg, ...]:
    plain = reading.plain_names(left)
    if plain is not None:  # the common case: names only
        return tuple(_name_arg(name, (a, b)) for name, a, b in plain)
    items = reading.call_args(left)
    if items is None:
        _diagnose_args(left)
    locate = reading.locator(left)
    args = tuple(_arg(node, left[a:b], (a, b), locate) for node, a, b in items)
    _check_keywords(args, [(a, b) for _, a, b in items])
    return args


def _diagnose_args(left: str) -> NoReturn:
    """Raise the error in a header's argument side that Python could not read."""
    items = reading.token_items(left)
    args = []
    for item, a, b in items:
        if item.isidentifier():
            args.append(_name_arg(item, (a, b)))
            continue
        try:
            one = reading.call_args(item)
        except HeaderError as error:
            raise _shifted(error, a) from None
        if one is None or len(one) != 1:
            _check_words(item, a)
            raise HeaderError(f"has {item!r}, which is not valid syntax.", span=(a, b))
        locate = reading.locator(item, a)
        args.append(_arg(one[0][0], item, (a, b), locate))
    _check_keywords(tuple(args), [(a, b) for _, a, b in items])
    start = len(left) - len(left.lstrip())
    raise HeaderError(
        f"has {left.strip()!r}, which is not valid syntax.",
        span=(start, start + len(left.strip())),
    )


def _outs(text: str, base: int, plain_only: bool) -> Iterator[tuple[str, int, int]]:
    """Output names with their spans (shifted by ``base``), each checked by :func:`check_name`.

    With ``plain_only`` (a header's outputs), an item with brackets or ``=`` (a pack, a
    keyword, a call) is refused as not a plain name; any other item that is not a name is an
    invalid name.
    """
    found = reading.plain_names(text)
    if found is None:
        try:
            items = reading.call_args(text, parens=False)
            if items is None:
                found = reading.token_items(text)
            else:
                found = [(text[a:b], a, b) for _, a, b in items]
        except HeaderError as error:
            raise _shifted(error, base) from None
    for item, a, b in found:
        span = (base + a, base + b)
        if plain_only and not item.isidentifier() and any(map(_punctuated, reading.tokens(item))):
            raise HeaderError(
                f"has {item!r} among its outputs; outputs are plain names.", span=span
            )
        yield check_name(item, span), *span


def _punctuated(token: reading.Token) -> bool:
    """Whether ``token`` is an operator with a bracket or ``=`` in it (``[``, ``==``, ``:=``)."""
    return token[0] == tokenize.OP and any(c in token[1] for c in "()[]=")


@lru_cache(maxsize=4096)
def parse_header(text: str) -> Header:
    """Parse ``'x, edge_index, edge_weight=w -> x1'`` into a :class:`Header`.

    >>> str(parse_header('[x1, x2], batch=b -> out'))
    '[x1, x2], batch=b -> out'

    Args:
        text: A step's header.

    Returns:
        Its arguments (names, packs and keywords) and its outputs.

    Raises:
        HeaderError: ``text`` is not a valid header; the message points at the fault.
    """
    arrows = _arrows(text) if "->" in text else []
    if len(arrows) != 1:
        if not arrows:
            hidden = text.find("->")  # in a comment or a string, where it is no arrow
            raise HeaderError(
                "has no '->' between its inputs and its outputs.", text=text,
                span=None if hidden < 0 else (hidden, hidden + 2),
                hint=None if hidden < 0 else "this '->' stands in a comment or a string.",
                where="Header",
            )
        second = arrows[1]
        raise HeaderError(
            "has '->' more than once.", text=text, span=(second, second + 2), where="Header"
        )
    cut = arrows[0]
    left, right = text[:cut], text[cut + 2 :]
    try:
        if not left.strip():
            raise HeaderError("has no inputs before '->'.", span=(0, len(left) + 2))
        if not right.strip():
            raise HeaderError("has no outputs after '->'.", span=(len(left), len(text)))
        args = _header_args(left)
        outs: list[str] = []
        spans: list[Span] = []
        for name, a, b in _outs(right, len(left) + 2, plain_only=True):
            if name in outs and name != DISCARD:
                raise HeaderError(
                    f"writes {name!r} twice.", span=(a, b),
                    hint=f"only {DISCARD!r} may be written more than once (a value thrown away).",
                )
            outs.append(name)
            spans.append((a, b))
    except HeaderError as error:
        raise HeaderError(error.reason, text, error.span, error.hint, "Header") from None
    return Header(args, tuple(outs), tuple(spans))


# Outputs ---------------------------------------------------------------------------------------

_ONCE = {"outputs": "returned once", "inputs": "given once"}


@lru_cache(maxsize=1024)
def parse_outputs(text: str, part: Literal["outputs", "inputs"] = "outputs") -> Names:
    """Parse a model's outputs, a comma-separated list of value names: ``'x1, x'``.

    The same grammar reads the value names a submodel starts from (``part="inputs"``).

    Args:
        text: The outputs as written.
        part: What the names are, for messages and the error's location.

    Returns:
        The names, in order, with ``text`` and each name's span in it.

    Raises:
        HeaderError: The text is empty, holds an arrow, a name twice, or something that is
            not a name. Its location is ``Location(part)``.

    Example:
        >>> parse_outputs('x1, x')
        ('x1', 'x')
    """
    at = Location(part)
    label = part.capitalize()
    arrow = text.find("->")
    if arrow >= 0:
        raise HeaderError(
            f"{label} {text!r} hold '->': {part} are a list of value names such as 'y, z', "
            "not a header.",
            text=text,
            span=(arrow, arrow + 2),
            location=at,
        )
    if not text.strip():
        raise HeaderError(f"{label} are empty: name at least one value.", text=text, location=at)
    try:
        items = list(_outs(text, 0, plain_only=False))
    except HeaderError as error:
        raise HeaderError(
            f"{label} {text!r} are not a list of names: {error.reason}",
            text=text,
            span=error.span,
            location=at,
        ) from None
    _check_once([name for name, _, _ in items], text, [(a, b) for _, a, b in items], part)
    return Names([name for name, _, _ in items], text, tuple((a, b) for _, a, b in items))


def names_of_list(items: Sequence[str], part: Literal["outputs", "inputs"] = "outputs") -> Names:
    """A model's outputs (or a submodel's inputs) given as a list: each item one name.

    Args:
        items: The names as written, such as ``['x1', 'x']``.
        part: What the names are, for messages and the error's location.

    Returns:
        The names; their text is the list's items joined by ``', '``.

    Raises:
        HeaderError: An item is not one value name (``'a, b'`` is two), or a name is given
            twice. Its location is ``Location(part)``.

    Example:
        >>> names_of_list(['x1', 'ｘ']).text
        'x1, ｘ'
    """
    text = ", ".join(items)
    spans = _joined_spans(items)
    names = []
    for item, span in zip(items, spans, strict=True):
        try:
            names.append(check_name(item.strip()))
        except HeaderError:
            parts = [p.strip() for p in item.split(",")] if "," in item else []
            hint = f"write one item per name, such as {parts!r}." if parts else None
            raise HeaderError(
                f"{part.capitalize()} list item {item!r} is not a value name; each item of "
                "the list is one name.",
                text=text, span=span, hint=hint, location=Location(part),
            ) from None
    if not names:
        raise HeaderError(f"{part.capitalize()} are empty: name at least one value.",
                          location=Location(part))
    _check_once(names, text, list(spans), part)
    return Names(names, text, spans)


def _check_once(names: list[str], text: str, spans: list[Span],
                part: Literal["outputs", "inputs"]) -> None:
    """Raise if a name stands twice among ``names`` (read from ``text``)."""
    seen: set[str] = set()
    for i, (name, span) in enumerate(zip(names, spans, strict=True)):
        if name in seen:
            before = ", ".join(dict.fromkeys(names[:i]))
            raise HeaderError(
                f"{part.capitalize()} name {name!r} twice; each value is {_ONCE[part]}.",
                text=text,
                span=span,
                hint=f"write each {part[:-1]} once, such as {before!r}.",
                location=Location(part),
            )
        seen.add(name)


# Input args ------------------------------------------------------------------------------------


def _arrows(text: str) -> list[int]:
    """Where ``->`` stands in ``text`` as an operator (not inside a string or a comment)."""
    if "'" not in text and '"' not in text and "#" not in text:  # no strings: str.find is exact
        found = [text.find("->")]
        while found[-1] >= 0:
            found.append(text.find("->", found[-1] + 2))
        return found[:-1]
    tokens = reading.tokens(text)
    return [a for kind, string, a, _ in tokens if kind == tokenize.OP and string == "->"]


@lru_cache(maxsize=1024)
def parse_input_args(text: str) -> InputArgs:
    """Parse ``'x: Tensor, edge_weight: Optional[Tensor] = None -> Tensor'``.

    >>> parse_input_args('x, edge_weight: OptTensor = None').names
    ('x', 'edge_weight')

    Args:
        text: A model's input args, with optional types, literal defaults and return type.

    Returns:
        The inputs and the return annotation.

    Raises:
        HeaderError: ``text`` is not valid; the message points at the fault.
    """
    arrows = _arrows(text) if "->" in text else []
    if len(arrows) > 1:
        raise HeaderError(
            "Input args have '->' more than once.",
            text=text,
            span=(arrows[1], arrows[1] + 2),
            location=Location("inputs"),
        )
    cut = arrows[0] if arrows else len(text)
    left, right = text[:cut], text[cut + 2 :]
    try:
        if not left.strip():
            raise _sentence("Input args are empty: a model needs at least one input.")
        args = _input_args(left)
        return_repr = None
        return_span = None
        if arrows:
            return_repr = right.strip()
            if not return_repr:
                raise _sentence(
                    "Input args have '->' but no return type after it.",
                    span=(len(left), len(text)),
                )
            start = cut + 2 + right.index(return_repr)
            node = check_type(return_repr, start)
            return_span = (start, start + len(return_repr))
            return_repr = _one_line(return_repr, node)
    except HeaderError as error:  # a whole sentence keeps where="", a fragment gets a prefix
        where = "The input args text" if error.where is None else error.where
        raise HeaderError(
            error.reason, text, error.span, error.hint, where, Location("inputs")
        ) from None
    return InputArgs(args, return_repr, text, return_span)


def _input_args(left: str) -> tuple[InputArg, ...]:
    plain = reading.plain_names(left)
    args: Iterator[tuple[InputArg, int, int]]
    if plain is not None:  # the common case: untyped inputs without defaults
        args = ((InputArg(check_name(name, (a, b)), span=(a, b)), a, b) for name, a, b in plain)
    else:
        params = reading.def_params(left)
        if params is None:
            _diagnose_input_args(left)
        args = ((_input_arg(left, *param), param[2], param[3]) for param in params)
    found: list[InputArg] = []
    names: set[str] = set()
    for arg, a, b in args:
        _check_input(found, names, arg, (a, b))
        found.append(arg)
        names.add(arg.name)
    return tuple(found)


def _check_input(before: list[InputArg], names: set[str], arg: InputArg,
                 span: tuple[int, int]) -> None:
    """Each input is named once (``names``: those ``before``), and those with defaults
    come last."""
    if arg.name in names:
        raise _sentence(f"Input args name {arg.name!r} twice.", span=span)
    if before and before[-1].has_default and not arg.has_default:
        raise _sentence(
            f"Input {arg.name!r} has no default but follows one that has.", span=span
        )


def _input_arg(
    text: str,
    param: ast.arg,
    default: ast.expr | None,
    a: int,
    b: int,
    type_span: tuple[int, int] | None,
) -> InputArg:
    """One input from its ast parameter and default, at ``text[a:b]``."""
    name = check_name(param.arg, (a, b))
    type_repr = None
    if param.annotation is not None and type_span is not None:
        type_repr = text[type_span[0] : type_span[1]]
        type_repr = _one_line(type_repr, _check_type_node(param.annotation, type_repr, type_span))
    if default is not None:
        return InputArg(name, type_repr, _literal(default, (a, b)), True, (a, b), type_span)
    return InputArg(name, type_repr, span=(a, b), type_span=type_span)


def _diagnose_input_args(left: str) -> NoReturn:
    """Raise the error in input args that Python could not read as a ``def``'s parameters."""
    found: list[InputArg] = []
    names: set[str] = set()
    for item, a, b in reading.token_items(left):
        if item.isidentifier():
            arg = InputArg(check_name(item, (a, b)))
        else:
            try:
                params = reading.def_params(item)
                if params is not None and len(params) == 1:
                    arg = _input_arg(item, *params[0])
            except HeaderError as error:
                raise _shifted(error, a) from None
            if params is None or len(params) != 1:
                if reading.parse(f"def _({item}): pass", "exec") is not None:  # ``*x``, ``**x``
                    raise _sentence(f"Input {item!r} must be a plain name.", span=(a, b))
                _check_input_name(item, a)
                raise _sentence(f"Input {item!r} is not valid syntax.", span=(a, b))
        _check_input(found, names, arg, (a, b))
        found.append(arg)
        names.add(arg.name)
    start = len(left) - len(left.lstrip())
    raise _sentence(
        f"Input args {left.strip()!r} are not valid syntax.",
        span=(start, start + len(left.strip())),
    )


def _check_input_name(item: str, a: int) -> None:
    """Raise :func:`check_name`'s error if what stands before ``:`` or ``=`` is not a name."""
    tokens = reading.tokens(item)
    for i, (kind, string, _, _) in enumerate(tokens):
        if kind == tokenize.OP and (":" in string or "=" in string):
            tokens = tokens[:i]
            break
    if not tokens:
        check_name("", (a, a))
        return
    start, end = tokens[0][2], tokens[-1][3]
    check_name(item[start:end], (a + start, a + end))


def _literal(node: ast.expr, span: tuple[int, int]) -> Any:
    value = node.operand if isinstance(node, ast.UnaryOp) else node
    if isinstance(value, ast.Constant) and value.value is not Ellipsis and (
        not isinstance(node, ast.UnaryOp)
        or (isinstance(node.op, ast.USub | ast.UAdd) and type(value.value) in (int, float))
    ):
        return ast.literal_eval(node)
    raise _sentence(
        "Input default must be a literal (None, a number, a string or True/False).", span=span
    )


def _one_line(text: str, node: ast.expr) -> str:
    """A type as written, unless it spans lines or holds a comment: then its normal form.

    It goes into the one-line ``def`` of the generated source, whose line numbers must hold.
    """
    return text if text.isprintable() and "#" not in text else ast.unparse(node)


@lru_cache(maxsize=1024)
def check_type(text: str, start: int = 0) -> ast.expr:
    """Parse a type expression, allowing only names, dotted names, subscripts and ``|``.

    Args:
        text: The type as written, such as ``Optional[Tensor]``.
        start: Where ``text`` starts in the input args, for the caret of an error.

    Returns:
        The expression's ``ast`` node (never evaluated).

    Raises:
        HeaderError: ``text`` is not valid syntax, or holds a call, a literal, an operation
            other than ``|`` or a private attribute.

    Example:
        >>> type(check_type('Tensor | None')).__name__
        'BinOp'
    """
    span = (start, start + len(text))
    if text.isidentifier() and not keyword.iskeyword(fold(text)):
        return ast.Name(fold(text))  # ``Tensor``: what ast.parse gives (NFKC), without parsing
    tree = reading.parse(text.strip(), "eval")
    if not isinstance(tree, ast.Expression):
        raise _sentence(f"Type {text!r} is not valid syntax.", span=span)
    return _check_type_node(tree.body, text, span)


def _check_type_node(node: ast.expr, text: str, span: tuple[int, int]) -> ast.expr:
    """``node``, the type ``text``, if it holds only names, dotted names, subscripts and ``|``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
            raise _sentence(f"Type {text!r} reaches a private attribute.", span=span)
        if isinstance(sub, ast.Constant) and not (sub.value is None or sub.value is Ellipsis):
            raise _sentence(f"Type {text!r} contains a literal.", span=span)
        if isinstance(sub, ast.BinOp) and not isinstance(sub.op, ast.BitOr):
            raise _sentence(f"Type {text!r} contains an operation.", span=span)
        if not isinstance(sub, _TYPE_NODES):
            raise _sentence(f"Type {text!r} contains {_kind(sub)}.", span=span)
    return node


_TYPE_NODES = (
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.BinOp,
    ast.BitOr,
    ast.Load,
)
