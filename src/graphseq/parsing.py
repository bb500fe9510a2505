"""Grammar of headers (``'x, edge_index -> x1'``) and input args (``'x: Tensor, batch'``).

Strings become small immutable records. Python's ``ast`` does the tokenising; only names,
packed lists/tuples of names, keywords, type expressions and literal defaults are accepted,
so nothing a user writes can ever become code. This module knows nothing of torch.
"""

from __future__ import annotations

import ast
import keyword
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Literal

from .errors import HeaderError, Location, span_of

RESERVED = frozenset({"self"})

Pack = Literal["", "list", "tuple"]


@dataclass(frozen=True)
class Arg:
    """One argument in a header: ``x``, ``[x1, x2]``, ``(x1, x2)`` or ``kw=x`` / ``kw=[a, b]``."""

    names: tuple[str, ...]
    pack: Pack = ""
    keyword: str | None = None

    def __str__(self) -> str:
        if self.pack == "list":
            value = f"[{', '.join(self.names)}]"
        elif self.pack == "tuple":
            inner = ", ".join(self.names)
            value = f"({inner},)" if len(self.names) == 1 else f"({inner})"
        else:
            value = self.names[0]
        return f"{self.keyword}={value}" if self.keyword else value


@dataclass(frozen=True)
class Header:
    """A parsed function header ``ARGS -> OUTS``."""

    args: tuple[Arg, ...]
    outs: tuple[str, ...]

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

    @classmethod
    @lru_cache(maxsize=1024)
    def passthrough(cls, names: tuple[str, ...]) -> Header:
        """The implied header of a headerless step: read ``names`` and rebind them."""
        return cls(tuple(Arg((n,)) for n in names), names)


@dataclass(frozen=True)
class InputArg:
    """One model input: a name, an optional type text and an optional literal default."""

    name: str
    type_repr: str | None = None
    default: Any = None
    has_default: bool = False

    def __str__(self) -> str:
        text = self.name if self.type_repr is None else f"{self.name}: {self.type_repr}"
        if self.has_default:
            text += f" = {self.default!r}"
        return text


@dataclass(frozen=True)
class InputArgs:
    """Parsed model input args, with the optional return annotation after ``->``."""

    args: tuple[InputArg, ...]
    return_repr: str | None = None

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


def split(content: str, sep: str) -> list[str]:
    """Split ``content`` on the one-character ``sep``, ignoring it inside ``()`` and ``[]``.

    Parts are stripped; a trailing ``sep`` adds no empty part.

    >>> split('x, Tuple[Tensor, Tensor], y', ',')
    ['x', 'Tuple[Tensor, Tensor]', 'y']

    Args:
        content: The text to split.
        sep: A one-character separator.

    Returns:
        The stripped parts.

    Raises:
        ValueError: ``sep`` is not one character.
    """
    if len(sep) != 1:
        raise ValueError(f"split() expects a one-character separator (got {sep!r})")
    return [content[a:b].strip() for a, b in _split_spans(content, sep) if a != len(content)]


def _split_spans(content: str, sep: str) -> Iterator[tuple[int, int]]:
    """Spans of the parts of ``content`` between top-level ``sep`` characters."""
    start = depth = 0
    for end, char in enumerate(content):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == sep and depth == 0:
            yield start, end
            start = end + 1
    yield start, len(content)


def _code_chars(text: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` for the characters of ``text`` that are not inside a string literal."""
    quote = ""
    escaped = False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            yield i, char


def _items(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    """Comma-separated items of ``text`` as (stripped text, start, end), checking brackets.

    Commas and brackets inside string literals (a default such as ``'a, b'``) do not count.
    """
    depth = 0
    cuts = []
    for i, char in _code_chars(text):
        depth += char in "(["
        depth -= char in ")]"
        if depth < 0:
            raise HeaderError(
                "has a closing bracket that was never opened.", span=(offset + i, offset + i + 1)
            )
        if char == "," and depth == 0:
            cuts.append(i)
    if depth > 0:
        i = max(i for i, c in _code_chars(text) if c in "([")
        raise HeaderError("has a bracket that is never closed.", span=(offset + i, offset + i + 1))
    items = []
    for a, b in zip([0] + [c + 1 for c in cuts], cuts + [len(text)], strict=True):
        part = text[a:b]
        lead = len(part) - len(part.lstrip())
        stripped = part.strip()
        start = offset + a + lead
        if not stripped:
            raise HeaderError("has an empty item.", span=(offset + a, offset + max(a, b - 1) + 1))
        items.append((stripped, start, start + len(stripped)))
    return items


def _arrows(text: str) -> list[int]:
    """Where ``->`` stands in ``text``, outside string literals."""
    code = dict(_code_chars(text))
    return [i for i, c in code.items() if c == "-" and code.get(i + 1) == ">"]


def check_name(name: str, span: tuple[int, int] | None = None) -> str:
    """``name`` as Python reads it (NFKC-normalised) if it is a usable value name.

    Python folds ``ｘ`` and ``x`` into one identifier, so graphseq does too.
    """
    name = unicodedata.normalize("NFKC", name)
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


def _parse_arg(item: str, start: int) -> Arg:
    span = (start, start + len(item))
    if item.isidentifier():  # the common case, which ast would read as one Name
        return Arg((check_name(item, span),))
    try:
        call = ast.parse(f"_({item})", mode="eval").body
    except SyntaxError:
        inner = item.split("=", 1)[-1].strip() if "=" in item else item
        if inner[:1] in "[(" and inner[-1:] in "])":
            inner = inner[1:-1]
        for word in inner.split(","):
            word = word.strip()
            bad = keyword.iskeyword(word) or not word.isidentifier()
            if word and bad and not any(c in word for c in "()[]="):
                check_name(word, _shift(span_of(item, word), start))
        raise HeaderError(f"has {item!r}, which is not valid syntax.", span=span) from None
    assert isinstance(call, ast.Call)
    if len(call.args) + len(call.keywords) != 1:
        raise HeaderError(f"has {item!r}, which is not valid syntax.", span=span)
    if call.keywords:
        kw = call.keywords[0]
        if kw.arg is None:
            raise HeaderError("uses ** unpacking, which is not supported.", span=span)
        check_name(kw.arg, span)
        names, pack = _value(kw.value, item, start)
        return Arg(names, pack, kw.arg)
    names, pack = _value(call.args[0], item, start)
    return Arg(names, pack)


def _shift(span: tuple[int, int] | None, by: int) -> tuple[int, int] | None:
    return None if span is None else (span[0] + by, span[1] + by)


def _value(node: ast.expr, item: str, start: int) -> tuple[tuple[str, ...], Pack]:
    span = (start, start + len(item))
    if isinstance(node, ast.Name):
        return (check_name(node.id, span),), ""
    if isinstance(node, ast.List | ast.Tuple):
        pack: Pack = "list" if isinstance(node, ast.List) else "tuple"
        if not node.elts:
            raise HeaderError(f"packs an empty {pack}.", span=span)
        names = []
        for elt in node.elts:
            if not isinstance(elt, ast.Name):
                raise HeaderError(
                    f"packs {_kind(elt)} into a {pack}; only names can be packed.", span=span
                )
            names.append(check_name(elt.id, span))
        return tuple(names), pack
    raise HeaderError(
        f"has {item!r}, which is {_kind(node)}; expected a name, a packed [list] or (tuple) "
        "of names, or a keyword such as edge_weight=w.",
        span=span,
    )


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
    arrows = text.count("->")
    if arrows != 1:
        if arrows == 0:
            raise HeaderError(
                "has no '->' between its inputs and its outputs.", text=text, where="Header"
            )
        second = text.index("->", text.index("->") + 2)
        raise HeaderError(
            "has '->' more than once.", text=text, span=(second, second + 2), where="Header"
        )
    left, right = text.split("->")
    try:
        if not left.strip():
            raise HeaderError("has no inputs before '->'.", span=(0, len(left) + 2))
        if not right.strip():
            raise HeaderError("has no outputs after '->'.", span=(len(left), len(text)))
        args = tuple(_parse_arg(item, a) for item, a, _ in _items(left))
        seen_keyword = False
        keywords: set[str] = set()
        for arg, (_, a, b) in zip(args, _items(left), strict=True):
            if arg.keyword is None and seen_keyword:
                raise HeaderError("has a positional argument after a keyword.", span=(a, b))
            if arg.keyword is not None:
                if arg.keyword in keywords:
                    raise HeaderError(f"passes keyword {arg.keyword!r} twice.", span=(a, b))
                keywords.add(arg.keyword)
                seen_keyword = True
        base = len(left) + 2
        outs: list[str] = []
        for item, a, b in _items(right, base):
            if any(c in item for c in "[]()="):
                raise HeaderError(
                    f"has {item!r} among its outputs; outputs are plain names.", span=(a, b)
                )
            name = check_name(item, (a, b))
            if name in outs:
                raise HeaderError(f"writes {name!r} twice.", span=(a, b))
            outs.append(name)
    except HeaderError as error:
        raise HeaderError(error.reason, text, error.span, error.hint, "Header") from None
    return Header(args, tuple(outs))


# Outputs ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def parse_outputs(text: str) -> tuple[str, ...]:
    """Parse a model's outputs, a comma-separated list of value names: ``'x1, x'``.

    Args:
        text: The outputs as written.

    Returns:
        The names, in order.

    Raises:
        HeaderError: The text is empty, holds an arrow, a name twice, or something that is
            not a name. Its location is ``Location("outputs")``.

    Example:
        >>> parse_outputs('x1, x')
        ('x1', 'x')
    """
    at = Location("outputs")
    arrow = text.find("->")
    if arrow >= 0:
        raise HeaderError(
            f"Outputs {text!r} hold '->': outputs are a list of value names such as 'y, z', "
            "not a header.",
            text=text,
            span=(arrow, arrow + 2),
            location=at,
        )
    if not text.strip():
        raise HeaderError("Outputs are empty: name at least one value.", text=text, location=at)
    try:
        items = [(check_name(item, (a, b)), a, b) for item, a, b in _items(text)]
    except HeaderError as error:
        raise HeaderError(
            f"Outputs {text!r} are not a list of names: {error.reason}",
            text=text,
            span=error.span,
            location=at,
        ) from None
    names: list[str] = []
    for name, a, b in items:
        if name in names:
            raise HeaderError(
                f"Outputs name {name!r} twice; each value is returned once.",
                text=text,
                span=(a, b),
                hint=f"write each output once, such as {', '.join(dict.fromkeys(names))!r}.",
                location=at,
            )
        names.append(name)
    return tuple(names)


# Input args ------------------------------------------------------------------------------------


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
    arrows = _arrows(text)
    if len(arrows) > 1:
        raise HeaderError(
            "Input args have '->' more than once.",
            text=text,
            span=(arrows[1], arrows[1] + 2),
            location=Location("inputs"),
        )
    cut = arrows[0] if arrows else len(text)
    left, _, right = text[:cut], text[cut : cut + 2], text[cut + 2 :]
    try:
        if not left.strip():
            raise HeaderError("Input args are empty: a model needs at least one input.")
        args: list[InputArg] = []
        for item, a, b in _items(left):
            arg = _parse_input_arg(item, a)
            if arg.name in [x.name for x in args]:
                raise HeaderError(f"Input args name {arg.name!r} twice.", span=(a, b))
            if args and args[-1].has_default and not arg.has_default:
                raise HeaderError(
                    f"Input {arg.name!r} has no default but follows one that has.", span=(a, b)
                )
            args.append(arg)
        return_repr = None
        if _:
            return_repr = right.strip()
            if not return_repr:
                raise HeaderError(
                    "Input args have '->' but no return type after it.",
                    span=(len(left), len(text)),
                )
            node = check_type(return_repr, len(left) + 2 + right.index(return_repr))
            return_repr = _one_line(return_repr, node)
    except HeaderError as error:
        where = None if error.reason.startswith(("Input", "Type", "The")) else "Input args"
        raise HeaderError(
            error.reason, text, error.span, error.hint, where, Location("inputs")
        ) from None
    return InputArgs(tuple(args), return_repr)


def _parse_input_arg(item: str, start: int) -> InputArg:
    span = (start, start + len(item))
    if item.isidentifier():  # an untyped input without a default
        return InputArg(check_name(item, span))
    try:
        tree = ast.parse(f"def _({item}): pass")
    except SyntaxError:
        name = item.split(":")[0].split("=")[0].strip()
        check_name(name, _shift(span_of(item, name), start) or span)
        raise HeaderError(f"Input {item!r} is not valid syntax.", span=span) from None
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    params = func.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        raise HeaderError(f"Input {item!r} must be a plain name.", span=span)
    if len(params.args) != 1:
        raise HeaderError(f"Input {item!r} is not valid syntax.", span=span)
    param = params.args[0]
    name = check_name(param.arg, span)
    type_repr = None
    if param.annotation is not None:
        type_repr = ast.get_source_segment(f"def _({item}): pass", param.annotation)
        assert type_repr is not None
        type_repr = _one_line(type_repr, check_type(type_repr, start + item.index(":") + 1))
    if params.defaults:
        return InputArg(name, type_repr, _literal(params.defaults[0], item, start), True)
    return InputArg(name, type_repr)


def _literal(node: ast.expr, item: str, start: int) -> Any:
    value = node.operand if isinstance(node, ast.UnaryOp) else node
    if isinstance(value, ast.Constant) and (
        not isinstance(node, ast.UnaryOp)
        or (isinstance(node.op, ast.USub | ast.UAdd) and type(value.value) in (int, float))
    ):
        return ast.literal_eval(node)
    raise HeaderError(
        "Input default must be a literal (None, a number, a string or True/False).",
        span=(start, start + len(item)),
    )


def _one_line(text: str, node: ast.expr) -> str:
    """A type as written, unless it spans lines or holds a comment: then its normal form.

    It goes into the one-line ``def`` of the generated source, whose line numbers must hold.
    """
    return text if text.isprintable() and "#" not in text else ast.unparse(node)


@lru_cache(maxsize=1024)
def check_type(text: str, start: int = 0) -> ast.expr:
    """Parse a type expression, allowing only names, dotted names, subscripts and ``|``."""
    span = (start, start + len(text))
    if text.isidentifier() and not keyword.iskeyword(text):
        return ast.Name(text)  # ``Tensor``: what ast.parse would give, without parsing
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise HeaderError(f"Type {text!r} is not valid syntax.", span=span) from None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
            raise HeaderError(f"Type {text!r} reaches a private attribute.", span=span)
        if isinstance(sub, ast.Constant) and not (sub.value is None or sub.value is Ellipsis):
            raise HeaderError(f"Type {text!r} contains a literal.", span=span)
        if isinstance(sub, ast.BinOp) and not isinstance(sub.op, ast.BitOr):
            raise HeaderError(f"Type {text!r} contains an operation.", span=span)
        if not isinstance(sub, _TYPE_NODES):
            raise HeaderError(f"Type {text!r} contains {_kind(sub)}.", span=span)
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
