"""Selecting, slicing and editing a model, and choosing its outputs."""

from __future__ import annotations

import inspect
from collections import OrderedDict

import pytest
import torch
from torch.nn import Dropout, Linear, ReLU
from torch_geometric.nn import GCNConv

from graphseq import HeaderError, Sequential
from tests.models import graph, jk_steps, named_gcn


def test_select_a_step_by_name():
    model = named_gcn()
    assert model["conv1"] is model.conv1 is model[1]


def test_a_slice_shares_children_and_reads_what_it_does_not_produce():
    model = named_gcn()
    part = model[1:4]
    assert isinstance(part, Sequential)
    assert [c.name for c in part.headers] == ["conv1", "act1", "conv2"]
    assert part.conv1 is model.conv1  # the same objects, not copies
    assert list(part.signature.param_dict) == ["x", "edge_index"]
    g = graph()
    with torch.no_grad():
        x1 = model.act1(model.conv1(g["x"], g["edge_index"]))
        assert torch.equal(part(g["x"], g["edge_index"]), model.conv2(x1, g["edge_index"]))


def test_a_slice_starting_at_a_headerless_step_gets_an_explicit_header():
    model = named_gcn()
    part = model[2:]
    assert part.plan.steps[0].text == "x1 -> x1"
    assert list(part.signature.param_dict) == ["x1", "edge_index"]
    assert part.plan.steps[2].text is None  # act2 stays headerless: it follows conv2


def test_slices_compose_back_to_the_whole_model():
    model = named_gcn()
    g = graph()
    with torch.no_grad():
        head = model[:2](g["x"], g["edge_index"])
        assert torch.equal(model[2:](head, g["edge_index"]),
                           model(g["x"], g["edge_index"], g["batch"]))


def test_slices_keep_types_and_defaults_of_original_inputs():
    model = Sequential("x: Tensor, w: Optional[Tensor] = None, k: int = 2",
                       [(lambda x, w: x if w is None else x * w, "x, w -> y"),
                        (lambda y, k: y * k, "y, k -> z")])
    part = model[1:]
    assert [(p.name, p.type_repr) for p in part.signature.param_dict.values()] == [
        ("y", "Tensor"), ("k", "int")]
    assert part.signature.param_dict["k"].default == 2
    assert torch.equal(part(torch.ones(1)), torch.full((1,), 2.0))


def test_bad_slices_raise():
    model = named_gcn()
    with pytest.raises(ValueError, match="step 1"):
        model[::2]
    with pytest.raises(ValueError, match="no steps"):
        model[3:3]


def test_append_insert_extend_edit_in_place_and_regenerate():
    model = Sequential("x", [(Linear(4, 4), "x -> h")])
    before = model.code
    model.append(ReLU())
    model.append(Linear(4, 2), "h -> y")
    assert len(model) == 3 and model.code != before
    model.insert(1, Dropout(0.0))
    assert [c.name for c in model.headers] == ["module_0", "module_3", "module_1", "module_2"]
    model.extend([ReLU(), [lambda y: y * 2, "y -> z"]])
    assert len(model) == 6
    x = torch.randn(3, 4)
    expected = model[4](model[3](model[1](model[0](x)).relu())) * 2
    torch.testing.assert_close(model(x), expected)
    assert "z = functions['module_5'](y)" in model.code


def test_a_rejected_edit_leaves_the_model_unchanged():
    model = named_gcn()
    before = (repr(model), model.code, list(model.state_dict()))
    g = graph()
    with torch.no_grad():
        out = model(g["x"], g["edge_index"], g["batch"])
    with pytest.raises(HeaderError, match="reads 'nope'"):
        model.append(ReLU(), "nope -> y")
    with pytest.raises(HeaderError, match="first step needs one"):
        model.insert(0, ReLU())
    with pytest.raises(HeaderError, match="is not callable"):
        model.extend([ReLU(), 3])
    with pytest.raises(HeaderError, match="tuple of 3 items"):
        model.extend([(ReLU(), "x2 -> y", "extra")])
    assert (repr(model), model.code, list(model.state_dict())) == before
    with torch.no_grad():
        assert torch.equal(model(g["x"], g["edge_index"], g["batch"]), out)


def test_outputs_select_named_values():
    g = graph()
    model = Sequential("x, edge_index, batch", jk_steps(), outputs="x, x1").eval()
    with torch.no_grad():
        out, x1 = model(g["x"], g["edge_index"], g["batch"])
        assert out.shape == (2, 3) and x1.shape == (6, 16)
    single = Sequential("x", [(Linear(2, 2), "x -> h"), (ReLU(), "h -> y")], outputs=["y"])
    assert isinstance(single(torch.randn(1, 2)), torch.Tensor)


def test_steps_that_reach_no_output_are_warned_about_by_name():
    with pytest.warns(UserWarning, match=r"step\(s\) 1 \('act'\)"):
        Sequential("x", OrderedDict(lin=(Linear(2, 2), "x -> h"), act=(ReLU(), "h -> y")),
                   outputs="h")


def test_outputs_survive_editing():
    model = Sequential("x", [(Linear(2, 2), "x -> h")], outputs="h")
    with pytest.warns(UserWarning, match="reach no output"):
        model.append(ReLU(), "h -> y")
    assert model.plan.outputs == ("h",)


# Edits are checked at once and built lazily (issue 7, items 13 and 17) -------------------------


def test_a_headerless_step_inserted_first_gets_a_hint_with_the_model_inputs():
    model = Sequential("h, adj", [(GCNConv(4, 4), "h, adj -> h")])
    with pytest.raises(HeaderError) as info:
        model.insert(0, ReLU())
    assert "the first step needs one, such as 'h, adj -> h'." in str(info.value)


def test_many_appends_generate_code_once(monkeypatch):
    import graphseq._codegen as codegen

    calls = []
    real = codegen.generate
    monkeypatch.setattr("graphseq._sequential.generate",
                        lambda plan, variant="eager": calls.append(variant) or real(plan, variant))
    model = Sequential("x", [(Linear(4, 4), "x -> x")])
    for _ in range(50):
        model.append(ReLU())
    assert calls == ["eager"]  # the constructor's
    x = torch.randn(2, 4)
    assert torch.equal(model(x), model[0](x).relu())
    assert calls == ["eager", "eager"]  # one build for all 50 appends, on first use
    assert model(x).shape == (2, 4) and len(calls) == 2


def test_appends_are_checked_at_once_even_though_code_is_built_later():
    model = Sequential("x", [(Linear(4, 4), "x -> h")])
    model.append(ReLU())
    with pytest.raises(HeaderError, match="reads 'nope'"):
        model.append(ReLU(), "nope -> y")
    with pytest.raises(HeaderError, match="cannot take"):
        model.append(Linear(4, 4), "h, h -> y")
    assert len(model) == 2 and [c.name for c in model.headers] == ["module_0", "module_1"]


def test_a_lazily_built_model_is_introspected_scripted_and_pickled_like_a_built_one():
    import pickle

    model = Sequential("x", [(Linear(4, 4), "x -> h")])
    model.append(ReLU())
    x = torch.randn(2, 4)
    assert list(inspect.signature(model.forward).parameters)[:1] == ["x"]
    again = pickle.loads(pickle.dumps(model))
    assert torch.equal(again(x), model(x))
    model.append(ReLU())
    assert torch.equal(torch.jit.script(model)(x), model(x))
    model.append(ReLU())
    assert "h = modules['module_3'](h)" in model.code
