"""The header and input-args grammar: what is accepted, what each piece becomes, what is refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.inspector import split as reference_split

from graphseq import HeaderError, split
from graphseq import _reading as reading
from graphseq._parsing import (
    Arg,
    Header,
    InputArg,
    parse_header,
    parse_input_args,
    parse_outputs,
)


@pytest.mark.parametrize(
    ("text", "args", "outs"),
    [
        ("x -> x", (Arg(("x",)),), ("x",)),
        ("x, edge_index -> x1", (Arg(("x",)), Arg(("edge_index",))), ("x1",)),
        ("  x ,edge_index->  x1 ", (Arg(("x",)), Arg(("edge_index",))), ("x1",)),
        ("[x1, x2] -> xs", (Arg(("x1", "x2"), "list"),), ("xs",)),
        ("(x1, x2) -> xs", (Arg(("x1", "x2"), "tuple"),), ("xs",)),
        ("(x1,) -> xs", (Arg(("x1",), "tuple"),), ("xs",)),
        ("[x1] -> xs", (Arg(("x1",), "list"),), ("xs",)),
        (
            "x, edge_index, edge_weight=w -> x",
            (Arg(("x",)), Arg(("edge_index",)), Arg(("w",), "", "edge_weight")),
            ("x",),
        ),
        ("xs=[a, b] -> y", (Arg(("a", "b"), "list", "xs"),), ("y",)),
        ("xs=(a, b) -> y", (Arg(("a", "b"), "tuple", "xs"),), ("y",)),
        ("x -> y, z", (Arg(("x",)),), ("y", "z")),
        ("x, x -> y", (Arg(("x",)), Arg(("x",))), ("y",)),
        ("input -> list", (Arg(("input",)),), ("list",)),  # builtins are fine as value names
        ("données -> résultat", (Arg(("données",)),), ("résultat",)),
        ("x, None, True, False -> y",
         (Arg(("x",)), Arg((), literal="None"), Arg((), literal="True"), Arg((), literal="False")),
         ("y",)),
        ("x, -1, 0.5, 'sum', b'r', 1e999, 2j -> y",
         (Arg(("x",)), Arg((), literal="-1"), Arg((), literal="0.5"), Arg((), literal="'sum'"),
          Arg((), literal="b'r'"), Arg((), literal="1e999"), Arg((), literal="2j")),
         ("y",)),
        ("x, k=None, reduce='max' -> y",
         (Arg(("x",)), Arg((), "", "k", "None"), Arg((), "", "reduce", "'max'")), ("y",)),
        ("x -> x, _, y, _, _", (Arg(("x",)),), ("x", "_", "y", "_", "_")),
        ("x, '->' -> y # a -> b", (Arg(("x",)), Arg((), literal="'->'")), ("y",)),
    ],
)
def test_valid_headers_parse_to_records(text: str, args: tuple[Arg, ...], outs: tuple[str, ...]):
    header = parse_header(text)
    assert header.args == args
    assert header.outs == outs
    assert parse_header(str(header)) == header  # the normal form parses back to itself


def test_reads_lists_each_name_once_in_order_of_first_use():
    assert parse_header("b, [a, b], k=c, j=(a, d) -> y").reads == ("b", "a", "c", "d")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x, edge_index -> ", "no outputs after '->'"),
        (" -> x", "no inputs before '->'"),
        ("x", "no '->'"),
        ("x -> y -> z", "'->' more than once"),
        ("x -> y z", "'y z', which is not a valid name"),
        ("x, , y -> z", "empty item"),
        ("x, -> z", "empty item"),
        ("x -> y,", "empty item"),
        ("x, class -> y", "'class', a Python keyword"),
        ("x -> def", "'def', a Python keyword"),
        ("1x -> y", "'1x', which is not a valid name"),
        ("x.y -> z", "an attribute access"),
        ("f(x) -> z", "a call"),
        ("x[0] -> z", "a subscript"),
        ("[x, 'a'] -> z", "packs a literal"),
        ("x, ... -> z", "a literal"),
        ("x, (1, 2) -> z", "packs a literal"),
        ("x, {'a': 1} -> z", "a dict"),
        ("x -> None", "'None', a Python keyword"),
        ("x -> y, _, y", "writes 'y' twice"),
        ("*x -> z", "a * unpacking"),
        ("**x -> z", "** unpacking"),
        ("lambda: 0 -> z", "a lambda"),
        ("(y := x) -> z", "an assignment"),
        ("x + y -> z", "an operation"),
        ("{x} -> z", "a set"),
        ("[] -> z", "packs an empty list"),
        ("[x.y] -> z", "packs an attribute access"),
        ("[[a, b]] -> z", "packs an expression"),
        ("x) -> z", "closing bracket that was never opened"),
        ("(x -> z", "never closed"),
        ("x; import os -> z", "not a valid name"),
        ("x\nimport os -> z", "not a valid name"),
        ("x # comment -> z", "no '->'"),  # an arrow in a comment is no arrow
        ("x, (a b) -> z", "'a b', which is not a valid name"),
        ("x, f(a b) -> z", "not valid syntax"),
        ("k=x, y -> z", "positional argument after a keyword"),
        ("k=x, k=y -> z", "keyword 'k' twice"),
        ("x -> y, y", "writes 'y' twice"),
        ("x -> [y]", "outputs are plain names"),
        ("x -> y=z", "outputs are plain names"),
        ("self -> y", "reserved"),
        ("x -> self", "reserved"),
        ("__import__('os').getpid() -> x", "a call"),
    ],
)
def test_bad_headers_raise_header_error_with_reason(text: str, fragment: str):
    with pytest.raises(HeaderError) as info:
        parse_header(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert text.replace("\n", "\u2424") in str(info.value)  # the header is shown


def test_header_error_puts_a_caret_under_the_fault():
    with pytest.raises(HeaderError) as info:
        parse_header("x, class, y -> z")
    lines = str(info.value).splitlines()
    assert lines[1] == "    x, class, y -> z"
    assert lines[2] == "       ^^^^^"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x", (InputArg("x"),)),
        ("x, edge_index", (InputArg("x"), InputArg("edge_index"))),
        ("x: Tensor, batch: OptTensor", (InputArg("x", "Tensor"), InputArg("batch", "OptTensor"))),
        (
            "x, edge_weight: Optional[Tensor] = None",
            (InputArg("x"), InputArg("edge_weight", "Optional[Tensor]", None, True)),
        ),
        ("x, k: int = -3", (InputArg("x"), InputArg("k", "int", -3, True))),
        ("x, p = 0.5", (InputArg("x"), InputArg("p", None, 0.5, True))),
        ("x, mode: str = 'sum'", (InputArg("x"), InputArg("mode", "str", "sum", True))),
        ("x: Tuple[Tensor, Tensor]", (InputArg("x", "Tuple[Tensor, Tensor]"),)),
        ("x: torch.Tensor", (InputArg("x", "torch.Tensor"),)),
        ("x: Tensor | None = None", (InputArg("x", "Tensor | None", None, True),)),
    ],
)
def test_input_args_parse_names_types_and_literal_defaults(text, expected):
    assert parse_input_args(text).args == expected


def test_input_args_keep_the_return_annotation():
    parsed = parse_input_args("x, edge_index -> Tensor")
    assert parsed.names == ("x", "edge_index")
    assert parsed.return_repr == "Tensor"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "at least one input"),
        ("   ", "at least one input"),
        ("x, x", "name 'x' twice"),
        ("x, , y", "empty item"),
        ("x = 1, y", "no default but follows one that has"),
        ("x: __import__('os')", "contains a call"),
        ("x: Tensor = open('f')", "must be a literal"),
        ("x = [1, 2]", "must be a literal"),
        ("x = -'a'", "must be a literal"),
        ("x: Tensor._private", "private attribute"),
        ("x: 'Tensor'", "contains a literal"),
        ("x: Tensor + 1", "contains an operation"),
        ("*x", "plain name"),
        ("x -> ", "no return type"),
        ("x -> Tensor -> Tensor", "'->' more than once"),
        ("class", "Python keyword"),
        ("self", "reserved"),
        ("x y", "The input args text has 'x y', which is not a valid name"),
        ("x: Optional[", "never closed"),
    ],
)
def test_bad_input_args_raise_header_error(text: str, fragment: str):
    with pytest.raises(HeaderError, match=None) as info:
        parse_input_args(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("a, b, c", ["a", "b", "c"]),
        ("a, b,", ["a", "b"]),
        ("x: Tuple[Tensor, Tensor], y", ["x: Tuple[Tensor, Tensor]", "y"]),
        ("f(a, b), [c, d]", ["f(a, b)", "[c, d]"]),
        ("", []),
        (",", [""]),
        ("a, ", ["a", ""]),
    ],
)
def test_split_ignores_separators_inside_brackets(content, parts):
    assert split(content, ",") == parts


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab ,:()[]", max_size=20), st.sampled_from([",", ":"]))
def test_split_agrees_with_the_reference(content: str, sep: str):
    assert split(content, sep) == reference_split(content, sep)


def test_split_rejects_multi_character_separators():
    with pytest.raises(ValueError):
        split("a->b", "->")


def test_passthrough_header_rebinds_the_same_names():
    header = Header.passthrough(("x1", "x2"))
    assert str(header) == "x1, x2 -> x1, x2"


# Python's tokenizer reads the text: lines, comments, non-ASCII names and string defaults -------


@pytest.mark.parametrize(
    ("text", "args", "outs"),
    [
        ("x,\n  edge_index,\n  edge_weight=w\n  -> x1",  # a YAML block header
         (Arg(("x",)), Arg(("edge_index",)), Arg(("w",), "", "edge_weight")), ("x1",)),
        ("x,\r\n  [a, b]\r\n  -> y", (Arg(("x",)), Arg(("a", "b"), "list")), ("y",)),
        ("x,\r  (a,\r   b) -> y", (Arg(("x",)), Arg(("a", "b"), "tuple")), ("y",)),
        ("x,\n  # the edges\n  edge_index\n  -> y", (Arg(("x",)), Arg(("edge_index",))), ("y",)),
        ("[a, # first\n b] -> y", (Arg(("a", "b"), "list"),), ("y",)),
        ("(x), ((a, b)) -> y", (Arg(("x",)), Arg(("a", "b"), "tuple")), ("y",)),
        ("x,\t k = [a,\n b] -> y", (Arg(("x",)), Arg(("a", "b"), "list", "k")), ("y",)),
        ("λ, données=[ｘ, é] -> résultat", (Arg(("λ",)), Arg(("x", "é"), "list", "données")),
         ("résultat",)),
        ("x, \\\n  edge_index -> y", (Arg(("x",)), Arg(("edge_index",))), ("y",)),
        ("x -> y,\n  z", (Arg(("x",)),), ("y", "z")),
    ],
)
def test_headers_read_as_python_reads_a_call(
    text: str, args: tuple[Arg, ...], outs: tuple[str, ...]
):
    header = parse_header(text)
    assert (header.args, header.outs) == (args, outs)


@pytest.mark.parametrize(
    ("text", "fragment", "fault"),
    [
        ("λ, données.x -> y", "has 'données.x', which is an attribute access", "données.x"),
        ("données,\r\n  k=ｘ.y\r\n  -> z", "has 'k=ｘ.y', which is an attribute access", "k=ｘ.y"),
        ("λ,\n  [a, b],\r  données.x -> y", "an attribute access", "données.x"),
        ("é, [a, ｘ.y] -> z", "packs an attribute access into a list", "[a, ｘ.y]"),
        ("x,\n  class\n -> y", "'class', a Python keyword", "class"),
        ("é, class -> y", "'class', a Python keyword", "class"),
        ("é, k=x, y -> z", "positional argument after a keyword", "y"),
        ("é,\n  k=x,\n  k=y -> z", "passes keyword 'k' twice", "k=y"),
        ("x, -> y", "has an empty item", " "),
        ("x, k=y,\n -> z", "has an empty item", "\n "),
        ("x, , y -> z", "has an empty item", " "),
        ("x, ((a, b) -> z", "bracket that is never closed", "("),
        ("(a, [b] -> z", "bracket that is never closed", "("),
        ("é, [a]] -> z", "closing bracket that was never opened", "]"),
        ("x -> y, ]z", "closing bracket that was never opened", "]"),
        ("x -> é, é", "writes 'é' twice", "é"),
        ("x -> é, [z]", "has '[z]' among its outputs", "[z]"),
        ("x -> é, (z)", "has '(z)' among its outputs", "(z)"),
        ("x -> y, k=z", "has 'k=z' among its outputs", "k=z"),
        ("é -> y z", "has 'y z', which is not a valid name", "y z"),
        ("x, y # comment\n -> z", None, None),  # a comment may end a line, as in Python
        ("x, y # comment -> z", "no '->'", "->"),  # an arrow in a comment is no arrow
        ("x -> y  # was: a -> b", None, None),
    ],
)
def test_header_errors_point_at_the_fault_in_the_users_text(text, fragment, fault):
    if fragment is None:
        assert parse_header(text).reads in (("x", "y"), ("x",))
        return
    assert_fault(parse_header, text, fragment, fault)


def assert_fault(parse, text, fragment, fault):
    """``parse(text)`` raises an error saying ``fragment`` whose caret covers ``fault``
    (``""``: the caret stands just after the text)."""
    with pytest.raises(HeaderError) as info:
        parse(text)
    assert fragment in str(info.value)
    start, end = info.value.span
    assert text[start:end] == fault or (fault == "" and start == len(text))


def test_a_trailing_comma_in_the_outputs_is_an_empty_item_past_the_end():
    with pytest.raises(HeaderError, match="has an empty item") as info:
        parse_header("x -> y, z,")
    assert info.value.span == (10, 11)


def test_header_caret_stands_under_a_non_ascii_fault():
    with pytest.raises(HeaderError) as info:
        parse_header("données, ｘ.y -> z")
    lines = str(info.value).splitlines()
    assert lines[1] == "    données, ｘ.y -> z"
    assert lines[2] == "             ^^^"


@pytest.mark.parametrize(
    ("text", "expected", "return_repr"),
    [
        ("s: str = 'a->b, c'", (InputArg("s", "str", "a->b, c", True),), None),
        ("x, s = 'a->b' -> Tensor", (InputArg("x"), InputArg("s", None, "a->b", True)), "Tensor"),
        ('x, s = "x, (y" -> Tensor', (InputArg("x"), InputArg("s", None, "x, (y", True)), "Tensor"),
        ("x, s = '#', t = ')]'", (InputArg("x"), InputArg("s", None, "#", True),
                                 InputArg("t", None, ")]", True)), None),
        ("x: Tensor,\n  w: Optional[\n    Tensor] = None\n  -> Tensor",
         (InputArg("x", "Tensor"), InputArg("w", "Optional[Tensor]", None, True)), "Tensor"),
        ("x,\r\n  w: Tensor | None = None", (InputArg("x"), InputArg("w", "Tensor | None", None,
                                                                      True)), None),
        ("x, # the features\n  edge_index", (InputArg("x"), InputArg("edge_index")), None),
        ("données: Tensor, ｘ = 1", (InputArg("données", "Tensor"), InputArg("x", None, 1, True)),
         None),
        ("x, k: int = (3)", (InputArg("x"), InputArg("k", "int", 3, True)), None),
    ],
)
def test_input_args_read_as_python_reads_parameters(text, expected, return_repr):
    parsed = parse_input_args(text)
    assert parsed.args == expected
    assert parsed.return_repr == return_repr


@pytest.mark.parametrize(
    ("text", "fragment", "fault"),
    [
        ("données: Tensor + 1", "Type 'Tensor + 1' contains an operation", "Tensor + 1"),
        ("é, s: str = 'a->b, c', t: Tensor + 1 -> Tensor", "contains an operation", "Tensor + 1"),
        ("s = 'a->b', t", "Input 't' has no default but follows one that has", "t"),
        ("s = 'a, b', s", "Input args name 's' twice", "s"),
        ("x, ｘ", "Input args name 'x' twice", "ｘ"),
        ("x, y,", "has an empty item", ""),
        ("x, y, -> Tensor", "has an empty item", " "),
        ("x, s = 'a->b' -> Tensor -> Tensor", "'->' more than once", "->"),
        ("x: Optional[Tensor, y", "bracket that is never closed", "["),
        ("é: Tuple[(Tensor, Tensor]", "bracket that is never closed", "["),
        ("x, *rest", "Input '*rest' must be a plain name", "*rest"),
        ("x, é y", "has 'é y', which is not a valid name", "é y"),
        ("x, k = len([])", "must be a literal", "k = len([])"),
    ],
)
def test_input_args_errors_point_at_the_fault(text, fragment, fault):
    assert_fault(parse_input_args, text, fragment, fault)


@pytest.mark.parametrize(
    ("text", "names"),
    [("y,\n  z", ("y", "z")), ("ｙ, é", ("y", "é")), ("y, # main\n z", ("y", "z"))],
)
def test_outputs_read_as_python_reads_a_call(text, names):
    assert parse_outputs(text) == names


@pytest.mark.parametrize(
    ("text", "fragment", "fault"),
    [
        ("y, z,", "has an empty item", ""),
        ("é, (z)", "has '(z)', which is not a valid name", "(z)"),
        ("é, z.w", "has 'z.w', which is not a valid name", "z.w"),
        ("é, k=z", "has 'k=z', which is not a valid name", "k=z"),
        ("é, ]", "closing bracket that was never opened", "]"),
    ],
)
def test_outputs_errors_point_at_the_fault(text, fragment, fault):
    assert_fault(parse_outputs, text, fragment, fault)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("données,\n (y),  # note\r\n ｘ=[λ, b]", ["données", "y", "ｘ=[λ, b]"]),
        ("é,\\\n λ", ["é", "λ"]),
        ("a,\r(b, c)\r,d", ["a", "(b, c)", "d"]),
    ],
)
def test_reading_call_args_spans_count_characters_across_lines(text, items):
    found = reading.call_args(text)
    assert found is not None
    assert [text[a:b] for _, a, b in found] == items


def test_reading_def_params_spans_cover_the_parameter_and_its_type():
    text = "é: Tensor,\n  données: Optional[Tensor] = None  # c\n"
    found = reading.def_params(text)
    assert found is not None
    spans = [(p.arg, text[a:b], t and text[t[0] : t[1]]) for p, _, a, b, t in found]
    assert spans == [
        ("é", "é: Tensor", "Tensor"),
        ("données", "données: Optional[Tensor] = None", "Optional[Tensor]"),
    ]
    assert reading.def_params("x, *rest") is None


def test_reading_plain_names_and_tokens_give_character_spans():
    assert reading.plain_names(" é ,λ") == [("é", 1, 2), ("λ", 4, 5)]
    assert reading.plain_names("é, [λ]") is None
    assert [(s, a, b) for _, s, a, b in reading.tokens("é,\n  λ")] == [
        ("é", 0, 1), (",", 1, 2), ("λ", 5, 6)
    ]


@pytest.mark.parametrize(
    ("read", "text", "reason", "span"),
    [
        (reading.call_args, "x, y,", "has an empty item.", (5, 6)),
        (reading.call_args, "é, y,  # c\n", "has an empty item.", (5, 11)),
        (reading.def_params, "x,  ", "has an empty item.", (2, 4)),
        (reading.token_items, "x,, y", "has an empty item.", (2, 3)),
        (reading.token_items, "é, f(y", "has a bracket that is never closed.", (4, 5)),
        (reading.token_items, "é, y)", "has a closing bracket that was never opened.", (4, 5)),
    ],
)
def test_reading_names_the_trailing_comma_or_bracket_at_fault(read, text, reason, span):
    with pytest.raises(HeaderError) as info:
        read(text)
    assert (info.value.reason, info.value.span) == (reason, span)


SEPARATORS = st.sampled_from([", ", ",", " , ", ",\n  ", ",\r\n\t", ", # note\n  ", ",\\\n "])
GRAMMAR_NAMES = st.sampled_from(["x", "edge_index", "données", "λ", "_", "ｘ", "h1"])


@st.composite
def spelled_headers(draw: st.DrawFn) -> tuple[str, Header]:
    """A header spelled with random separators (lines, comments) and the record it means."""
    spelled, args = [], []
    for _ in range(draw(st.integers(1, 4))):
        pack = draw(st.sampled_from(["", "", "list", "tuple"]))
        names = draw(st.lists(GRAMMAR_NAMES, min_size=1, max_size=1 if not pack else 3))
        inner = draw(SEPARATORS).join(names)
        if pack == "list":
            inner = f"[{inner}]"
        elif pack == "tuple":
            inner = f"({inner},)" if len(names) == 1 else f"({inner})"
        spelled.append(inner)
        args.append(Arg(tuple(unicodedata.normalize("NFKC", n) for n in names), pack))
    outs = draw(st.lists(GRAMMAR_NAMES, min_size=1, max_size=3, unique_by=_nfkc))
    arrow = draw(st.sampled_from([" -> ", "\n  -> ", "->"]))
    text = draw(SEPARATORS).join(spelled) + arrow + draw(SEPARATORS).join(outs)
    return text, Header(tuple(args), tuple(map(_nfkc, outs)))


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


@settings(max_examples=200, deadline=None)
@given(spelled_headers())
def test_any_spelling_of_a_header_parses_to_the_same_record(case: tuple[str, Header]):
    text, header = case
    assert parse_header(text) == header
    assert parse_header(str(header)) == header
