"""Trimming keeps TorchScript, fx, to_hetero, torch.compile and torch.export working."""

from __future__ import annotations

import warnings

import torch
import torch._dynamo
from torch._dynamo.utils import counters
from torch.nn import ReLU
from torch_geometric.data import HeteroData
from torch_geometric.nn import SAGEConv, to_hetero
from torch_geometric.nn.fx import symbolic_trace

from graphseq import Sequential
from hop_batches import HopBatch, random_graph, sample

NODES = "num_sampled_nodes_per_hop"
EDGES = "num_sampled_edges_per_hop"


def sage(channels: int = 8) -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index", [
        (SAGEConv(channels, 16), "x, edge_index -> x1"), ReLU(),
        (SAGEConv(16, 16), "x1, edge_index -> x2"),
        (torch.add, "x1, x2 -> x"),
    ])


def batches(count: int) -> list[HopBatch]:
    graph = random_graph(400, 4000, 8)
    return [sample(graph, torch.arange(3 + 2 * i, 9 + 3 * i), [5 + i, 3], seed=i)
            for i in range(count)]


def test_torchscript_compiles_the_untrimmed_forward() -> None:
    model = sage()
    b = batches(1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted(b.x, b.edge_index), model(b.x, b.edge_index))


def test_fx_traces_the_untrimmed_body_and_ignores_counts() -> None:
    model = sage()
    b = batches(1)[0]
    traced = symbolic_trace(model)  # PyG's tracer: message passing children are leaves
    assert not any("trim" in str(node.target) for node in traced.graph.nodes)
    expected = model(b.x, b.edge_index)
    torch.testing.assert_close(traced(b.x, b.edge_index), expected)
    cut = traced(b.x, b.edge_index, **{NODES: b.num_sampled_nodes, EDGES: b.num_sampled_edges})
    torch.testing.assert_close(cut[: b.batch_size], expected[: b.batch_size])


def test_to_hetero_converts_a_model_with_the_trimming_keywords() -> None:
    data = HeteroData()
    data["paper"].x = torch.randn(6, 8)
    data["author"].x = torch.randn(4, 8)
    data["author", "writes", "paper"].edge_index = torch.tensor([[0, 1, 2, 3], [0, 2, 4, 5]])
    data["paper", "rev", "author"].edge_index = torch.tensor([[0, 2, 4, 5], [0, 1, 2, 3]])
    model = Sequential("x, edge_index", [
        (SAGEConv((-1, -1), 16), "x, edge_index -> x1"), ReLU(),
        (SAGEConv((-1, -1), 16), "x1, edge_index -> x2"),
        (torch.add, "x1, x2 -> x"),
    ])
    hetero = to_hetero(model, data.metadata(), aggr="sum")
    out = hetero(data.x_dict, data.edge_index_dict)
    assert out["paper"].shape == (6, 16) and out["author"].shape == (4, 16)


def test_compile_with_dynamic_shapes_trims_every_batch_without_breaks_or_recompiles() -> None:
    model = sage()
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, dynamic=True, backend="eager")
    for b in batches(3):
        got = compiled(b.x, b.edge_index, num_sampled_nodes_per_hop=b.num_sampled_nodes,
                       num_sampled_edges_per_hop=b.num_sampled_edges)
        assert got.size(0) == sum(b.num_sampled_nodes[:2])  # trimmed
        torch.testing.assert_close(got[: b.batch_size],
                                   model(b.x, b.edge_index)[: b.batch_size])
    assert dict(counters["graph_break"]) == {}
    assert counters["stats"]["unique_graphs"] == 1
    torch._dynamo.reset()


def test_export_specializes_the_counts_of_the_example_batch() -> None:
    model = sage()
    b = batches(1)[0]
    kwargs = {NODES: b.num_sampled_nodes, EDGES: b.num_sampled_edges}
    exported = torch.export.export(model, (b.x, b.edge_index), kwargs)
    expected = model(b.x, b.edge_index, **kwargs)
    torch.testing.assert_close(exported.module()(b.x, b.edge_index, **kwargs), expected)
    plain = torch.export.export(model, (b.x, b.edge_index))
    torch.testing.assert_close(plain.module()(b.x, b.edge_index), model(b.x, b.edge_index))


def test_compiled_training_step_matches_eager() -> None:
    model = sage()
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="eager")  # the default: sizes specialised first
    b = batches(1)[0]
    kwargs = {NODES: b.num_sampled_nodes, EDGES: b.num_sampled_edges}
    compiled(b.x, b.edge_index, **kwargs)[: b.batch_size].sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(b.x, b.edge_index)[: b.batch_size].sum().backward()
    for got, expected in zip(grads, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, expected)
    torch._dynamo.reset()
