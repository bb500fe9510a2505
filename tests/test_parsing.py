"""The header and input-args grammar: what is accepted, what each piece becomes, what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.inspector import split as reference_split

from graphseq import HeaderError, split
from graphseq.parsing import Arg, Header, InputArg, parse_header, parse_input_args


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
        ("'x' -> z", "a literal"),
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
        ("x # comment -> z", "not a valid name"),
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
        ("x y", "Input args has 'x y', which is not a valid name"),
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
