"""Trimming is exact or refuses: K-hop layers, graph-level norms, edge rewrites, stale state."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn import BatchNorm1d, Dropout, Linear, ReLU
from torch_geometric.nn import (
    APPNP,
    AntiSymmetricConv,
    ARMAConv,
    ChebConv,
    GCNConv,
    GraphNorm,
    InstanceNorm,
    LayerNorm,
    PairNorm,
    SAGEConv,
    SGConv,
    SSGConv,
    TAGConv,
)
from torch_geometric.utils import add_self_loops, coalesce, to_undirected

from graphseq import Sequential
from graphseq.trim import TrimError, analysis, explain, mark, set_kinds
from hop_batches import HopBatch, random_batch

NODES = "num_sampled_nodes_per_hop"
EDGES = "num_sampled_edges_per_hop"
C = 6


def counts(b: HopBatch) -> dict[str, list[int]]:
    return {NODES: b.num_sampled_nodes, EDGES: b.num_sampled_edges}


def seeds_equal(model: Sequential, b: HopBatch) -> None:
    model = model.double()
    x = b.x.double()
    torch.testing.assert_close(model(x, b.edge_index, **counts(b))[: b.batch_size],
                               model(x, b.edge_index)[: b.batch_size], rtol=1e-9, atol=1e-9)


def deep_batch(hops: int, seed: int = 0) -> HopBatch:
    nodes = [3] + [4 + 2 * k for k in range(hops)]
    edges = [3 * nodes[k] for k in range(hops)]
    return random_batch(nodes, edges, C, seed=seed)


@pytest.mark.parametrize(("layer", "hops"), [
    (TAGConv(C, C, K=2), 3),  # K propagations and the sources' in-degree (gcn_norm)
    (TAGConv(C, C, K=2, normalize=False), 2),
    (APPNP(K=2, alpha=0.1), 3),
    (SGConv(C, C, K=2), 3),
    (SSGConv(C, C, alpha=0.1, K=2), 3),
    (ARMAConv(C, C, num_layers=2), 3),
    (GCNConv(C, C), 2),
    (AntiSymmetricConv(C, num_iters=2), 4),  # num_iters x its GCNConv phi's 2 hops
])
def test_a_k_hop_layer_takes_its_hops_and_is_exact(layer: Any, hops: int) -> None:
    torch.manual_seed(0)
    model = Sequential("x, edge_index", [(SAGEConv(C, C), "x, edge_index -> x"), ReLU(),
                                         (layer, "x, edge_index -> x")])
    found = analysis(model)
    assert found.steps[2].hops == hops and found.hops == 1 + hops
    seeds_equal(model, deep_batch(1 + hops))
    with pytest.raises(TrimError, match=f"depend on {1 + hops} hops"):
        seeds_equal(model, deep_batch(hops))


def test_a_marked_layer_declares_its_hops() -> None:
    def two_hops(x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            x = x.index_add(0, edge_index[1], x[edge_index[0]])
        return x

    model = Sequential("x, edge_index", [(mark(two_hops, "layer", hops=2), "x, edge_index -> x"),
                                         (SAGEConv(C, C), "x, edge_index -> x")])
    assert analysis(model).hops == 3
    seeds_equal(model, deep_batch(3))
    with pytest.raises(TrimError, match="only a layer has hops"):
        mark(ReLU(), "rowwise", hops=2)
    with pytest.raises(TrimError, match="at least 1 hop"):
        mark(ReLU(), "layer", hops=0)


def between_layers(child: Any, header: str = "x -> x") -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index", [(SAGEConv(C, C), "x, edge_index -> x"),
                                        (child, header),
                                        (SAGEConv(C, C), "x, edge_index -> x")])


def bn(training: bool) -> BatchNorm1d:
    norm = BatchNorm1d(C)
    norm.running_mean.uniform_(-1, 1)
    return norm.train(training)


@pytest.mark.parametrize(("child", "header", "reason"), [
    (GraphNorm(C), "x -> x", "statistics over all nodes"),
    (LayerNorm(C), "x -> x", "mode='graph'"),  # PyG's default mode
    (InstanceNorm(C), "x -> x", "statistics over all nodes"),
    (PairNorm(), "x -> x", "statistics over all nodes"),
    (bn(training=True), "x -> x", "in training mode"),
    (lambda x: x - x.mean(0), "x -> x", "does not know how it treats rows"),
    (ChebConv(C, C, K=2), "x, edge_index -> x", "largest edge weight"),
])
def test_a_step_that_mixes_rows_is_refused_by_name(child: Any, header: str, reason: str) -> None:
    model = between_layers(child, header)
    b = deep_batch(3)
    with pytest.raises(TrimError, match=r"step 1 \('module_1'\)") as info:
        model(b.x, b.edge_index, **counts(b))
    message = str(info.value)
    assert reason in message and header in message and "mark(child, 'rowwise')" in message
    assert "cannot trim" in explain(model)
    model(b.x, b.edge_index)  # untrimmed calls are untouched


@pytest.mark.parametrize("child", [
    bn(training=False), LayerNorm(C, mode="node"), torch.nn.LayerNorm(C), Dropout(0.0),
    Linear(C, C), torch.nn.Sequential(Linear(C, C), torch.nn.GELU()),
    mark(lambda x: x * 2, "rowwise"), torch.tanh,
])
def test_a_known_rowwise_child_is_exact(child: Any) -> None:
    model = between_layers(child)
    assert analysis(model).steps[1].role == "rowwise"
    seeds_equal(model.eval(), deep_batch(2))


def test_a_graph_level_norm_before_any_layer_reads_whole_rows_and_is_exact() -> None:
    torch.manual_seed(0)
    model = Sequential("x, edge_index", [(GraphNorm(C), "x -> h"),
                                         (SAGEConv(C, C), "h, edge_index -> x"),
                                         (SAGEConv(C, C), "x, edge_index -> x")])
    seeds_equal(model, deep_batch(2))


@pytest.mark.parametrize("rewrite", [coalesce, add_self_loops, to_undirected])
def test_an_edge_index_rewrite_is_refused_where_its_output_is_cut(rewrite: Any) -> None:
    fn = rewrite
    if rewrite is add_self_loops:
        def fn(edge_index: torch.Tensor) -> torch.Tensor:
            return add_self_loops(edge_index)[0]
    model = Sequential("x, edge_index", [(fn, "edge_index -> ei"),
                                         (SAGEConv(C, C), "x, ei -> x"),
                                         (SAGEConv(C, C), "x, ei -> x")])
    b = deep_batch(2)
    with pytest.raises(TrimError, match=r"step 0 \('module_0'\) makes 'ei', which step 2 "
                                        r"\('module_2'\) reads trimmed to level 1"):
        model(b.x, b.edge_index, **counts(b))


def test_marks_training_modes_and_edits_are_never_stale() -> None:
    lin = Linear(C, C)
    model = Sequential("x, edge_index", [(SAGEConv(C, C), "x, edge_index -> x"),
                                         (lin, "x -> x"), (SAGEConv(C, C), "x, edge_index -> x")])
    b = deep_batch(3)
    model(b.x, b.edge_index, **counts(b))
    mark(lin, "layer")
    assert "step 1 ('module_1'): layer (1 hop) at level 1, cuts x" in explain(model)
    assert analysis(model).hops == 3
    model(b.x, b.edge_index, **counts(b))
    norm = bn(training=False)
    model.replace(1, norm, "x -> x")
    assert analysis(model).error is None
    model.train()
    assert "in training mode" in str(analysis(model).error)
    model.eval()
    model.append(GraphNorm(C))
    assert "step 3 ('module_3')" in str(analysis(model).error)


def test_trimming_state_is_out_of_reach_of_step_names_and_set_kinds_folds_names() -> None:
    model = Sequential("x, edge_index, u", {
        "_graphseq_trim_kinds": (torch.add, "x, u -> y"),
        "conv": (SAGEConv(C, C), "y, edge_index -> y"),
        "conv2": (SAGEConv(C, C), "y, edge_index -> ｙ"),
    })
    set_kinds(model, other=["u"], node=["ｙ"])  # a fullwidth y, as headers fold it
    assert analysis(model).kinds["y"] == "node"
    b = deep_batch(2)
    u = torch.randn(1, C)
    out = model(b.x, b.edge_index, u, **counts(b))
    torch.testing.assert_close(out[:3], model(b.x, b.edge_index, u)[:3])
