"""graphseq.to_hetero against PyG's to_hetero: same outputs, same state_dict keys both ways.

The models are those of PyG's test_to_hetero_transformer.py that a graphseq model can declare,
each written twice: as PyG's hand-written module and as a graphseq model with the same child
names. PyG's to_hetero runs on both; graphseq's on the graphseq one.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.nn import Linear, ReLU
from torch_geometric.nn import BatchNorm, GCNConv, GINEConv, MessagePassing, SAGEConv
from torch_geometric.nn import Linear as LazyLinear
from torch_geometric.nn import to_hetero as pyg_to_hetero

import graphseq
from graphseq.hetero import HeteroError, HeteroLayer, PerType, PerTypeChain

METADATA = (["paper", "author"], [("paper", "cites", "paper"),
                                  ("paper", "written_by", "author"),
                                  ("author", "writes", "paper")])


GCN_METADATA = (["paper"], [("paper", "cites", "paper"), ("paper", "rev_cites", "paper")])


def typed_graph(n: int = 10, m: int = 20, seed: int = 0, metadata: Any = METADATA
                ) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    nodes, edges = metadata
    return {
        "x": {t: torch.randn(n + i, 16, generator=gen) for i, t in enumerate(nodes)},
        "x8": {t: torch.randn(n + i, 8, generator=gen) for i, t in enumerate(nodes)},
        "edge_index": {t: torch.stack([torch.randint(n + nodes.index(t[0]), (m,), generator=gen),
                                       torch.randint(n + nodes.index(t[2]), (m,), generator=gen)])
                       for t in edges},
        "edge_attr": {t: torch.randn(m, 8, generator=gen) for t in edges},
    }


# PyG's models, hand-written, and as graphseq models ------------------------------------------


class Net1(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = Linear(16, 32)
        self.lin2 = Linear(8, 16)

    def forward(self, x: Tensor, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        return self.lin1(x), self.lin2(edge_attr)


def net1() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_attr", {
        "lin1": (Linear(16, 32), "x -> x"),
        "lin2": (Linear(8, 16), "edge_attr -> edge_attr"),
    }, outputs="x, edge_attr")


class Net2(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = Linear(16, 16)
        self.conv1 = SAGEConv(16, 32)
        self.lin2 = Linear(32, 32)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.lin1(x).relu_()
        x = self.conv1(x, edge_index).relu_()
        return self.lin2(x)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def net2() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "lin1": (Linear(16, 16), "x -> x"),
        "act1": relu,
        "conv1": (SAGEConv(16, 32), "x, edge_index -> x"),
        "act2": ReLU(),
        "lin2": Linear(32, 32),
    })


class Net3(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = Linear(8, 16)
        self.conv1 = GINEConv(nn=Linear(16, 32))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        return self.conv1(x, edge_index, self.lin1(edge_attr))


def net3() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index, edge_attr", {
        "lin1": (Linear(8, 16), "edge_attr -> e"),
        "conv1": (GINEConv(nn=Linear(16, 32)), "x, edge_index, e -> x"),
    })


class Net4(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = SAGEConv(16, 16)
        self.conv2 = SAGEConv(16, 16)
        self.lin1 = Linear(3 * 16, 32)

    def forward(self, x0: Tensor, edge_index: Tensor) -> Tensor:
        x1 = self.conv1(x0, edge_index).relu_()
        x2 = self.conv2(x1, edge_index).relu_()
        return self.lin1(torch.cat([x0, x1, x2], dim=-1))


def cat(xs: list[Tensor]) -> Tensor:
    return torch.cat(xs, dim=-1)


def net4() -> graphseq.Sequential:
    return graphseq.Sequential("x0, edge_index", {
        "conv1": (SAGEConv(16, 16), "x0, edge_index -> x1"),
        "act1": (relu, "x1 -> x1"),
        "conv2": (SAGEConv(16, 16), "x1, edge_index -> x2"),
        "act2": (relu, "x2 -> x2"),
        "cat": (cat, "[x0, x1, x2] -> h"),
        "lin1": (Linear(3 * 16, 32), "h -> h"),
    })


class Net5(torch.nn.Module):  # Net5 of PyG with plain names: a layer plus a skip, twice
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.lin1 = SAGEConv(16, 16), Linear(16, 16)
        self.conv2, self.lin2 = SAGEConv(16, 16), Linear(16, 16)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.conv1(x, edge_index) + self.lin1(x)
        return self.conv2(x, edge_index) + self.lin2(x)


def add(a: Tensor, b: Tensor) -> Tensor:
    return a + b


def net5() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(16, 16), "x, edge_index -> a"),
        "lin1": (Linear(16, 16), "x -> b"),
        "add1": (add, "a, b -> x"),
        "conv2": (SAGEConv(16, 16), "x, edge_index -> a"),
        "lin2": (Linear(16, 16), "x -> b"),
        "add2": (add, "a, b -> x"),
    })


class Net7(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp1 = torch.nn.Sequential(Linear(16, 16), ReLU(), Linear(16, 16))
        self.conv1 = SAGEConv(16, 32)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.conv1(self.mlp1(x), edge_index)


def net7() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "mlp1": (torch.nn.Sequential(Linear(16, 16), ReLU(), Linear(16, 16)), "x -> x"),
        "conv1": (SAGEConv(16, 32), "x, edge_index -> x"),
    })


class Net8(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = LazyLinear(-1, 32)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin1(x)


def net8() -> graphseq.Sequential:
    return graphseq.Sequential("x", {"lin1": (LazyLinear(-1, 32), "x -> x")})


class Net9(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.batch_norm = BatchNorm(16)

    def forward(self, x: Tensor) -> Tensor:
        return self.batch_norm(x)


def net9() -> graphseq.Sequential:
    return graphseq.Sequential("x", {"batch_norm": (BatchNorm(16), "x -> x")})


class Net10(torch.nn.Module):
    """PyG's Net10 with a Dropout module: PyG's to_hetero bakes F.dropout's training flag
    in as traced (it warns), so in eval mode that model still drops; dropout_edge left out."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = torch.nn.Dropout(0.5)
        self.conv = SAGEConv(16, 32)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.conv(self.dropout(x), edge_index)


def net10() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "dropout": (torch.nn.Dropout(0.5), "x -> x"),
        "conv": (SAGEConv(16, 32), "x, edge_index -> x"),
    })


class GCN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = GCNConv(16, 32, add_self_loops=False)
        self.conv2 = GCNConv(32, 64, add_self_loops=False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index).relu()


def gcn() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "conv1": (GCNConv(16, 32, add_self_loops=False), "x, edge_index -> x"),
        "act1": relu,
        "conv2": (GCNConv(32, 64, add_self_loops=False), "x, edge_index -> x"),
        "act2": relu,
    })


class GraphConv(MessagePassing):  # PyG's test layer for the RGCN comparison
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(aggr="sum")
        self.lin = Linear(in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x: Any, edge_index: Tensor) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        return self.propagate(edge_index, x=(self.lin(x[0]), x[1]))


class RGCN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = GraphConv(16, 32)
        self.lin = Linear(16, 32, bias=True)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.lin(x) + self.conv(x, edge_index)


def rgcn() -> graphseq.Sequential:
    return graphseq.Sequential("x, edge_index", {
        "lin": (Linear(16, 32), "x -> a"),
        "conv": (GraphConv(16, 32), "x, edge_index -> b"),
        "add": (add, "a, b -> out"),
    })


CASES: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], graphseq.Sequential],
                       tuple[str, ...]]] = {
    "net1": (Net1, net1, ("x", "edge_attr")),
    "net2": (Net2, net2, ("x", "edge_index")),
    "net3": (Net3, net3, ("x", "edge_index", "edge_attr")),
    "net4": (Net4, net4, ("x", "edge_index")),
    "net5": (Net5, net5, ("x", "edge_index")),
    "net7": (Net7, net7, ("x", "edge_index")),
    "net8": (Net8, net8, ("x8",)),
    "net9": (Net9, net9, ("x",)),
    "net10": (Net10, net10, ("x", "edge_index")),
    "gcn": (GCN, gcn, ("x", "edge_index")),
    "rgcn": (RGCN, rgcn, ("x", "edge_index")),
}


def _inputs(names: tuple[str, ...], seed: int = 0, metadata: Any = METADATA) -> list[Any]:
    graph = typed_graph(seed=seed, metadata=metadata)
    return [graph[n] for n in names]


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _same(u, v)
        return
    assert isinstance(a, dict) and isinstance(b, dict)
    assert list(a) == list(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def _perturbed(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: (v + torch.rand_like(v) if v.is_floating_point() else v)
            for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("case", "aggr"), [(case, "sum") for case in CASES] + [
    ("net5", "mean"), ("net5", "max"), ("net5", "min"), ("net5", "mul"), ("rgcn", "mean")])
def test_outputs_and_state_dict_equal_pyg_to_hetero(case: str, aggr: str) -> None:
    hand_cls, make, names = CASES[case]
    metadata = GCN_METADATA if case == "gcn" else METADATA
    args = _inputs(names, metadata=metadata)
    torch.manual_seed(0)
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pyg_of_graphseq = pyg_to_hetero(model, metadata, aggr=aggr)
        pyg_of_hand = pyg_to_hetero(hand_cls(), metadata, aggr=aggr)
    ours = graphseq.to_hetero(model, metadata, aggr=aggr)
    assert isinstance(ours, graphseq.Sequential)
    assert [h.name for h in ours.headers] == [h.name for h in model.headers]
    for m in (pyg_of_graphseq, pyg_of_hand, ours):
        m.eval()
        with torch.no_grad():
            m(*args)  # lazy layers
    keys = list(ours.state_dict())
    assert keys == list(pyg_of_graphseq.state_dict())
    assert sorted(keys) == sorted(pyg_of_hand.state_dict())
    for pyg in (pyg_of_graphseq, pyg_of_hand):
        # PyG's checkpoint into graphseq's model, and graphseq's into PyG's, strictly.
        pyg.load_state_dict(_perturbed(pyg), strict=True)
        ours.load_state_dict(pyg.state_dict(), strict=True)
        _same(pyg(*args), ours(*args))
        ours.load_state_dict(_perturbed(ours), strict=True)
        pyg.load_state_dict(ours.state_dict(), strict=True)
        other = _inputs(names, seed=1, metadata=metadata)
        _same(pyg(*other), ours(*other))


def test_training_mode_gradients_equal_pyg() -> None:
    torch.manual_seed(0)
    model = net5()
    ours = graphseq.to_hetero(model, METADATA, aggr="mean")
    pyg = pyg_to_hetero(model, METADATA, aggr="mean")
    pyg.load_state_dict(ours.state_dict(), strict=True)
    args = _inputs(("x", "edge_index"))
    sum(v.square().sum() for v in ours(*args).values()).backward()
    sum(v.square().sum() for v in pyg(*args).values()).backward()
    grads = dict(pyg.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad)


def test_children_are_typed_per_edge_and_node_type() -> None:
    typed = graphseq.to_hetero(net7(), METADATA)
    assert isinstance(typed.conv1, HeteroLayer)
    assert [name for name, _ in typed.conv1.named_children()] == [
        "paper__cites__paper", "paper__written_by__author", "author__writes__paper"]
    assert isinstance(typed.mlp1, PerTypeChain) and isinstance(typed.mlp1[0], PerType)
    assert "mlp1.0.paper.weight" in typed.state_dict()
    assert typed.plan.steps[0].header == net7().plan.steps[0].header


def test_copies_are_reset_like_pyg_unless_one_type() -> None:
    typed = graphseq.to_hetero(net2(), METADATA)
    assert not torch.equal(typed.lin1.paper.weight, typed.lin1.author.weight)
    single = graphseq.to_hetero(net2(), (["paper"], [("paper", "cites", "paper")]))
    lin = net2()
    single_from = graphseq.to_hetero(lin, (["paper"], [("paper", "cites", "paper")]))
    assert torch.equal(single_from.lin1.paper.weight, lin.lin1.weight)
    assert single.lin1.paper.weight.shape == (16, 16)


def test_the_homogeneous_model_is_left_alone() -> None:
    model = net2()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graphseq.to_hetero(model, METADATA)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    out = model(torch.randn(3, 16), torch.tensor([[0, 1], [1, 2]]))
    assert out.shape == (3, 32)


def test_typed_model_pickles() -> None:
    typed = graphseq.to_hetero(net4(), METADATA)
    args = _inputs(("x", "edge_index"))
    back = pickle.loads(pickle.dumps(typed))
    _same(typed(*args), back(*args))


def test_missing_destination_type_is_refused_by_step() -> None:
    metadata = (["a", "b", "c"], [("a", "to", "b"), ("b", "to", "a"), ("c", "to", "a")])
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(4, 4), "x, edge_index -> x"),
        "conv2": (SAGEConv(4, 4), "x, edge_index -> x"),
    })
    with pytest.raises(HeteroError, match=r"step 1 \('conv2'\).*'c'"):
        graphseq.to_hetero(model, metadata)
    one = graphseq.Sequential("x, edge_index", {"conv1": (SAGEConv(4, 4), "x, edge_index -> x")})
    assert list(graphseq.to_hetero(one, metadata)(
        {t: torch.randn(2, 4) for t in "abc"},
        {t: torch.tensor([[0], [1]]) for t in metadata[1]})) == ["a", "b"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"aggr": "median"}, "aggr='median'"),
    ({"metadata": (["a"], [("a", "to", "z")])}, "does not list"),
    ({"metadata": (["a"], [])}, "at least one"),
    ({"metadata": (["a.b"], [("a.b", "to", "a.b")])}, "cannot name a child"),
    ({"metadata": (["a b", "a_b"], [("a b", "to", "a_b")])}, "same child name"),
    ({"input_map": {"y": "node"}}, "not inputs"),
    ({"input_map": {"x": "row"}}, "expected 'node'"),
    ({"combine": "venue"}, "combine='venue'"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    call: dict[str, Any] = {"metadata": METADATA, **kwargs}
    with pytest.raises(HeteroError, match=match):
        graphseq.to_hetero(net2(), **call)


def test_self_loops_on_bipartite_edge_types_are_refused() -> None:
    model = graphseq.Sequential("x, edge_index", {"conv": (GCNConv(16, 4), "x, edge_index -> x")})
    with pytest.raises(HeteroError, match=r"step 0 \('conv'\).*add_self_loops=False"):
        graphseq.to_hetero(model, METADATA)


def test_layer_with_two_outputs_is_refused() -> None:
    def two(x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        return x, x

    conv = SAGEConv(16, 16)
    model = graphseq.Sequential("x, edge_index", {
        "conv": (conv, "x, edge_index -> x"),
        "split": (two, "x, edge_index -> a, b"),
    })
    typed = graphseq.to_hetero(model, METADATA)  # an edge-level function: per edge type
    a, b = typed(*_inputs(("x", "edge_index")))
    assert set(a) == set(METADATA[1])

    class Two(MessagePassing):
        def forward(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
            return x, x

    bad = graphseq.Sequential("x, edge_index", {"conv": (Two(), "x, edge_index -> a, b")})
    with pytest.raises(HeteroError, match=r"step 0 \('conv'\).*more than one value"):
        graphseq.to_hetero(bad, METADATA)


def test_input_map_overrides_the_name_rule() -> None:
    model = graphseq.Sequential("x, ei", {"conv": (SAGEConv(16, 8), "x, ei -> x")})
    typed = graphseq.to_hetero(model, METADATA, input_map={"ei": "edge"})
    graph = typed_graph()
    out = typed(graph["x"], graph["edge_index"])
    assert set(out) == {"paper", "author"}


def _small() -> tuple[graphseq.Sequential, list[Any]]:
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(16, 8), "x, edge_index -> x"),
        "act": ReLU(),
        "conv2": (SAGEConv(8, 4), "x, edge_index -> x"),
    })
    return graphseq.to_hetero(model, METADATA), _inputs(("x", "edge_index"))


def test_summary_shows_per_type_shapes() -> None:
    typed, args = _small()
    text = typed.summary(*args)
    assert "Inputs: x {paper: [10, 16] float32, author: [11, 16] float32}" in text
    assert "{paper: [10, 4] float32, author: [11, 4] float32}" in text.splitlines()[-4]
    assert typed.recorded_shapes()[(0, "x")] == "{paper: [10, 8] float32, author: [11, 8] float32}"


def test_diagram_slicing_submodel_replace_and_clone_work_on_typed_models() -> None:
    typed, args = _small()
    dot = typed.to_dot()
    assert all(f'"{name}' in dot or name in dot for name in ("conv1", "act", "conv2"))
    full = typed(*args)
    head = typed[:2]
    assert isinstance(head, graphseq.Sequential) and len(head) == 2
    _same(head(*args), {k: v.relu() for k, v in typed.conv1(*args).items()})
    _same(typed.submodel("x")(*args), full)
    copied = typed.clone(lambda name, child: copy.deepcopy(child))
    _same(copied(*args), full)
    assert copied.conv1 is not typed.conv1
    elu = graphseq.hetero.PerType(torch.nn.ELU(), METADATA[0],
                                  graphseq.hetero.Call((graphseq.hetero.Slot("", ("node",)),)))
    typed.replace("act", elu)
    assert isinstance(typed.act.paper, torch.nn.ELU)
    assert set(typed(*args)) == {"paper", "author"}


def test_to_config_of_a_typed_model_is_refused_by_step() -> None:
    typed, _ = _small()
    with pytest.raises(ValueError, match=r"step 0 \('conv1'\)"):
        typed.to_config()


def _graph_level_inputs() -> tuple[Any, ...]:
    graph = typed_graph()
    batch = {t: torch.arange(x.size(0)) % 3 for t, x in graph["x"].items()}
    return graph["x"], graph["edge_index"], batch


def test_graph_level_model_equals_pyg_to_hetero() -> None:
    from torch_geometric.nn import MeanAggregation

    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index, batch", {
        "conv": (SAGEConv(16, 32), "x, edge_index -> x"),
        "pool": (MeanAggregation(), "x, batch -> g"),
        "lin": (Linear(32, 64), "g -> g"),
    })
    ours = graphseq.to_hetero(model, METADATA, aggr="mean")
    pyg = pyg_to_hetero(model, METADATA, aggr="mean")
    pyg.load_state_dict(ours.state_dict(), strict=True)
    args = _graph_level_inputs()
    torch.testing.assert_close(ours(*args), pyg(*args), rtol=0, atol=0)
    assert ours(*args).shape == (3, 64)


@pytest.mark.parametrize("combine", ["sum", "max", "cat", "author"])
def test_pooling_per_node_type_then_combine(combine: str) -> None:
    from torch_geometric.nn import global_add_pool

    model = graphseq.Sequential("x, edge_index, batch, n", {
        "conv": (SAGEConv(16, 4), "x, edge_index -> x"),
        "pool": (global_add_pool, "x, batch, size=n -> g"),
    })
    typed = graphseq.to_hetero(model, METADATA, input_map={"n": "graph"}, combine=combine)
    x, edge_index, batch = _graph_level_inputs()
    out = typed(x, edge_index, batch, 4)  # 4 graphs, the last one empty
    nodes = typed.conv(x, edge_index)
    pooled = [global_add_pool(nodes[t], batch[t], size=4) for t in METADATA[0]]
    want = {"sum": pooled[0] + pooled[1], "max": torch.max(pooled[0], pooled[1]),
            "cat": torch.cat(pooled, dim=-1), "author": pooled[1]}[combine]
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert out.shape[0] == 4


def test_pooling_that_reads_no_node_level_value_is_refused() -> None:
    from torch_geometric.nn import global_add_pool

    model = graphseq.Sequential("x, edge_attr, batch", {
        "pool": (global_add_pool, "edge_attr, batch -> g"),
    })
    with pytest.raises(HeteroError, match=r"step 0 \('pool'\).*node-level values only"):
        graphseq.to_hetero(model, METADATA)
