"""graphseq models work with TorchScript, fx, to_hetero, torch.compile and torch.export."""

from __future__ import annotations

import io

import pytest
import torch
import torch._dynamo
import torch.fx
from torch.nn import Linear, ReLU
from torch_geometric.data import HeteroData
from torch_geometric.nn import JumpingKnowledge, SAGEConv, global_mean_pool, to_hetero

from graphseq import Sequential
from tests.models import gcn_steps, graph, jk_steps


def _inputs(device: str):
    g = graph()
    return {k: v.to(device) for k, v in g.items()}


def _sage_jk() -> list:
    # PyG's scripted GCNConv does not survive torch.jit.save/load on torch 2.13 (an upstream
    # type-refinement error, with or without graphseq), so the round trip uses SAGEConv.
    torch.manual_seed(0)
    return [
        (SAGEConv(8, 16), "x, edge_index -> x1"),
        ReLU(),
        (SAGEConv(16, 16), "x1, edge_index -> x2"),
        (JumpingKnowledge("cat", 16, num_layers=2), "[x1, x2] -> x"),
        (global_mean_pool, "x, batch -> x"),
        Linear(32, 3),
    ]


def test_torchscript_scripts_the_jk_example(device):
    g = _inputs(device)
    model = Sequential("x, edge_index, batch", jk_steps()).to(device).eval()
    scripted = torch.jit.script(model)
    expected = model(g["x"], g["edge_index"], g["batch"])
    assert torch.equal(scripted(g["x"], g["edge_index"], g["batch"]), expected)
    # scripting hands TorchScript a twin: the eager model keeps its fast forward
    assert "modules['module_0']" in model.code


def test_torchscript_saves_and_loads(device):
    g = _inputs(device)
    model = Sequential("x, edge_index, batch", _sage_jk()).to(device).eval()
    scripted = torch.jit.script(model)
    expected = model(g["x"], g["edge_index"], g["batch"])
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer, map_location=device)
    assert torch.equal(loaded(g["x"], g["edge_index"], g["batch"]), expected)


def test_torchscript_uses_the_typed_input_args():
    model = Sequential(
        "x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None",
        [(torch.nn.Identity(), "x -> x")],
    )
    scripted = torch.jit.script(model)
    schema = str(scripted.forward.schema)
    assert "Tensor? edge_weight=None" in schema
    assert torch.equal(scripted(torch.ones(2), torch.ones(2)), torch.ones(2))


def test_two_scripted_models_do_not_share_a_type():
    a = torch.jit.script(Sequential("x", [(Linear(2, 3), "x -> x")]))
    b = torch.jit.script(Sequential("x", [(Linear(2, 4), "x -> x"), ReLU()]))
    x = torch.randn(5, 2)
    assert a(x).shape == (5, 3) and b(x).shape == (5, 4)


def test_fx_symbolic_trace_matches_eager():
    model = Sequential("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h"),
                             (lambda h, x: h + x, "h, x -> y")]).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(3, 4)
    assert torch.equal(traced(x), model(x))


def test_to_hetero_converts_a_graphseq_model():
    torch.manual_seed(0)
    model = Sequential("x, edge_index", [
        (SAGEConv((-1, -1), 16), "x, edge_index -> x"),
        ReLU(),
        (SAGEConv((-1, -1), 8), "x, edge_index -> x"),
    ])
    data = HeteroData()
    data["paper"].x = torch.randn(5, 4)
    data["author"].x = torch.randn(3, 6)
    data["author", "writes", "paper"].edge_index = torch.tensor([[0, 1, 2], [0, 2, 4]])
    data["paper", "rev_writes", "author"].edge_index = torch.tensor([[0, 2, 4], [0, 1, 2]])
    hetero = to_hetero(model, data.metadata(), aggr="sum")
    out = hetero(data.x_dict, data.edge_index_dict)
    assert out["paper"].shape == (5, 8) and out["author"].shape == (3, 8)


def _graph_breaks(module: torch.nn.Module, *args) -> int:
    torch._dynamo.reset()
    with torch.no_grad():
        return torch._dynamo.explain(module.eval())(*args).graph_break_count


class HandGCN(torch.nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.conv1, self.relu1, self.conv2, self.relu2, self.lin = (
            s[0] if isinstance(s, tuple) else s for s in steps)

    def forward(self, x, edge_index):
        x = self.relu1(self.conv1(x, edge_index))
        return self.lin(self.relu2(self.conv2(x, edge_index)))


def test_compile_adds_no_graph_breaks_over_a_hand_written_module():
    g = graph()
    steps = gcn_steps()
    model = Sequential("x, edge_index", steps)
    hand = HandGCN(steps)
    ours = _graph_breaks(model, g["x"], g["edge_index"])
    theirs = _graph_breaks(hand, g["x"], g["edge_index"])
    assert ours <= theirs
    chain = Sequential("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h"),
                             (lambda h, x: torch.cat([h, x], -1), "h, x -> y")])
    assert _graph_breaks(chain, torch.randn(2, 4)) == 0


def test_compile_fullgraph_gives_the_eager_result(device):
    torch._dynamo.reset()
    g = _inputs(device)
    model = Sequential("x, edge_index, batch", jk_steps()).to(device).eval()
    compiled = torch.compile(model, fullgraph=True)
    expected = model(g["x"], g["edge_index"], g["batch"])
    torch.testing.assert_close(compiled(g["x"], g["edge_index"], g["batch"]), expected)


def test_export_gives_the_eager_result():
    g = graph()
    model = Sequential("x, edge_index", gcn_steps()).eval()
    exported = torch.export.export(model, (g["x"], g["edge_index"]))
    torch.testing.assert_close(exported.module()(g["x"], g["edge_index"]),
                               model(g["x"], g["edge_index"]))


def test_step_errors_inside_compiled_models_still_propagate():
    torch._dynamo.reset()
    model = Sequential("x", [(Linear(3, 3), "x -> x")])
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with pytest.raises(RuntimeError):
        compiled(torch.randn(2, 5))


# Subclasses (issue 7, item 7) ------------------------------------------------------------------


class Doubled(Sequential):
    """A subclass whose own forward calls the generated one through ``super()``."""

    def forward(self, x):
        return super().forward(x) * 2


class Described(Sequential):
    """A subclass that adds a method but keeps the generated forward."""

    def describe(self) -> str:
        return f"{len(self)} steps"


def _doubled() -> Doubled:
    torch.manual_seed(0)
    return Doubled("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h")]).eval()


def test_a_subclass_forward_survives_pickling_and_copies():
    import copy
    import pickle

    model = _doubled()
    x = torch.randn(3, 4)
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert isinstance(twin, Doubled)
        assert torch.equal(twin(x), model(x))
    assert torch.equal(model(x), 2 * model[1](model[0](x)))


def test_a_subclass_forward_is_traced_by_fx():
    model = _doubled()
    traced = torch.fx.symbolic_trace(model)
    assert any(n.op == "call_function" and "mul" in str(n.target) for n in traced.graph.nodes)
    x = torch.randn(3, 4)
    assert torch.equal(traced(x), model(x))


def test_a_subclass_forward_compiles_in_one_graph():
    torch._dynamo.reset()
    model = _doubled()
    x = torch.randn(3, 4)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))


def test_a_subclass_without_forward_scripts_and_a_subclass_with_one_traces():
    torch.manual_seed(0)
    model = Described("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h")]).eval()
    x = torch.randn(3, 4)
    assert torch.equal(torch.jit.script(model)(x), model(x))
    assert model.describe() == "2 steps"
    doubled = _doubled()  # TorchScript cannot compile super() calls: trace it instead
    assert torch.equal(torch.jit.trace(doubled, (x,))(x), doubled(x))
