"""torch.compile captures as much of a graphseq model as of a hand-written one, whatever breaks.

A child that breaks the graph (``GCNConv``'s ``add_remaining_self_loops``, a ``.item()``, a branch
on a tensor's value) must not leave the rest of the generated ``forward`` uncompiled: the
forward has no ``try`` (the step notes are added by ``Sequential.__call__``), so dynamo resumes
after the break as it does in a hand-written module.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch import Tensor, nn
from torch._dynamo.testing import CompileCounter
from torch_geometric.nn import GCNConv

from graphseq import Sequential
from tests.models import graph

# Dynamo itself reads .grad of a non-leaf tensor when it resumes after a break with autograd on;
# the hand-written module raises the same warning (torch 2.13).
pytestmark = pytest.mark.filterwarnings(
    "ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning")


class Item(nn.Module):
    """Breaks the graph with ``.item()``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * x.abs().max().item()


class Branch(nn.Module):
    """Breaks the graph with a branch on a tensor's value."""

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:
            return x * 2
        return -x


class Fails(nn.Module):
    """Raises when armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: Tensor) -> Tensor:
        if self.armed:
            raise ValueError("the child failed")
        return x


class Hand(nn.Module):
    """The hand-written module with the same children: ``first(*inputs)``, an optional
    breaking child after a ReLU, then five Linear/ReLU pairs, written out (a graph break
    inside a ``for`` loop over children would stop dynamo in a hand-written module too)."""

    def __init__(self, first: nn.Module, breaker: nn.Module | None, tail: list[nn.Module]) -> None:
        super().__init__()
        self.first, self.breaker = first, breaker
        self.relu = nn.ReLU()
        self.l1, self.r1, self.l2, self.r2, self.l3, self.r3, self.l4, self.r4, self.l5, self.r5 = (
            tail)

    def forward(self, *inputs: Tensor) -> Tensor:
        x = self.first(*inputs)
        if self.breaker is not None:
            x = self.relu(x)
            x = self.breaker(x)
        x = self.r1(self.l1(x))
        x = self.r2(self.l2(x))
        x = self.r3(self.l3(x))
        x = self.r4(self.l4(x))
        return self.r5(self.l5(x))

    def steps(self, input_args: str) -> list[object]:
        """The same children as graphseq steps."""
        middle = [] if self.breaker is None else [self.relu, self.breaker]
        tail = [self.l1, self.r1, self.l2, self.r2, self.l3, self.r3, self.l4, self.r4, self.l5,
                self.r5]
        return [(self.first, f"{input_args} -> x"), *middle, *tail]


def _case(name: str) -> tuple[Hand, str, tuple[Tensor, ...]]:
    torch.manual_seed(0)
    tail = [m for _ in range(5) for m in (nn.Linear(16, 16), nn.ReLU())]
    if name == "GCNConv":
        g = graph()
        return Hand(GCNConv(g["x"].size(1), 16), None, tail), "x, edge_index", (g["x"],
                                                                               g["edge_index"])
    breaker = Item() if name == ".item()" else Branch()
    return Hand(nn.Linear(8, 16), breaker, tail), "x", (torch.randn(6, 8),)


def _counted(model: nn.Module, inputs: tuple[Tensor, ...], **options: bool) -> CompileCounter:
    torch._dynamo.reset()
    counter = CompileCounter()
    out = torch.compile(model, backend=counter, **options)(*inputs)
    torch.testing.assert_close(out, model(*inputs))
    return counter


@pytest.mark.parametrize("name", ["GCNConv", ".item()", "data-dependent branch"])
def test_compile_captures_as_many_ops_as_a_hand_written_module_in_no_more_frames(
    name: str,
) -> None:
    hand, input_args, inputs = _case(name)
    ours = _counted(Sequential(input_args, hand.steps(input_args)), inputs)
    theirs = _counted(hand, inputs)
    assert theirs.frame_count > 1  # the child does break the graph
    assert ours.frame_count <= theirs.frame_count
    assert ours.op_count >= theirs.op_count
    # The five Linear/ReLU pairs after the break are compiled, not run eagerly.
    assert ours.op_count >= 10


def test_explain_finds_the_graphs_of_a_hand_written_module() -> None:
    hand, input_args, inputs = _case("GCNConv")
    model = Sequential(input_args, hand.steps(input_args)).eval()
    torch._dynamo.reset()
    with torch.no_grad():
        ours = torch._dynamo.explain(model)(*inputs)
        torch._dynamo.reset()
        theirs = torch._dynamo.explain(hand.eval())(*inputs)
    assert ours.graph_count == theirs.graph_count
    assert ours.graph_break_count == theirs.graph_break_count
    assert [len(g.graph.nodes) for g in ours.graphs] == [len(g.graph.nodes) for g in theirs.graphs]


def test_a_step_failing_after_a_graph_break_is_named_under_compile() -> None:
    fails = Fails()
    model = Sequential("x", [(nn.Linear(4, 4), "x -> x"), Item(), nn.Linear(4, 4), fails])
    torch._dynamo.reset()
    compiled = torch.compile(model, backend=CompileCounter())
    x = torch.randn(3, 4)
    compiled(x)
    fails.armed = True
    with pytest.raises(ValueError, match="the child failed") as info:
        compiled(x)
    # The code after the break runs in a frame of its own, called from the breaking step's
    # line: the note names the step that raised, not that one.
    assert info.value.__notes__ == ["graphseq: raised in step 3 ('module_3'): x -> x"]


def test_fullgraph_compiles_a_model_without_breaks_in_one_frame() -> None:
    torch.manual_seed(0)
    model = Sequential("x", [(nn.Linear(4, 4), "x -> h"), nn.ReLU(),
                             (lambda h, x: torch.cat([h, x], -1), "h, x -> y")])
    counter = _counted(model, (torch.randn(3, 4),), fullgraph=True)
    assert counter.frame_count == 1 and counter.op_count == 3


def test_module_compile_keeps_the_step_note() -> None:
    fails = Fails()
    model = Sequential("x", [(nn.Linear(4, 4), "x -> x"), Item(), fails])
    torch._dynamo.reset()
    model.compile(backend="eager")
    x = torch.randn(3, 4)
    model(x)
    fails.armed = True
    with pytest.raises(ValueError) as info:
        model(x)
    assert info.value.__notes__ == ["graphseq: raised in step 2 ('module_2'): x -> x"]


def test_module_compile_runs_the_compiled_call() -> None:
    # Sequential.__call__ inlines torch's Module.__call__: Module.compile() must still be used.
    counter = CompileCounter()
    model = Sequential("x", [(nn.Linear(4, 4), "x -> x"), nn.ReLU()])
    torch._dynamo.reset()
    model.compile(backend=counter)
    x = torch.randn(3, 4)
    assert torch.equal(model(x), model.forward(x))
    assert counter.frame_count == 1 and counter.op_count == 2


def test_the_inlined_call_is_torchs() -> None:
    # What Sequential.__call__ inlines; a torch that changes Module.__call__ must be looked at.
    assert torch.nn.Module.__call__ is torch.nn.Module._wrapped_call_impl
