"""Differential tests: graphseq and torch_geometric.nn.Sequential agree on the same modules."""

from __future__ import annotations

import tempfile

import pytest
import torch
from torch.nn import Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge, SAGEConv, global_mean_pool
from torch_geometric.nn import Sequential as Reference

from graphseq import Sequential
from tests.models import gcn_steps, graph, jk_steps


@pytest.fixture(autouse=True)
def _reference_temp_files(tmp_path, monkeypatch):
    """The reference writes two temp files per build; keep them in this test's folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _both(input_args, steps):
    return Sequential(input_args, steps).eval(), Reference(input_args, steps).eval()


def test_gcn_example_gives_identical_outputs_repr_and_headers():
    g = graph()
    ours, ref = _both("x, edge_index", gcn_steps())
    assert torch.equal(ours(g["x"], g["edge_index"]), ref(g["x"], g["edge_index"]))
    assert repr(ours) == repr(ref)
    assert ours.headers == ref._children
    assert ours.signature == ref.signature
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_jumping_knowledge_list_packing_matches_the_reference_lambda():
    g = graph()
    steps = jk_steps()
    ours = Sequential("x, edge_index, batch", steps).eval()
    reference_steps = list(steps)
    reference_steps[5] = (lambda x1, x2: [x1, x2], "x1, x2 -> xs")
    reference_steps.insert(6, (steps[5][0], "xs -> x"))
    ref = Reference("x, edge_index, batch", reference_steps).eval()
    assert torch.equal(ours(g["x"], g["edge_index"], g["batch"]),
                       ref(g["x"], g["edge_index"], g["batch"]))


@pytest.mark.parametrize("seed", range(5))
def test_random_dags_agree_with_the_reference(seed):
    """Random skip connections over SAGE/GCN/linear steps, each reading any earlier value."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    names = ["x"]
    steps = []
    for i in range(6):
        src = names[int(torch.randint(len(names), (1,), generator=gen))]
        kind = int(torch.randint(3, (1,), generator=gen))
        out = f"h{i}"
        if kind == 0:
            steps.append((GCNConv(8, 8), f"{src}, edge_index -> {out}"))
        elif kind == 1:
            steps.append((SAGEConv(8, 8), f"{src}, edge_index -> {out}"))
        else:
            steps.append((Linear(8, 8), f"{src} -> {out}"))
        names.append(out)
    steps.append((JumpingKnowledge("max"), f"[{', '.join(names[1:])}] -> y"))
    ours = Sequential("x, edge_index", steps).eval()
    reference_steps = steps[:-1] + [
        (lambda *xs: list(xs), f"{', '.join(names[1:])} -> xs"),
        (steps[-1][0], "xs -> y"),
    ]
    ref = Reference("x, edge_index", reference_steps).eval()
    g = graph()
    assert torch.equal(ours(g["x"], g["edge_index"]), ref(g["x"], g["edge_index"]))


def test_several_outputs_and_functions_agree():
    def split_half(x):
        return x[:, :4], x[:, 4:]

    steps = [(split_half, "x -> a, b"), (ReLU(), "a -> a"),
             (lambda a, b: a * b, "a, b -> c"), (global_mean_pool, "c, batch -> c")]
    ours, ref = _both("x, batch", steps)
    g = graph()
    assert torch.equal(ours(g["x"], g["batch"]), ref(g["x"], g["batch"]))
    assert repr(ours) == repr(ref)


def test_keyword_calls_agree():
    ours, ref = _both("x, edge_index", gcn_steps())
    g = graph()
    assert torch.equal(ours(edge_index=g["edge_index"], x=g["x"]),
                       ref(edge_index=g["edge_index"], x=g["x"]))


@pytest.mark.parametrize("names", [("0", "1", "2"), ("conv-1", "act 1", "lin")])
def test_step_names_add_module_accepts_build_with_the_reference_state_dict_keys(names):
    from collections import OrderedDict

    torch.manual_seed(0)
    lin1, act, lin2 = Linear(16, 8), ReLU(), Linear(8, 2)
    steps = OrderedDict([(names[0], (lin1, "x -> x")), (names[1], (act, "x -> x")),
                         (names[2], (lin2, "x -> x"))])
    ours, ref = Sequential("x", steps).eval(), Reference("x", steps).eval()
    x = torch.randn(3, 16)
    assert torch.equal(ours(x), lin2(lin1(x).relu()))
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert ours[names[0]] is ours[0] is lin1


def test_topk_pooling_header_with_none_and_discards_matches_the_reference():
    """Issue 22's header: a literal ``None`` argument and ``_`` written three times."""
    from torch_geometric.nn import GINConv, TopKPooling

    torch.manual_seed(0)
    header = "x, edge_index, None, batch -> x, edge_index, _, batch, _, _"
    layers = [(GINConv(Linear(4, 4)), "x, edge_index -> x"), (TopKPooling(4, 0.5), header)]
    ours, ref = _both("x, edge_index, batch", layers)
    g = graph()
    x = torch.randn(g["x"].size(0), 4)
    mine, theirs = ours(x, g["edge_index"], g["batch"]), ref(x, g["edge_index"], g["batch"])
    assert len(mine) == len(theirs) == 6
    for a, b in zip(mine, theirs, strict=True):
        assert torch.equal(a, b)
    assert [c.return_names for c in ours.headers] == [c.return_names for c in ref._children]
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_literal_arguments_and_a_read_discard_match_the_reference():
    def pick(x, k, scale=1.0, mode="sum", flag=False):
        return (x * scale if mode == "sum" else x - k) + int(flag), x.sum(), x.mean()

    steps = [(pick, "x, 2, scale=0.5, mode='sum', flag=True -> y, _, _"),
             (torch.add, "y, _ -> z")]  # reads the last '_' written, as Python does
    ours, ref = _both("x", steps)
    x = torch.randn(3, 2)
    assert torch.equal(ours(x), ref(x))


def test_models_built_after_the_same_random_seed_each_run_their_own_steps():
    # The reference names its generated module with random.randrange and reuses a loaded one
    # of the same name (docs/migrating.md); graphseq draws no names.
    import random

    random.seed(0)
    first = Sequential("x", [(Linear(4, 2), "x -> x")])
    random.seed(0)
    second = Sequential("x", [(Linear(4, 5), "x -> x"), (Linear(5, 1), "x -> x")])
    x = torch.randn(2, 4)
    assert first(x).shape == (2, 2)
    assert torch.equal(second(x), second[1](second[0](x)))


def test_a_model_built_in_a_notebook_cell_runs_its_own_steps():
    # A cell's file is no module: the reference's generated import fails, silently, and its
    # model runs the forward of the last reference model built (docs/migrating.md).
    Reference("x", [(Linear(4, 2), "x -> x")])  # a model built elsewhere first
    cell = "model = Sequential('x', [(Linear(4, 5), 'x -> x'), (Linear(5, 1), 'x -> x')])"
    namespace = {"Sequential": Sequential, "Linear": Linear}
    exec(compile(cell, "/tmp/ipykernel_1234/2271.py", "exec"), namespace)
    model, x = namespace["model"], torch.randn(2, 4)
    assert torch.equal(model(x), model[1](model[0](x)))
