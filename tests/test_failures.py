"""Failures point at the step: type kept, a note naming the step, the generated line shown."""

from __future__ import annotations

import linecache
import traceback
from typing import Any

import pytest
import torch
from torch_geometric.nn import GCNConv, global_mean_pool

import graphseq


class StepFailed(Exception):
    """A user's own exception type, raised by a child."""


class Fails(torch.nn.Module):
    """Raises when told to, else passes its input through."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.armed:
            raise StepFailed("the child failed")
        return x


def lookup(x: torch.Tensor, table: dict[str, Any]) -> torch.Tensor:
    """A function child whose failure is a ``KeyError``."""
    return x * table["scale"]


def model_on(device: torch.device) -> graphseq.Sequential:
    torch.manual_seed(0)
    return graphseq.Sequential(
        "x, edge_index, batch",
        {
            "conv1": (GCNConv(4, 8), "x, edge_index -> x1"),
            "act": torch.nn.ReLU(),
            "check": (Fails(), "x1 -> x2"),
            "pool": (global_mean_pool, "x2, batch -> g"),
            "head": (torch.nn.Linear(8, 2), "g -> out"),
        },
    ).to(device).eval()


def graph(device: torch.device, features: int = 4) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, features, generator=g)
    edge_index = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    return tuple(t.to(device) for t in (x, edge_index, batch))


def notes(error: BaseException) -> list[str]:
    return list(getattr(error, "__notes__", []))


def test_custom_exception_keeps_its_type_and_names_the_step(device: torch.device) -> None:
    model = model_on(device)
    model.check.armed = True
    with pytest.raises(StepFailed, match="the child failed") as info:
        model(*graph(device))
    assert type(info.value) is StepFailed
    assert info.value.__cause__ is None
    assert notes(info.value) == ["graphseq: raised in step 2 ('check'): x1 -> x2"]


def test_shape_mismatch_in_linear_is_a_runtime_error_naming_the_step(
    device: torch.device,
) -> None:
    model = graphseq.Sequential(
        "x, edge_index, batch",
        {
            "conv1": (GCNConv(4, 8), "x, edge_index -> x1"),
            "pool": (global_mean_pool, "x1, batch -> g"),
            "head": (torch.nn.Linear(16, 2), "g -> out"),  # expects 16 features, gets 8
        },
    ).to(device)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as info:
        model(*graph(device))
    assert type(info.value) is RuntimeError
    assert notes(info.value) == ["graphseq: raised in step 2 ('head'): g -> out"]


def test_function_child_failure_names_the_step(device: torch.device) -> None:
    model = graphseq.Sequential(
        "x, table", {"lin": (torch.nn.Linear(4, 4), "x -> h"), "scale": (lookup, "h, table -> h")}
    ).to(device)
    x = torch.randn(2, 4, device=device)
    with pytest.raises(KeyError) as info:
        model(x, {})
    assert notes(info.value) == ["graphseq: raised in step 1 ('scale'): h, table -> h"]


def test_headerless_step_failure_shows_its_implied_header(device: torch.device) -> None:
    fails = Fails()
    fails.armed = True
    model = graphseq.Sequential(
        "x", [(torch.nn.Linear(4, 4), "x -> h"), torch.nn.ReLU(), fails]
    ).to(device)
    with pytest.raises(StepFailed) as info:
        model(torch.randn(2, 4, device=device))
    assert notes(info.value) == ["graphseq: raised in step 2 ('module_2'): h -> h"]


def test_nested_models_each_name_their_failing_step(device: torch.device) -> None:
    inner_fails = Fails()
    inner_fails.armed = True
    inner = graphseq.Sequential("a", {"inner_lin": (torch.nn.Linear(4, 4), "a -> b"),
                                      "inner_check": (inner_fails, "b -> b")})
    outer = graphseq.Sequential(
        "x", {"block": (inner, "x -> y"), "out": (torch.nn.ReLU(), "y -> y")}
    ).to(device)
    with pytest.raises(StepFailed) as info:
        outer(torch.randn(2, 4, device=device))
    assert notes(info.value) == [
        "graphseq: raised in step 1 ('inner_check'): b -> b",
        "graphseq: raised in step 0 ('block'): x -> y",
    ]


def test_traceback_shows_the_generated_source_line(device: torch.device) -> None:
    model = model_on(device)
    with pytest.raises(RuntimeError) as info:
        model(*graph(device, features=5))  # conv1 expects 4 features
    text = "".join(traceback.format_exception(info.value))
    assert "x1 = modules['conv1'](x, edge_index)" in text
    assert type(model).forward.__code__.co_filename in text
    assert "graphseq: raised in step 0 ('conv1'): x, edge_index -> x1" in text


def test_traceback_shows_the_generated_line_after_linecache_is_cleared(
    device: torch.device,
) -> None:
    """Tools clear ``linecache``; the source must come back (``linecache.lazycache``)."""
    model = model_on(device)
    model.check.armed = True
    linecache.clearcache()
    with pytest.raises(StepFailed) as info:
        model(*graph(device))
    text = "".join(traceback.format_exception(info.value))
    assert "x2 = modules['check'](x1)" in text


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m, x, e, b: m(x), id="too-few"),
        pytest.param(lambda m, x, e, b: m(x, e, b, b), id="too-many"),
        pytest.param(lambda m, x, e, b: m(x, e, batches=b), id="wrong-name"),
        pytest.param(lambda m, x, e, b: m(x, e, b, x=x), id="given-twice"),
        pytest.param(lambda m, x, e, b: m(inputs=x, edges=e, batch=b), id="all-wrong-names"),
    ],
)
def test_wrong_arguments_to_forward_raise_type_error_showing_the_signature(
    call: Any, device: torch.device
) -> None:
    model = model_on(device)
    with pytest.raises(TypeError) as info:
        call(model, *graph(device))
    shown = str(info.value) + "\n".join(notes(info.value))
    assert "(x, edge_index, batch)" in shown
    assert not any("raised in step" in n for n in notes(info.value))


def test_type_error_inside_a_child_names_the_step_not_the_signature(
    device: torch.device,
) -> None:
    model = graphseq.Sequential("x", [(torch.nn.Linear(4, 4), "x -> h"), (torch.cat, "h -> h")])
    with pytest.raises(TypeError) as info:
        model.to(device)(torch.randn(2, 4, device=device))
    assert notes(info.value) == ["graphseq: raised in step 1 ('module_1'): h -> h"]


def test_model_keeps_working_after_a_failure(device: torch.device) -> None:
    model = model_on(device)
    inputs = graph(device)
    with torch.no_grad():
        before = model(*inputs)
        model.check.armed = True
        for _ in range(3):
            with pytest.raises(StepFailed):
                model(*inputs)
        with pytest.raises(TypeError):
            model(inputs[0])
        with pytest.raises(RuntimeError):
            model(*graph(device, features=5))
        model.check.armed = False
        after = model(*inputs)
    assert torch.equal(after, before)
    error_notes = []
    model.check.armed = True
    try:
        model(*inputs)
    except StepFailed as error:
        error_notes = notes(error)
    assert len(error_notes) == 1  # notes do not pile up across failures


# Generated code never depends on names user values can shadow (issue 7, item 11) ---------------


@pytest.mark.parametrize("name", ["Exception", "error", "modules", "functions", "add_step_note",
                                  "Error", "getattr", "len", "self_"])
def test_value_names_that_shadow_helpers_or_builtins_keep_the_step_note(name: str) -> None:
    def fail(x):
        raise ValueError("boom")

    model = graphseq.Sequential("x", [(torch.nn.Identity(), f"x -> {name}"),
                                      (fail, f"{name} -> y")])
    with pytest.raises(ValueError, match="boom") as info:
        model(torch.ones(1))
    assert notes(info.value) == [f"graphseq: raised in step 1 ('module_1'): {name} -> y"]
