"""Every mistake is a ValueError at build time that names the step and shows the header."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch.nn import Identity, Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge, global_mean_pool

import graphseq
from graphseq import HeaderError, Sequential


def test_undefined_name_suggests_closest():
    with pytest.raises(HeaderError) as info:
        Sequential("x, edge_index", OrderedDict(
            conv1=(GCNConv(4, 4), "x, edge_index -> x1"),
            conv2=(GCNConv(4, 4), "x2, edge_index -> x3"),
        ))
    assert str(info.value) == (
        "step 1 ('conv2') reads 'x2', which is not defined yet.\n"
        "    x2, edge_index -> x3\n"
        "    ^^\n"
        "  defined at this point: x, edge_index, x1. Did you mean 'x1'?"
    )


def test_undefined_name_far_from_everything_gets_no_suggestion():
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(ReLU(), "banana -> y")])
    assert "Did you mean" not in str(info.value)
    assert "defined at this point: x." in str(info.value)


@pytest.mark.parametrize(
    ("modules", "fragment"),
    [
        ([], "non-empty list of modules"),
        ({}, "non-empty list of modules"),
        ([5], "step 0 ('module_0') is not callable"),
        ([(ReLU(), "x -> x"), "relu"], "step 1 ('module_1') is not callable"),
        ([(ReLU(), 5)], "header that is not a str"),
        ([(ReLU(), "x -> x", "extra")], "tuple of 3 items"),
        ([()], "tuple of 0 items"),
        ([ReLU()], "step 0 ('module_0') has no header; the first step needs one"),
        ([(ReLU(),)], "the first step needs one"),
        ([(ReLU(), "x, edge_index -> ")], "no outputs after '->'"),
        ([(ReLU(), "x -> y z")], "'y z', which is not a valid name"),
        ([(ReLU(), "x -> y -> z")], "'->' more than once"),
        ([(ReLU(), "__import__('os').getpid() -> x")], "which is a call"),
        (ReLU(), "expects a list or dict of modules"),
        ({"forward": (ReLU(), "x -> x")}, "would shadow an attribute"),
        ({"training": (ReLU(), "x -> x")}, "would shadow an attribute"),
        ({"code": (ReLU(), "x -> x")}, "would shadow an attribute"),
        ({"a.b": (ReLU(), "x -> x")}, "cannot contain '.'"),
        ({"": (ReLU(), "x -> x")}, "cannot be empty"),
        ({1: (ReLU(), "x -> x")}, "name that is not a str"),
    ],
)
def test_bad_module_lists_fail_at_build_time(modules, fragment):
    with pytest.raises(ValueError) as info:
        Sequential("x", modules)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("input_args", "fragment"),
    [
        ("", "at least one input"),
        ("x, x", "name 'x' twice"),
        ("x: NoSuchType", "'NoSuchType': it is not defined"),
        ("x: __import__('os')", "contains a call"),
        ("x: Tensor = open('f')", "must be a literal"),
        ("x -> NoSuchType", "The return type has type 'NoSuchType'"),
        (42, "must be a str"),
    ],
)
def test_bad_input_args_fail_at_build_time(input_args, fragment):
    with pytest.raises(ValueError) as info:
        Sequential(input_args, [(Identity(), "x -> x")])
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("x -> x", "missing a required argument: 'edge_index'"),
        ("x, edge_index, x, x -> x", "too many positional arguments"),
        ("x, edge_index, weight=x -> x", "unexpected keyword argument 'weight'"),
        ("x, edge_index, x=x -> x", "multiple values for argument 'x'"),
    ],
)
def test_arguments_that_cannot_bind_fail_with_the_child_signature(header, fragment):
    with pytest.raises(HeaderError) as info:
        Sequential("x, edge_index", {"conv": (GCNConv(4, 4), header)})
    message = str(info.value)
    assert fragment in message
    assert message.startswith("step 0 ('conv') passes arguments that GCNConv cannot take")
    assert "GCNConv is called as GCNConv(x, edge_index, edge_weight=None)" in message
    assert header in message


def test_binding_is_checked_for_plain_functions_too():
    with pytest.raises(HeaderError, match="global_mean_pool cannot take"):
        Sequential("x", [(global_mean_pool, "x, x, x, x, x -> y")])


def test_keyword_only_and_var_keyword_children_bind():
    def kwonly(x, *, scale=1.0):
        return x * scale

    def anything(*args, **kwargs):
        return args[0]

    model = Sequential("x, s", [(kwonly, "x, scale=s -> y"), (anything, "y, s, a=y -> z")])
    assert torch.equal(model(torch.ones(2), torch.tensor(3.0)), torch.full((2,), 3.0))
    with pytest.raises(HeaderError, match="unexpected keyword argument 'bad'"):
        Sequential("x", [(kwonly, "x, bad=x -> y")])


def test_positional_only_parameters_cannot_be_passed_by_keyword():
    def posonly(x, /):
        return x

    with pytest.raises(HeaderError):
        Sequential("x", [(posonly, "x=x -> y")])


def test_uninspectable_children_are_not_checked_but_still_run():
    model = Sequential("x", [(torch.relu, "x -> y")])
    assert torch.equal(model(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))


def test_outputs_must_be_defined_names():
    with pytest.raises(HeaderError, match="Outputs name 'x2', which no input or step defines"):
        Sequential("x", [(ReLU(), "x -> x1")], outputs="x2")
    with pytest.raises(HeaderError, match="Did you mean 'x1'"):
        Sequential("x", [(ReLU(), "x -> x1")], outputs="x1, x2")


def test_packed_lists_replace_the_lambda_of_the_reference():
    model = Sequential("x1, x2", [(JumpingKnowledge("cat"), "[x1, x2] -> x")])
    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(model(a, b), torch.cat([a, b], dim=-1))


def test_duplicate_step_names_are_impossible_but_default_names_never_collide():
    model = Sequential("x", [(Linear(2, 2), "x -> x"), ReLU()])
    assert [c.name for c in model.headers] == ["module_0", "module_1"]


def test_errors_are_value_errors_and_header_errors():
    assert issubclass(graphseq.HeaderError, ValueError)


# Structured locations and the one suggester (errors.py) ----------------------------------------

from graphseq._errors import Location, closest, did_you_mean  # noqa: E402


@pytest.mark.parametrize(
    ("build", "location"),
    [
        (lambda: Sequential("x", [(ReLU(), "y -> y")]), Location("step", 0, "module_0", "header")),
        (lambda: Sequential("x", [(ReLU(), "x y")]), Location("step", 0, "module_0", "header")),
        (lambda: Sequential("x", [ReLU()]), Location("step", 0, "module_0")),
        (lambda: Sequential("x", [(ReLU(), "x -> y")], outputs="z"), Location("outputs")),
        (lambda: Sequential("x ->", [(ReLU(), "x -> y")]), Location("inputs")),
        (lambda: Sequential("x: Nope", [(ReLU(), "x -> y")]), Location("inputs")),
        (lambda: Sequential("x", []), Location("modules")),
        (lambda: Sequential("x", [(ReLU(), "x -> y", 3)]),
         Location("step", 0, "module_0", "module")),
        (lambda: Sequential("x", {"a": (ReLU(), "x -> y"), "b": (ReLU(), 7)}),
         Location("step", 1, "b", "header")),
    ],
)
def test_error_carries_structured_location(build, location):
    with pytest.raises(HeaderError) as info:
        build()
    assert info.value.location == location


def test_error_location_survives_pickling():
    import pickle

    with pytest.raises(HeaderError) as info:
        Sequential("x", [(ReLU(), "y -> y")])
    again = pickle.loads(pickle.dumps(info.value))
    assert again.location == info.value.location
    assert str(again) == str(info.value)


@pytest.mark.parametrize(
    ("word", "candidates", "limit", "expected"),
    [
        ("x2", ["x", "edge_index", "x1"], 1, ["x1"]),
        ("banana", ["x", "edge_index"], 1, []),
        ("relu", ["ReLU", "Linear"], 1, ["ReLU"]),
        ("GCNConf", ["GCNConv", "RGCNConv", "GCN2Conv", "Linear"], 3,
         ["GCNConv", "GCN2Conv", "RGCNConv"]),  # exact ties: the later candidate first
        ("kwarg", ["name", "module", "args", "kwargs", "header"], 1, ["kwargs"]),
    ],
)
def test_closest_ranks_near_candidates(word, candidates, limit, expected):
    assert closest(word, candidates, limit) == expected


def test_did_you_mean_lists_one_or_several():
    assert did_you_mean("x2", ["x1"]) == " Did you mean 'x1'?"
    assert did_you_mean("ab", ["aa", "ac", "ad"], 3) == " Did you mean 'ad', 'ac' or 'aa'?"
    assert did_you_mean("banana", ["x"]) == ""


# A class where an instance belongs, and outputs (issue 7, items 9 and 10) ----------------------


def test_a_module_class_instead_of_an_instance_is_refused_with_the_fix():
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(Linear(4, 4), "x -> x"), ReLU])
    assert str(info.value).startswith(
        "step 1 ('module_1') is not a module instance: `ReLU` is a class; did you mean `ReLU()`?")
    assert info.value.location == Location("step", 1, "module_1", "module")
    with pytest.raises(HeaderError, match=r"`Linear` is a class; did you mean `Linear\(...\)`"):
        Sequential("x", [(Linear, "x -> x")])


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ("y, y", "Outputs name 'y' twice; each value is returned once."),
        (["y", "y"], "Outputs name 'y' twice; each value is returned once."),
        ("y -> z", "Outputs 'y -> z' hold '->': outputs are a list of value names"),
        ("y z", "Outputs 'y z' are not a list of names: has 'y z', which is not a valid name."),
        ("", "Outputs are empty"),
        ([3], "Outputs must be names (str); got int 3."),
    ],
)
def test_bad_outputs_raise_a_header_error_naming_them(outputs, message):
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(ReLU(), "x -> y")], outputs=outputs)
    assert str(info.value).startswith(message)
    assert info.value.location == Location("outputs")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Sequential("", [(ReLU(), "x -> x")]),
        lambda: Sequential("   ", [(ReLU(), "x -> x")]),
        lambda: Sequential("x", [(ReLU(), "x -> x")], outputs=""),
    ],
    ids=["empty inputs", "blank inputs", "empty outputs"],
)
def test_empty_text_gets_a_one_line_message_without_a_blank_context_line(build):
    with pytest.raises(HeaderError) as info:
        build()
    message = str(info.value)
    assert "empty" in message
    assert all(line.strip() for line in message.splitlines()), repr(message)


# Issue 16: messages show what the user wrote, records carry spans ------------------------------


def test_an_undefined_type_is_shown_in_the_input_args_as_the_user_wrote_them():
    with pytest.raises(HeaderError) as info:
        Sequential("x,   k:  Foo", [(torch.nn.ReLU(), "x -> y")])
    lines = str(info.value).splitlines()
    assert lines[1] == "    x,   k:  Foo"
    assert lines[2] == "    " + " " * 9 + "^^^"


def test_an_undefined_output_is_shown_in_the_outputs_as_the_user_wrote_them():
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(torch.nn.ReLU(), "x -> a")], outputs="a,   zz")
    lines = str(info.value).splitlines()
    assert lines[1:3] == ["    a,   zz", "         ^^"]


def test_an_undefined_read_written_in_another_unicode_form_gets_its_caret():
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(torch.nn.ReLU(), "ｙ -> a")])
    assert str(info.value).splitlines()[1:3] == ["    ｙ -> a", "    ^"]
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(torch.cat, "[x, ｙ] -> a")])
    assert str(info.value).splitlines()[1:3] == ["    [x, ｙ] -> a", "        ^"]


def test_an_undefined_keyword_value_gets_the_caret_under_the_value():
    with pytest.raises(HeaderError) as info:
        Sequential("x", [(torch.nn.ReLU(), "input=w -> a")])
    assert str(info.value).splitlines()[1:3] == ["    input=w -> a", "          ^"]


def test_a_type_name_in_another_unicode_form_resolves_as_python_reads_it():
    model = Sequential("x: Ｔensor", [(torch.nn.ReLU(), "x -> y")])
    assert model.signature.param_dict["x"].type is torch.Tensor


def test_an_ellipsis_default_gets_the_literal_default_message():
    with pytest.raises(HeaderError, match="Input default must be a literal") as info:
        Sequential("x, k=...", [(torch.nn.ReLU(), "x -> y")])
    assert info.value.span == (3, 8)


@pytest.mark.parametrize("outputs", [["a, b"], ["a", "b, c"], ["a -> b"]])
def test_each_item_of_a_list_of_outputs_is_one_name(outputs):
    with pytest.raises(HeaderError, match="list item .* is not a value name") as info:
        Sequential("x", [(lambda x: (x, x, x), "x -> a, b, c")], outputs=outputs)
    assert info.value.location == Location("outputs")


def test_a_list_of_outputs_keeps_the_grammars_checks():
    model = Sequential("x", [(lambda x: (x, x), "x -> a, b")], outputs=[" ｂ", "a"])
    assert model.plan.outputs == ("b", "a")
    with pytest.raises(HeaderError, match="Outputs name 'a' twice"):
        Sequential("x", [(lambda x: (x, x), "x -> a, b")], outputs=["a", "a"])
    with pytest.raises(HeaderError, match="list item 'b, a'"):
        Sequential("x", [(lambda x: (x, x), "x -> a, b")]).submodel(["b, a"])
