"""``model.call_on(data)`` reads each of the model's inputs from a PyG data object by name."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.datasets import KarateClub
from torch_geometric.nn import GCNConv, SAGEConv, global_mean_pool

import graphseq


def _gcn() -> graphseq.Sequential:
    torch.manual_seed(0)
    return graphseq.Sequential('x, edge_index, edge_weight=None', [
        (GCNConv(34, 8), 'x, edge_index, edge_weight -> x'),
        torch.nn.ReLU(),
    ])


def test_call_on_data_equals_passing_its_tensors_by_name():
    data = KarateClub()[0]
    model = _gcn()
    assert torch.equal(model.call_on(data), model(data.x, data.edge_index))


def test_call_on_uses_a_stored_attribute_over_the_default_and_keywords_over_both():
    data = KarateClub()[0]
    data.edge_weight = torch.rand(data.num_edges)
    model = _gcn()
    assert torch.equal(model.call_on(data), model(data.x, data.edge_index, data.edge_weight))
    ones = torch.ones(data.num_edges)
    assert torch.equal(model.call_on(data, edge_weight=ones), model(data.x, data.edge_index, ones))


def test_call_on_a_batch_reads_the_batch_vector():
    graphs = [Data(x=torch.randn(n, 3), edge_index=torch.tensor([[0, 1], [1, 0]])) for n in (3, 5)]
    from torch_geometric.data import Batch

    batch = Batch.from_data_list(graphs)
    model = graphseq.Sequential('x, edge_index, batch', [
        (SAGEConv(3, 4), 'x, edge_index -> x'), (global_mean_pool, 'x, batch -> x'),
    ])
    out = model.call_on(batch)
    assert out.shape == (2, 4)
    assert torch.equal(out, model(batch.x, batch.edge_index, batch.batch))


def test_call_on_hetero_data_reads_the_dict_properties():
    data = HeteroData()
    data['paper'].x = torch.randn(4, 3)
    data['author'].x = torch.randn(2, 3)
    data['author', 'writes', 'paper'].edge_index = torch.tensor([[0, 1], [2, 3]])
    seen = {}

    def record(x_dict, edge_index_dict):
        seen.update(x=x_dict, e=edge_index_dict)
        return x_dict['paper']

    model = graphseq.Sequential('x_dict, edge_index_dict', [
        (record, 'x_dict, edge_index_dict -> out'),
    ])
    assert torch.equal(model.call_on(data), data['paper'].x)
    assert set(seen['x']) == {'paper', 'author'}
    assert set(seen['e']) == {('author', 'writes', 'paper')}


def test_call_on_a_dict():
    model = _gcn()
    x, edge_index = torch.randn(34, 34), torch.tensor([[0, 1], [1, 2]])
    assert torch.equal(model.call_on({'x': x, 'edge_index': edge_index}), model(x, edge_index))


def test_call_on_names_a_missing_input_and_what_the_data_has():
    model = graphseq.Sequential('x, edge_index, edge_attr', [
        (lambda x, e, a: x, 'x, edge_index, edge_attr -> x'),
    ])
    data = Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0], [1]]))
    with pytest.raises(TypeError) as info:
        model.call_on(data)
    message = str(info.value)
    assert "'edge_attr' is not an attribute of the Data (it has edge_index, x)" in message
    assert "model.call_on(data, edge_attr=...)" in message


def test_call_on_refuses_a_keyword_that_is_not_an_input():
    with pytest.raises(TypeError, match="'edge_wieght', which is not one of the model's inputs"):
        _gcn().call_on(KarateClub()[0], edge_wieght=None)
