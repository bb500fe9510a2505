"""Property tests of the header and input-args grammar.

Any text either builds a model or raises ``ValueError``; the generated source always compiles;
and for valid headers each child receives exactly the values its header declares.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch_geometric.typing  # noqa: F401  (type names such as OptTensor resolve from it)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphseq

EXAMPLES = 2000
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

INPUTS = ("x", "edge_index", "batch", "w")
INPUT_ARGS = ", ".join(INPUTS)
# Names that also appear in the generated code (its helpers), in typing or among builtins.
TRICKY = ("modules", "error", "add_step_note", "Tensor", "torch", "forward", "list", "_", "λ")


class Token:
    """A unique value: equal only to itself, so every check below is an identity check."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"


class Echo:
    """A child that records its arguments and returns preset values."""

    def __init__(self, returns: Any = None) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.returns = returns

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return (args, kwargs) if self.returns is None else self.returns


class EchoModule(torch.nn.Module):
    """The same as :class:`Echo`, as a registered ``nn.Module`` child."""

    def __init__(self, returns: Any = None) -> None:
        super().__init__()
        self.echo = Echo(returns)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.echo(*args, **kwargs)


def build(input_args: Any, modules: Any) -> graphseq.Sequential | None:
    """Build a model; only ``ValueError`` may escape (returned as ``None``).

    The one warning allowed is graphseq's own note that a step's results are unused. Whatever
    builds has source that compiles.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = graphseq.Sequential(input_args, modules)
        except ValueError:
            return None
    for warning in caught:
        assert issubclass(warning.category, UserWarning), warning
        assert "reach no output" in str(warning.message), warning
    compile(model.code, "<t>", "exec")
    return model


def outputs_of(result: Any, n_outs: int) -> tuple[Any, ...]:
    return result if n_outs > 1 else (result,)


# Strategies ------------------------------------------------------------------------------------

INSERTS = [
    *keyword.kwlist,
    *"0123456789",
    ".",
    "[",
    "]",
    "(",
    ")",
    "'",
    '"',
    ";",
    "\n",
    "\\",
    "#",
    "=",
    "->",
    ",",
    "*",
    "**",
    ":",
    " ",
    "self",
    "ｘ",
    "__import__('os')",
    "lambda: 0",
    "{}",
]


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """``base`` with a few characters dropped, doubled or swapped, and fragments inserted."""
    text = base
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "double", "swap", "insert"]))
        i = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "drop" and text:
            text = text[:i] + text[i + 1 :]
        elif op == "double" and text:
            text = text[:i] + text[i] + text[i:]
        elif op == "swap" and len(text) > 1:
            j = min(i + 1, len(text) - 1)
            text = text[:i] + text[j] + text[i] + text[j + 1 :]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(INSERTS)) + text[i:]
    return text


NAMES = st.sampled_from(INPUTS + TRICKY + ("h", "x1", "undefined_name"))
KEYWORDS = st.sampled_from(("edge_weight", "size", "k", "modules", "error", "Tensor", "_"))


@st.composite
def header_arg(draw: st.DrawFn, names: st.SearchStrategy[str]) -> str:
    kind = draw(st.sampled_from(["name", "name", "list", "tuple"]))
    if kind == "name":
        return draw(names)
    items = draw(st.lists(names, min_size=1, max_size=3))
    if kind == "list":
        return f"[{', '.join(items)}]"
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


@st.composite
def header_text(draw: st.DrawFn, names: st.SearchStrategy[str] = NAMES) -> str:
    """A header from the grammar: positional items, keywords, '->', one or more outputs."""
    positional = draw(st.lists(header_arg(names), max_size=3))
    kws = draw(st.dictionaries(KEYWORDS, header_arg(names), max_size=2))
    args = positional + [f"{k}={v}" for k, v in kws.items()]
    if not args:
        args = [draw(names)]
    outs = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    comma = draw(st.sampled_from([", ", ",", " , "]))
    arrow = draw(st.sampled_from([" -> ", "->", "  ->  "]))
    return comma.join(args) + arrow + comma.join(outs)


TYPES = (
    "Tensor",
    "torch.Tensor",
    "Optional[Tensor]",
    "OptTensor",
    "Adj",
    "List[Tensor]",
    "Tuple[Tensor, Tensor]",
    "Tensor | None",
    "int",
    "float",
    "Dict[str, Tensor]",
)
LITERALS = ("None", "0", "-3", "2.5", "-0.5", "'a'", '"it\'s"', "True", "False", "1e999", "-1e999")


@st.composite
def input_args_text(draw: st.DrawFn) -> tuple[str, list[str], dict[str, str]]:
    """Input args from the grammar, their names and defaults: ``'x, w: OptTensor = None'``."""
    names = draw(st.lists(st.sampled_from(INPUTS + TRICKY + ("h",)), min_size=1, max_size=4,
                          unique=True))
    n_plain = draw(st.integers(1, len(names)))
    items = []
    defaults = {}
    for i, name in enumerate(names):
        item = name
        if draw(st.booleans()):
            item += f": {draw(st.sampled_from(TYPES))}"
        if i >= n_plain:
            defaults[name] = draw(st.sampled_from(LITERALS))
            item += f" = {defaults[name]}"
        items.append(item)
    text = ", ".join(items)
    if draw(st.booleans()):
        text += f" -> {draw(st.sampled_from(TYPES))}"
    return text, names, defaults


# Build or ValueError ---------------------------------------------------------------------------


def check_runs(model: graphseq.Sequential, n_inputs: int) -> None:
    """A built model with echo children runs, and its children see only the model's inputs
    (and the header's own literals)."""
    tokens = [Token(f"in{i}") for i in range(n_inputs)]
    model(*tokens)


def echo_header_model(text: str) -> graphseq.Sequential | None:
    child = Echo()
    model = build(INPUT_ARGS, [(child, text)])
    if model is not None:
        n_outs = len(model.headers[0].return_names)
        child.returns = tuple(Token(f"out{i}") for i in range(n_outs)) if n_outs > 1 else None
        check_runs(model, len(INPUTS))
        (args, kwargs), = child.calls
        flat = [v for a in [*args, *kwargs.values()] for v in (a if isinstance(a, list | tuple)
                                                             else [a])]
        literals = [(type(a.value), a.value) for a in model.plan.steps[0].header.args
                    if a.literal is not None]  # constants the header itself passes
        assert all(isinstance(v, Token) or (type(v), v) in literals for v in flat), flat
    return model


@SETTINGS
@given(st.text())
def test_arbitrary_header_text_builds_or_raises_value_error(text: str) -> None:
    echo_header_model(text)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("xwab_1 ,[]()=->:;.'\"\n\\#*ｘ")), max_size=30))
def test_arbitrary_header_text_in_the_grammar_alphabet_builds_or_raises_value_error(
    text: str,
) -> None:
    echo_header_model(text)


@SETTINGS
@given(header_text().flatmap(mutated))
def test_mutated_grammar_headers_build_or_raise_value_error(text: str) -> None:
    echo_header_model(text)


@SETTINGS
@given(st.text())
def test_arbitrary_input_args_text_builds_or_raises_value_error(text: str) -> None:
    model = build(text, [(Echo(), "x -> out")])
    if model is not None:
        params = model.signature.param_dict.values()
        check_runs(model, sum(p.default is inspect.Parameter.empty for p in params))


@SETTINGS
@given(input_args_text().flatmap(lambda t: st.tuples(mutated(t[0]), st.just(t[1]))))
def test_mutated_input_args_build_or_raise_value_error(case: tuple[str, list[str]]) -> None:
    text, names = case
    model = build(text, [(Echo(), f"{names[0]} -> out")])
    if model is not None:
        params = model.signature.param_dict.values()
        check_runs(model, sum(p.default is inspect.Parameter.empty for p in params))


@SETTINGS
@given(st.text(), header_text(st.sampled_from(INPUTS)))
def test_any_step_name_builds_a_working_model_or_raises_value_error(
    name: str, header: str
) -> None:
    child = Echo(returns=None)
    model = build(INPUT_ARGS, {name: (child, header)})
    if model is not None:
        n_outs = len(model.headers[0].return_names)
        child.returns = tuple(Token(f"o{i}") for i in range(n_outs)) if n_outs > 1 else Token("o")
        assert outputs_of(model(*map(Token, INPUTS)), n_outs) == outputs_of(child.returns, n_outs)
        assert len(child.calls) == 1


# Values reach the child as declared ------------------------------------------------------------


@dataclass
class ArgSpec:
    kind: str  # "name", "list" or "tuple"
    names: list[str]  # as spelled in the header

    def render(self) -> str:
        if self.kind == "name":
            return self.names[0]
        if self.kind == "list":
            return f"[{', '.join(self.names)}]"
        inner = ", ".join(self.names)
        return f"({inner},)" if len(self.names) == 1 else f"({inner})"


@dataclass
class StepSpec:
    positional: list[ArgSpec] | None  # None: a step without a header
    keywords: dict[str, ArgSpec]
    outs: list[str]
    module: bool

    def header(self) -> str | None:
        if self.positional is None:
            return None
        args = [a.render() for a in self.positional]
        args += [f"{k}={v.render()}" for k, v in self.keywords.items()]
        return f"{', '.join(args)} -> {', '.join(self.outs)}"


@dataclass
class ModelSpec:
    inputs: list[str]
    steps: list[StepSpec]


ASCII_POOL = ("x", "edge_index", "batch", "h", "x1", "out") + TRICKY
# Spellings Python's parser treats as the same identifier (NFKC normalisation, PEP 3131).
ALIASES = {"x": "ｘ", "h": "ｈ", "modules": "ｍｏｄｕｌｅｓ", "error": "ｅｒｒｏｒ", "out": "ºut"}


def norm(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


@st.composite
def model_specs(draw: st.DrawFn, aliases: bool = False) -> ModelSpec:
    """A valid multi-step model: every name read is defined, every header well formed."""

    def spell(name: str) -> str:
        if aliases and name in ALIASES and draw(st.booleans()):
            return ALIASES[name]
        return name

    inputs = draw(st.lists(st.sampled_from(ASCII_POOL), min_size=1, max_size=3, unique=True))
    defined = list(inputs)
    steps: list[StepSpec] = []
    for i in range(draw(st.integers(1, 4))):
        module = draw(st.booleans())
        if i > 0 and draw(st.integers(0, 4)) == 0:
            steps.append(StepSpec(None, {}, steps[-1].outs, module))
            continue

        def arg(readable: list[str]) -> ArgSpec:
            kind = draw(st.sampled_from(["name", "name", "list", "tuple"]))
            count = 1 if kind == "name" else draw(st.integers(1, 3))
            return ArgSpec(kind, [spell(draw(st.sampled_from(readable))) for _ in range(count)])

        positional = [arg(defined) for _ in range(draw(st.integers(0, 3)))]
        kw_names = draw(st.lists(KEYWORDS, max_size=2, unique=True))
        keywords = {k: arg(defined) for k in kw_names}
        if not positional and not keywords:
            positional = [arg(defined)]
        outs = draw(st.lists(st.sampled_from(ASCII_POOL), min_size=1, max_size=3, unique=True))
        steps.append(StepSpec(positional, keywords, [spell(o) for o in outs], module))
        defined += [o for o in outs if o not in defined]
    return ModelSpec(inputs, steps)


def check_values_reach_children(spec: ModelSpec) -> None:
    """Build ``spec`` and check every child call against an independent interpretation."""
    env: dict[str, Token] = {}
    inputs = [Token(f"in:{n}") for n in spec.inputs]
    env.update({norm(n): t for n, t in zip(spec.inputs, inputs, strict=True)})
    children: dict[str, Any] = {}
    expected_calls = []
    for i, step in enumerate(spec.steps):
        outs = [Token(f"step{i}:{o}") for o in step.outs]
        returns = tuple(outs) if len(outs) > 1 else outs[0]
        child = EchoModule(returns) if step.module else Echo(returns)
        header = step.header()
        children[f"step{i}"] = child if header is None else (child, header)

        def value(a: ArgSpec) -> Any:
            values = [env[norm(n)] for n in a.names]
            return values[0] if a.kind == "name" else (values if a.kind == "list" else
                                                      tuple(values))

        if step.positional is None:
            args: tuple[Any, ...] = tuple(env[norm(o)] for o in step.outs)
            kwargs: dict[str, Any] = {}
        else:
            args = tuple(value(a) for a in step.positional)
            kwargs = {k: value(a) for k, a in step.keywords.items()}
        expected_calls.append((args, kwargs))
        env.update({norm(o): t for o, t in zip(step.outs, outs, strict=True)})

    model = build(", ".join(spec.inputs), children)
    assert model is not None, "a valid model did not build"
    result = model(*inputs)

    calls = zip(children.values(), expected_calls, strict=True)
    for i, (child, (args, kwargs)) in enumerate(calls):
        child = child[0] if isinstance(child, tuple) else child
        echo = child.echo if isinstance(child, EchoModule) else child
        assert echo.calls == [(args, kwargs)], f"step {i}: got {echo.calls}, want {args} {kwargs}"
        for got, want in zip(echo.calls[0][0], args, strict=True):
            assert type(got) is type(want)  # a list stays a list, a tuple a tuple
    last = [env[norm(o)] for o in spec.steps[-1].outs]
    assert outputs_of(result, len(last)) == tuple(last)


@SETTINGS
@given(model_specs())
def test_values_reach_the_child_exactly_as_declared(spec: ModelSpec) -> None:
    check_values_reach_children(spec)


@SETTINGS
@given(model_specs(aliases=True))
def test_names_python_normalizes_alike_are_one_name(spec: ModelSpec) -> None:
    """``ｘ`` and ``x`` are one identifier to Python (NFKC, PEP 3131); a header agrees."""
    check_values_reach_children(spec)


@SETTINGS
@given(input_args_text(), st.data())
def test_input_defaults_and_values_reach_the_child(
    case: tuple[str, list[str], dict[str, str]], data: st.DataObject
) -> None:
    text, names, defaults = case
    child = Echo(returns=Token("result"))
    model = build(text, [(child, f"{', '.join(names)} -> out")])
    assert model is not None, f"valid input args {text!r} did not build"
    params = list(model.signature.param_dict.values())
    assert [p.name for p in params] == names
    n_given = data.draw(st.integers(
        sum(p.default is inspect.Parameter.empty for p in params), len(params)))
    given_values = [Token(n) for n in names[:n_given]]
    assert model(*given_values) is child.returns
    literals = {name: ast.literal_eval(value) for name, value in defaults.items()}
    want = [*given_values, *(literals[n] for n in names[n_given:])]
    (args, kwargs), = child.calls
    assert kwargs == {}
    assert len(args) == len(want)
    for got, expected in zip(args, want, strict=True):
        assert type(got) is type(expected) and (got is expected or got == expected)


# Regressions found by the properties above, pinned so they fail deterministically --------------


def test_infinite_float_default_builds_a_model() -> None:
    child = Echo(returns=Token("r"))
    model = graphseq.Sequential("x, scale: float = 1e999", [(child, "x, scale -> out")])
    model(Token("x"))
    assert child.calls[0][0][1] == float("inf")


@pytest.mark.parametrize(
    "modules",
    [
        # 'ｍｏｄｕｌｅｓ' is 'modules' to Python, the local the generated code keeps children in.
        [(Echo(returns=Token("h")), "x -> ｍｏｄｕｌｅｓ"), EchoModule(returns=Token("y"))],
        # 'ｓｅｌｆ' is 'self': writing it must not rebind the model inside forward.
        [
            (Echo(returns=(Token("s"), Token("h"))), "x -> ｓｅｌｆ, h"),
            (Echo(returns=Token("y")), "h -> y"),
        ],
        # 'ｘ' is 'x': a later step reading x must see the value written as ｘ.
        [(Echo(returns=Token("h")), "x -> ｘ"), (Echo(returns=Token("y")), "x -> y")],
    ],
    ids=["modules", "self", "x"],
)
def test_output_names_python_normalizes_alike_are_one_name(modules: list[Any]) -> None:
    """Either the model is refused at build time, or every step sees what its header says."""
    last = modules[-1]
    last = last[0] if isinstance(last, tuple) else last
    last = last.echo if isinstance(last, EchoModule) else last
    model = build("x", modules)
    if model is not None:
        assert model(Token("x")) is last.returns
        first = modules[0][0]
        received = last.calls[0][0][0]
        written = first.returns[-1] if isinstance(first.returns, tuple) else first.returns
        assert received is written


def test_step_name_python_normalizes_is_callable() -> None:
    """A step named 'ｆoo' (NFKC: 'foo') is either refused or called; never a missing attribute."""
    child = Echo(returns=Token("y"))
    model = build("x", {"ｆoo": (child, "x -> y")})
    if model is not None:
        assert model(Token("x")) is child.returns


@pytest.mark.parametrize("value", ["a, b", "(", ")]", "x -> y", "it's [1, 2]"])
def test_string_default_with_separators_builds_and_reaches_the_child(value: str) -> None:
    """A string literal default is data: commas, brackets and arrows inside it are not syntax."""
    child = Echo(returns=Token("r"))
    model = graphseq.Sequential(f"x, s: str = {value!r}", [(child, "x, s -> out")])
    model(Token("x"))
    assert child.calls[0][0][1] == value
