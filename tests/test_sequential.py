"""The module itself: forward, its own class and source, children, and the nn.Module contract."""

from __future__ import annotations

import inspect
import linecache
import textwrap
import threading
from collections import OrderedDict
from typing import Optional

import pytest
import torch
import torch.fx
from torch import Tensor
from torch.nn import Identity, Linear, ReLU
from torch_geometric.nn import GCNConv, MessagePassing

from graphseq import Child, HeaderError, Parameter, Sequential, Signature
from tests.models import freeing_steps, gcn_steps, graph, jk_steps, rich_steps


def hand_gcn(steps, x, edge_index):
    conv1, relu1, conv2, relu2, lin = (s[0] if isinstance(s, tuple) else s for s in steps)
    return lin(relu2(conv2(relu1(conv1(x, edge_index)), edge_index)))


TRIM = ("num_sampled_nodes_per_hop", "num_sampled_edges_per_hop")  # keyword-only (issue 10)


def positional(fn):
    """The parameters of ``fn`` a caller passes as the model's inputs."""
    return [n for n, p in inspect.signature(fn).parameters.items() if p.kind != p.KEYWORD_ONLY]

def test_forward_matches_calling_the_children_by_hand():
    g = graph()
    steps = gcn_steps()
    model = Sequential("x, edge_index", steps)
    assert torch.equal(model(g["x"], g["edge_index"]), hand_gcn(steps, g["x"], g["edge_index"]))


def test_forward_takes_positional_and_keyword_arguments():
    g = graph()
    model = Sequential("x, edge_index", gcn_steps()).eval()
    expected = model(g["x"], g["edge_index"])
    assert torch.equal(model(x=g["x"], edge_index=g["edge_index"]), expected)
    assert torch.equal(model(g["x"], edge_index=g["edge_index"]), expected)


def test_a_value_given_twice_or_missing_raises_type_error_naming_it():
    g = graph()
    model = Sequential("x, edge_index", gcn_steps())
    with pytest.raises(TypeError, match="multiple values for argument 'x'") as info:
        model(g["x"], g["edge_index"], x=g["x"])
    assert "forward(x, edge_index)" in "".join(info.value.__notes__)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'edge_index'"):
        model(g["x"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch'"):
        model(g["x"], g["edge_index"], batch=g["batch"])


def test_several_outputs_are_returned_as_a_tuple():
    model = Sequential("x", [(lambda x: (x + 1, x - 1), "x -> a, b")])
    a, b = model(torch.zeros(2))
    assert torch.equal(a, torch.ones(2)) and torch.equal(b, -torch.ones(2))


def test_headerless_steps_take_and_rebind_the_previous_outputs():
    def swap(a, b):
        return b, a

    model = Sequential("a, b", [(swap, "a, b -> p, q"), swap])
    assert model.headers[1] == Child("module_1", ["p", "q"], ["p", "q"])
    p, q = model(torch.tensor(1), torch.tensor(2))
    assert (p.item(), q.item()) == (1, 2)


def test_default_input_values_are_used():
    model = Sequential(
        "x, edge_index, edge_weight: Optional[Tensor] = None",
        [(GCNConv(8, 4), "x, edge_index, edge_weight -> x")],
    ).eval()
    g = graph()
    conv = model[0]
    assert torch.equal(model(g["x"], g["edge_index"]), conv(g["x"], g["edge_index"]))
    assert torch.equal(
        model(g["x"], g["edge_index"], g["edge_weight"]),
        conv(g["x"], g["edge_index"], g["edge_weight"]),
    )


def test_each_instance_has_its_own_forward_with_real_parameter_names():
    a = Sequential("x", [(Linear(2, 2), "x -> x")])
    b = Sequential("h, k", [(lambda h, k: h + k, "h, k -> y")])
    assert isinstance(a, Sequential) and isinstance(b, Sequential)
    assert type(a).forward is not type(b).forward
    assert positional(a.forward) == ["x"]
    assert positional(b.forward) == ["h", "k"]
    assert type(a).__name__ == "Sequential"


def test_fx_tracing_one_model_gives_its_own_graph_after_another_is_built():
    a = Sequential("x", [(Linear(2, 2), "x -> x")])
    Sequential("x, y", [(lambda x, y: x * y, "x, y -> z")])
    traced = torch.fx.symbolic_trace(a)
    placeholders = [n.target for n in traced.graph.nodes if n.op == "placeholder"]
    assert [p for p in placeholders if p not in TRIM] == ["x"]
    x = torch.randn(3, 2)
    assert torch.equal(traced(x), a(x))


def test_models_built_in_threads_keep_their_own_forward():
    results: dict[int, bool] = {}

    def work(i: int) -> None:
        for _ in range(50):
            model = Sequential("x", [(lambda x, i=i: x + i, "x -> y")])
            results[i] = bool(torch.equal(model(torch.zeros(1)), torch.full((1,), float(i))))
            if not results[i]:
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: True for i in range(8)}


def test_code_is_the_generated_source_and_inspect_can_read_it():
    model = Sequential("x, edge_index", OrderedDict(
        conv=(GCNConv(8, 8), "x, edge_index -> x1"), act=(ReLU(), "x1 -> x1")))
    assert "x1 = modules['conv'](x, edge_index)" in model.code
    assert textwrap.dedent(inspect.getsource(model.forward)) == model.code
    filename = type(model).forward.__code__.co_filename
    assert textwrap.indent(model.code, "    ") in "".join(linecache.getlines(filename))


def test_intermediate_values_are_released_at_their_last_use():
    model = Sequential("x, edge_index, batch", jk_steps())
    lines = [line.strip() for line in model.code.splitlines()]
    # x1 and x2 are freed right after jumping knowledge reads them, not at the end.
    jk = lines.index("x = modules['module_5']([x1, x2])")
    assert lines[jk + 1] == "del x1, x2"
    assert "del edge_index" in lines[lines.index("x2 = modules['module_3'](x1, edge_index)") + 1]


def test_intermediates_are_actually_freed_during_forward():
    steps, refs = freeing_steps()
    model = Sequential("x", steps)
    model(torch.ones(1000))
    assert refs["freed"] is True


def test_children_are_registered_and_functions_kept():
    model = Sequential("x, edge_index, batch", jk_steps())
    names = [name for name, _ in model.named_children()]
    assert names == ["module_0", "module_1", "module_2", "module_3", "module_4", "module_5",
                     "module_7"]
    assert callable(model.module_6) and model[6] is model.module_6
    assert "module_1.lin.weight" in model.state_dict()
    named = Sequential("x, edge_index, edge_weight, batch", rich_steps())
    assert "conv1.lin.weight" in named.state_dict()
    assert named.conv1 is named["conv1"] is named[0]
    assert named["head"] is named[-1]


def test_getitem_out_of_range_and_unknown_names_raise():
    model = Sequential("x, edge_index", gcn_steps())
    with pytest.raises(IndexError):
        model[5]
    with pytest.raises(IndexError):
        model[-6]
    with pytest.raises(KeyError, match="no step named 'nope'"):
        model["nope"]


def test_len_train_eval_to_and_hooks_work_as_for_any_module():
    g = graph()
    model = Sequential("x, edge_index, batch", jk_steps())
    assert len(model) == 8
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model = model.to(torch.float64).eval()
    assert model[1].lin.weight.dtype == torch.float64

    calls: list[str] = []
    model[1].register_forward_hook(lambda m, i, o: calls.append("conv"))
    handle = model.register_forward_pre_hook(lambda m, args: calls.append("model"))
    model(g["x"].double(), g["edge_index"], g["batch"])
    assert calls == ["model", "conv"]
    handle.remove()


def test_reset_parameters_resets_each_child_that_can():
    model = Sequential("x, edge_index", gcn_steps())
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(123)
    model.reset_parameters()
    after = list(model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_signature_and_headers_report_the_declared_dataflow():
    model = Sequential(
        "x: Tensor, edge_index: Tensor, w: Optional[Tensor] = None -> Tensor",
        [(GCNConv(8, 8), "x, edge_index, edge_weight=w -> x1"), (ReLU(), "x1 -> x1")],
    )
    sig = model.signature
    assert isinstance(sig, Signature)
    expected = Parameter("w", Optional[Tensor], "Optional[Tensor]", None)  # noqa: UP045
    assert sig.param_dict["w"] == expected
    assert sig.param_dict["x"].default is inspect.Parameter.empty
    assert (sig.return_type, sig.return_type_repr) == (Tensor, "Tensor")
    assert model.headers == [
        Child("module_0", ["x", "edge_index", "w"], ["x1"]),
        Child("module_1", ["x1"], ["x1"]),
    ]
    assert all(isinstance(n, str) for c in model.headers for n in c.param_names)


def test_types_resolve_from_pyg_typing_and_the_callers_globals():
    class Marker:
        pass

    globals()["LocalMarker"] = Marker
    try:
        model = Sequential("x: OptTensor, adj: Adj, m: LocalMarker", [(Identity(), "x -> x")])
        assert model.signature.param_dict["m"].type is Marker
    finally:
        del globals()["LocalMarker"]


def test_repr_follows_the_reference_format():
    model = Sequential("x, edge_index", [
        (GCNConv(16, 64), "x, edge_index -> x"),
        ReLU(inplace=True),
    ])
    assert repr(model) == (
        "Sequential(\n"
        "  (0) - GCNConv(16, 64): x, edge_index -> x\n"
        "  (1) - ReLU(inplace=True): x -> x\n"
        ")"
    )


def test_subclasses_keep_their_class_and_methods():
    class MyModel(Sequential):
        def extra(self) -> str:
            return "extra"

    model = MyModel("x", [(Linear(2, 2), "x -> x")])
    assert isinstance(model, MyModel) and model.extra() == "extra"
    assert type(model).__name__ == "MyModel"
    with pytest.raises(ValueError, match="would shadow an attribute"):
        MyModel("x", {"extra": (lambda x: x, "x -> x")})


def test_nested_sequentials_work_as_children():
    inner = Sequential("x, edge_index", gcn_steps())
    outer = Sequential("x, edge_index", [(inner, "x, edge_index -> h"), (ReLU(), "h -> h")])
    g = graph()
    assert torch.equal(outer(g["x"], g["edge_index"]), inner(g["x"], g["edge_index"]).relu())
    assert "module_0.module_0.lin.weight" in outer.state_dict()


def test_message_passing_children_can_be_traced_as_leaves():
    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: torch.nn.Module, name: str) -> bool:
            return isinstance(m, MessagePassing) or super().is_leaf_module(m, name)

    model = Sequential("x, edge_index", gcn_steps())
    graph_ = Tracer().trace(model)
    targets = [n.target for n in graph_.nodes if n.op == "call_module"]
    assert targets == ["module_0", "module_1", "module_2", "module_3", "module_4"]


def test_a_model_holding_a_lambda_cannot_be_pickled_but_list_packing_can():
    import pickle

    from torch_geometric.nn import JumpingKnowledge

    with_lambda = Sequential("x1, x2", [(lambda x1, x2: [x1, x2], "x1, x2 -> xs"),
                                        (JumpingKnowledge("cat"), "xs -> x")])
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(with_lambda)
    packed = Sequential("x1, x2", [(JumpingKnowledge("cat"), "[x1, x2] -> x")])
    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(pickle.loads(pickle.dumps(packed))(a, b), packed(a, b))


def test_types_written_over_several_lines_keep_the_line_to_step_map():
    def fail(z):
        raise ZeroDivisionError("boom")

    model = Sequential("x: Optional[  # a comment\n Tensor] -> Optional[\nTensor]",
                       [(lambda x: x, "x -> z"), (fail, "z -> w")])
    assert model.code.splitlines()[0] == (
        "def forward(self, x: Optional[Tensor], *, num_sampled_nodes_per_hop=None, "
        "num_sampled_edges_per_hop=None) -> Optional[Tensor]:")
    with pytest.raises(ZeroDivisionError) as info:
        model(torch.ones(1))
    assert info.value.__notes__ == ["graphseq: raised in step 1 ('module_1'): z -> w"]


# Step names as torch.nn.Module.add_module accepts them (issue 7, item 8) ---------------------


def test_any_name_add_module_accepts_is_a_step_name():
    steps = OrderedDict([("0", (Linear(4, 4), "x -> x")), ("act 1", ReLU()),
                         ("conv-1", (lambda x: x * 2, "x -> y")), ("class", Identity())])
    model = Sequential("x", steps)
    assert list(model.state_dict()) == ["0.weight", "0.bias"]
    assert model["0"] is model[0] and model["act 1"] is model[1]
    assert getattr(model, "act 1") is model[1]
    x = torch.randn(2, 4)
    torch.testing.assert_close(model(x), model[0](x).relu() * 2)
    assert "modules['act 1'](x)" in model.code and "functions['conv-1'](x)" in model.code
    text = model.summary(x)
    assert "act 1" in text and "conv-1" in text
    assert '"s1" [label=<<TABLE' in model.to_dot() and "1: act 1" in model.to_dot()
    assert "1: act 1" in model.to_mermaid()


def test_identifier_step_names_are_attributes():
    model = Sequential("x", OrderedDict(lin=(Linear(4, 4), "x -> x"), act=ReLU()))
    assert model.lin is model["lin"] is model[0]


def test_step_names_with_a_dot_or_empty_are_refused():
    with pytest.raises(HeaderError, match=r"cannot contain '\.'"):
        Sequential("x", OrderedDict([("a.b", (ReLU(), "x -> x"))]))
    with pytest.raises(HeaderError, match="cannot be empty"):
        Sequential("x", OrderedDict([("", (ReLU(), "x -> x"))]))


def test_torchscript_scripts_steps_with_non_identifier_names():
    model = Sequential("x", OrderedDict([("0", (Linear(4, 4), "x -> x")), ("act 1", ReLU())]))
    scripted = torch.jit.script(model)
    x = torch.randn(2, 4)
    assert torch.equal(scripted(x), model(x))


# Subclasses keep their forward (issue 7, item 7) ----------------------------------------------


class Doubled(Sequential):
    def forward(self, x):
        return super().forward(x) * 2


def test_a_subclass_forward_is_kept_and_super_runs_the_generated_one():
    model = Doubled("x", [(Identity(), "x -> x")])
    assert torch.equal(model(torch.ones(2)), torch.full((2,), 2.0))
    assert list(inspect.signature(model.forward).parameters) == ["x"]
    model.append(ReLU())  # edits keep it too
    assert torch.equal(model(-torch.ones(2)), torch.zeros(2))
    assert isinstance(model[:1], Doubled)


def test_a_child_swapped_through_the_module_dict_runs_at_once() -> None:
    # The forward looks children up in the live module dict (docs/speed.md): setattr,
    # add_module and DataParallel-style writes take effect without a rebuild.
    model = Sequential("x", [(torch.nn.Linear(3, 3), "x -> h"), (torch.nn.ReLU(), "h -> y")])
    x = torch.randn(4, 3)
    model(x)
    other = torch.nn.Linear(3, 3)
    model.module_0 = other
    assert torch.equal(model(x), other(x).relu())
    model.add_module("module_1", torch.nn.Tanh())
    assert torch.equal(model(x), other(x).tanh())
