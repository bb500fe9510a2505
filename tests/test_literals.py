"""Literal arguments in headers (issue 22) reach every tool: diagrams, summaries, trimming."""

from __future__ import annotations

import torch
from torch_geometric.nn import GCNConv, SAGEConv

from graphseq import Sequential
from hop_batches import random_batch


def literal_model() -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index", [
        (GCNConv(8, 8), "x, edge_index, edge_weight=None -> x"),
        (SAGEConv(8, 4), "x, edge_index, None -> x"),
    ])


def test_a_literal_argument_is_a_constant_in_the_generated_call():
    assert "modules['module_0'](x, edge_index, edge_weight=None)" in literal_model().code
    model = Sequential("x", [(torch.add, "x, -1e999 -> y"), (torch.mul, "y, 0.5 -> z")])
    assert torch.equal(model(torch.zeros(2)), torch.full((2,), float("-inf")))


def test_diagrams_and_summaries_of_a_model_with_literals_show_the_dataflow():
    model = literal_model()
    assert "edge_index" in model.to_dot() and "None" not in model.to_dot()
    batch = random_batch([2, 3, 4], [4, 6], 8)
    assert "[9, 4]" in model.summary(batch.x, batch.edge_index)


def test_a_trimmed_call_passes_the_literal_as_the_plain_one_does():
    model = literal_model()
    batch = random_batch([2, 3, 4, 5], [4, 6, 8], 8)  # normalised GCNConv reaches 2 hops
    plain = model(batch.x, batch.edge_index)
    cut = model(batch.x, batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                num_sampled_edges_per_hop=batch.num_sampled_edges)
    seeds = batch.batch_size  # trimming is exact on the seed rows
    torch.testing.assert_close(cut[:seeds], plain[:seeds])
