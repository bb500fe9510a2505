"""Per-hop trimming: exact seed outputs and gradients for any dataflow, and clear errors."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn import Linear, ReLU
from torch_geometric.nn import (
    APPNP,
    GATConv,
    GCNConv,
    GINConv,
    GraphConv,
    GraphNorm,
    GraphSAGE,
    JumpingKnowledge,
    LayerNorm,
    SAGEConv,
    TAGConv,
    global_mean_pool,
)
from torch_geometric.utils import coalesce

from graphseq import Sequential
from graphseq.trim import TrimError, analysis, explain, mark, set_kinds, trimmed_code
from hop_batches import HopBatch, random_batch, random_graph, sample

NODES = "num_sampled_nodes_per_hop"
EDGES = "num_sampled_edges_per_hop"


def counts(batch: HopBatch) -> dict[str, list[int]]:
    return {NODES: batch.num_sampled_nodes, EDGES: batch.num_sampled_edges}


def inputs(batch: HopBatch, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    return {
        "x": batch.x.to(dtype).requires_grad_(),
        "edge_index": batch.edge_index,
        "w": batch.edge_weight.to(dtype).requires_grad_(),
    }


def seed_outputs_and_grads(
    model: Sequential, batch: HopBatch, trimmed: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The seed rows of the output, and the gradients of a loss on them."""
    model.zero_grad()
    given = inputs(batch)
    out = model(*given.values(), **(counts(batch) if trimmed else {}))
    seeds = out[: batch.batch_size]
    weights = torch.linspace(-1.0, 1.0, seeds.numel(), dtype=seeds.dtype).view_as(seeds)
    (seeds * weights).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    grads.update({f"input {k}": v.grad.clone() for k, v in given.items() if v.grad is not None})
    return seeds.detach(), grads


def assert_exact(model: Sequential, batch: HopBatch) -> None:
    plain, plain_grads = seed_outputs_and_grads(model, batch, trimmed=False)
    cut, cut_grads = seed_outputs_and_grads(model, batch, trimmed=True)
    torch.testing.assert_close(cut, plain, rtol=1e-9, atol=1e-9)
    assert cut_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cut_grads[name], grad, rtol=1e-9, atol=1e-9, msg=name)


# Generated dataflows -----------------------------------------------------------------------

HIDDEN = 6


def layer(kind: str) -> tuple[Any, str]:
    """A message-passing step reading ``{x}`` with the given edge handling."""
    if kind == "sage":
        return SAGEConv(HIDDEN, HIDDEN), "{x}, {ei} -> {out}"
    if kind == "graph_weighted":
        return GraphConv(HIDDEN, HIDDEN), "{x}, {ei}, edge_weight=w -> {out}"
    if kind == "graph_positional":
        return GraphConv(HIDDEN, HIDDEN), "{x}, {ei}, w -> {out}"
    if kind == "gin":
        return GINConv(Linear(HIDDEN, HIDDEN)), "{x}, {ei} -> {out}"
    if kind == "tag":  # 3 hops: K=2 propagations and the sources' in-degrees
        return TAGConv(HIDDEN, HIDDEN, K=2), "{x}, {ei} -> {out}"
    if kind == "appnp":
        return APPNP(K=2, alpha=0.2), "{x}, {ei} -> {out}"
    if kind == "gcn":  # 2 hops (gcn_norm)
        return GCNConv(HIDDEN, HIDDEN), "{x}, {ei} -> {out}"
    return GATConv(HIDDEN, HIDDEN, heads=1), "{x}, {ei} -> {out}"


def norm(kind: str) -> Any:
    """A step between layers: exact (BatchNorm in eval) or graph-level (must refuse)."""
    if kind == "bn_eval":
        bn = torch.nn.BatchNorm1d(HIDDEN)
        bn.running_mean.uniform_(-1, 1)
        return bn.eval()
    if kind == "graphnorm":
        return GraphNorm(HIDDEN)
    if kind == "layernorm_graph":
        return LayerNorm(HIDDEN)  # PyG's default mode='graph'
    return torch.nn.BatchNorm1d(HIDDEN).train()


REFUSED_NORMS = ("graphnorm", "layernorm_graph", "bn_train")


@st.composite
def dataflows(draw: st.DrawFn) -> tuple[Sequential, bool]:
    """A model of 1 to 3 layers (1, 2 or 3 hops each) with random skips, residual sums, norms,
    an edge-index rewrite and a random readout; and whether trimming must refuse it."""
    num_layers = draw(st.integers(1, 3))
    steps: dict[str, Any] = {"enc": (Linear(HIDDEN, HIDDEN), "x -> h0")}
    refuse = False
    ei = "edge_index"
    if draw(st.integers(0, 5)) == 0:  # coalesce reorders the edges: exact only if never cut
        steps["rewrite"] = (coalesce, "edge_index -> ei")
        ei = "ei"
        refuse = num_layers > 1
    values = ["h0"]
    layer_outs = []
    for i in range(1, num_layers + 1):
        kind = draw(st.sampled_from(["sage", "graph_weighted", "graph_positional", "gin", "gat",
                                     "tag", "appnp", "gcn"]))
        if ei == "ei" and kind.startswith("graph_"):
            kind = "sage"  # coalesce drops duplicate edges: the weights would not line up
        source = values[-1]
        conv, header = layer(kind)
        steps[f"conv{i}"] = (conv, header.format(x=source, ei=ei, out=f"c{i}"))
        current = f"c{i}"
        if draw(st.booleans()):
            steps[f"act{i}"] = (ReLU(), f"{current} -> a{i}")
            current = f"a{i}"
        between = draw(st.sampled_from([None, None, None, "bn_eval", *REFUSED_NORMS]))
        if between is not None:
            steps[f"norm{i}"] = (norm(between), f"{current} -> n{i}")
            current = f"n{i}"
            refuse = refuse or between in REFUSED_NORMS
        skip = draw(st.sampled_from([None, *values]))
        if skip is not None:
            steps[f"res{i}"] = (torch.add, f"{current}, {skip} -> r{i}")
            current = f"r{i}"
        values.append(current)
        layer_outs.append(current)
    readout = draw(st.sampled_from(["last", "jk_cat", "jk_max", "sum_all"]))
    if readout == "jk_cat":
        steps["jk"] = (JumpingKnowledge("cat"), f"[{', '.join(layer_outs)}] -> z")
        steps["head"] = (Linear(HIDDEN * num_layers, 3), "z -> out")
    elif readout == "jk_max":
        steps["jk"] = (JumpingKnowledge("max"), f"xs=[{', '.join(layer_outs)}] -> z")
        steps["head"] = (Linear(HIDDEN, 3), "z -> out")
    elif readout == "sum_all":
        steps["sum"] = (mark(lambda xs: torch.stack(xs).sum(0), "rowwise"),
                        f"[{', '.join(values)}] -> z")
        steps["head"] = (Linear(HIDDEN, 3), "z -> out")
    else:
        steps["head"] = (Linear(HIDDEN, 3), f"{values[-1]} -> out")
    model = Sequential("x, edge_index, w", steps).double()
    return model, refuse


@st.composite
def hop_counts(draw: st.DrawFn, hops: int) -> tuple[list[int], list[int]]:
    nodes = [draw(st.integers(1, 4))] + [draw(st.integers(0, 5)) for _ in range(hops)]
    edges = [draw(st.integers(0, 12)) if nodes[k] else 0 for k in range(hops)]
    return nodes, edges


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_seed_outputs_and_gradients_equal_the_untrimmed_model_or_trimming_refuses(
    data: st.DataObject,
) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))
    model, refuse = data.draw(dataflows(), label="model")
    found = analysis(model)
    extra = data.draw(st.integers(0, 1), label="extra hops")
    nodes, edges = data.draw(hop_counts(found.hops + extra), label="counts")
    batch = random_batch(nodes, edges, HIDDEN, seed=data.draw(st.integers(0, 99), label="seed"))
    if refuse:
        assert found.error is not None
        with pytest.raises(TrimError, match=r"step \d+ \('(norm|rewrite)\d*'\)"):
            seed_outputs_and_grads(model, batch, trimmed=True)
        return
    assert found.error is None, found.error
    assert_exact(model, batch)


# Named cases -----------------------------------------------------------------------------------


def sage_chain() -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index", [
        (SAGEConv(8, 16), "x, edge_index -> x"), ReLU(),
        (SAGEConv(16, 16), "x, edge_index -> x"), ReLU(),
        (SAGEConv(16, 4), "x, edge_index -> x"),
    ])


def jk_model() -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index, w", [
        (GraphConv(8, 16), "x, edge_index, edge_weight=w -> x1"), ReLU(),
        (SAGEConv(16, 16), "x1, edge_index -> x2"), ReLU(),
        (torch.add, "x1, x2 -> s"),
        (GraphConv(16, 16), "s, edge_index, edge_weight=w -> x3"),
        (JumpingKnowledge("cat"), "[x1, x2, x3] -> h"),
        (Linear(48, 3), "h -> out"),
    ])


@pytest.fixture
def batch() -> HopBatch:
    return sample(random_graph(300, 3000, 8), torch.arange(8), [6, 4, 3])


def rows_seen(model: Sequential, batch: HopBatch, **kwargs: Any) -> list[tuple[int, int]]:
    """(x rows, edges) that each message-passing child receives."""
    seen: list[tuple[int, int]] = []
    handles = [
        m.register_forward_pre_hook(lambda _, args: seen.append((args[0].size(0),
                                                                 args[1].size(1))))
        for m in model.modules() if isinstance(m, SAGEConv | GraphConv)
    ]
    dtype = next(model.parameters()).dtype
    args = [batch.x.to(dtype), batch.edge_index]
    if len(model.plan.inputs.names) > 2:
        args.append(batch.edge_weight.to(dtype))
    model(*args, **kwargs)
    for handle in handles:
        handle.remove()
    return seen


def test_each_layer_sees_only_the_hops_that_reach_the_seeds(batch: HopBatch) -> None:
    n, e = batch.num_sampled_nodes, batch.num_sampled_edges
    assert rows_seen(sage_chain(), batch) == [(sum(n), sum(e))] * 3
    assert rows_seen(sage_chain(), batch, **counts(batch)) == [
        (sum(n), sum(e)), (sum(n[:3]), sum(e[:2])), (sum(n[:2]), sum(e[:1]))
    ]


def test_a_chain_trims_as_graphsage_does(batch: HopBatch) -> None:
    reference = GraphSAGE(8, 16, num_layers=3, out_channels=4)
    model = Sequential("x, edge_index", [
        (reference.convs[0], "x, edge_index -> x"), ReLU(),
        (reference.convs[1], "x, edge_index -> x"), ReLU(),
        (reference.convs[2], "x, edge_index -> x"),
    ])
    expected = reference(batch.x, batch.edge_index, **counts(batch))
    got = model(batch.x, batch.edge_index, **counts(batch))
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)
    assert got.size(0) < batch.x.size(0)


def test_jumping_knowledge_skips_and_weighted_edges_are_exact(batch: HopBatch) -> None:
    model = jk_model().double()
    assert_exact(model, batch)
    n, e = batch.num_sampled_nodes, batch.num_sampled_edges
    assert rows_seen(model, batch, **counts(batch))[-1] == (sum(n[:2]), sum(e[:1]))
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):  # PyG cannot
        GraphSAGE(8, 16, num_layers=3, jk="cat")(batch.x, batch.edge_index, **counts(batch))


def test_edge_weights_given_by_keyword_are_cut_with_the_edge_index(batch: HopBatch) -> None:
    seen: list[int] = []
    model = jk_model()
    model[0].register_forward_pre_hook(lambda m, a, k: seen.append(k["edge_weight"].numel()),
                                       with_kwargs=True)
    model[5].register_forward_pre_hook(lambda m, a, k: seen.append(k["edge_weight"].numel()),
                                       with_kwargs=True)
    model(batch.x, batch.edge_index, batch.edge_weight, **counts(batch))
    e = batch.num_sampled_edges
    assert seen == [sum(e), sum(e[:1])]


def test_explain_shows_roles_levels_and_kinds() -> None:
    text = explain(jk_model())
    assert "step 2 ('module_2'): layer (1 hop) at level 1, cuts edge_index" in text
    assert "step 6 ('module_6'): rowwise at level 2, cuts x1" in text
    assert "batches need 3 hops" in text
    assert "w edge" in text and "edge_index edge_index" in text


def test_rowwise_steps_run_at_the_level_of_their_readers(batch: HopBatch) -> None:
    """A ReLU between two layers runs on the rows the next layer keeps, not on all rows."""
    seen: list[int] = []
    model = jk_model()
    model[1].register_forward_pre_hook(lambda m, a: seen.append(a[0].size(0)))
    model[3].register_forward_pre_hook(lambda m, a: seen.append(a[0].size(0)))
    full = model(batch.x, batch.edge_index, batch.edge_weight)
    out = model(batch.x, batch.edge_index, batch.edge_weight, **counts(batch))
    n = batch.num_sampled_nodes
    assert seen == [sum(n), sum(n), sum(n[:-1]), sum(n[:-2])]
    torch.testing.assert_close(out[: n[0]], full[: n[0]])
    text = explain(model)
    assert "step 1 ('module_1'): rowwise at level 1, cuts x1" in text
    assert "step 3 ('module_3'): rowwise at level 2, cuts x2" in text
    assert "step 7 ('module_7'): rowwise at level 2 (cuts nothing)" in text


def test_a_rowwise_step_read_at_two_levels_runs_at_the_lower(batch: HopBatch) -> None:
    torch.manual_seed(0)
    model = Sequential("x, edge_index", [
        (SAGEConv(8, 8), "x, edge_index -> x1"), (ReLU(), "x1 -> r"),
        (SAGEConv(8, 8), "r, edge_index -> x2"),
        (SAGEConv(8, 8), "x2, edge_index -> x3"),
        (torch.add, "r, x3 -> out"),
    ])
    assert "step 1 ('module_1'): rowwise at level 1, cuts x1" in explain(model)
    full = model(batch.x, batch.edge_index)
    out = model(batch.x, batch.edge_index, **counts(batch))
    seeds = batch.num_sampled_nodes[0]
    torch.testing.assert_close(out[:seeds], full[:seeds])


def test_a_call_without_counts_takes_the_untrimmed_path(batch: HopBatch) -> None:
    model = sage_chain()
    assert "num_sampled_nodes_per_hop=None" in model.code
    torch.testing.assert_close(model(batch.x, batch.edge_index),
                               model(batch.x, batch.edge_index, **{NODES: None, EDGES: None}))


def test_marked_children_become_layers_or_stop_being_layers(batch: HopBatch) -> None:
    class Propagate(torch.nn.Module):  # message passing that is not a MessagePassing
        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            return x.index_add(0, edge_index[1], x[edge_index[0]])

    model = Sequential("x, edge_index", [
        (mark(Propagate(), "layer"), "x, edge_index -> x"),
        (mark(Propagate(), "layer"), "x, edge_index -> x"),
    ]).double()
    assert [s.level for s in analysis(model).steps] == [0, 1]
    batch = sample(random_graph(200, 1500, 8), torch.arange(5), [4, 3])
    x = batch.x.double()
    torch.testing.assert_close(model(x, batch.edge_index, **counts(batch))[:5],
                               model(x, batch.edge_index)[:5])
    unmarked = Sequential("x, edge_index", [(mark(SAGEConv(8, 8), "opaque"),
                                              "x, edge_index -> x")])
    with pytest.raises(TrimError, match="no message-passing step"):
        unmarked(batch.x, batch.edge_index, **counts(batch))
    assert analysis(mark(Propagate(), "layer", hops=2) and model).hops == 2  # marks are read anew


def test_global_pooling_after_a_layer_is_refused() -> None:
    torch.manual_seed(0)
    model = Sequential("x, edge_index, batch", [
        (SAGEConv(8, 8), "x, edge_index -> x"),
        (SAGEConv(8, 8), "x, edge_index -> x"),
        (global_mean_pool, "x, batch -> g"),
        (Linear(8, 2), "g -> out"),
    ])
    b = sample(random_graph(200, 1500, 8), torch.arange(6), [4, 3])
    vector = torch.zeros(b.x.size(0), dtype=torch.long)  # one graph of the seeds
    with pytest.raises(TrimError, match=r"step 2 \('module_2'\) reads 'x' after "
                                        r"trimming .* it pools rows.*x, batch -> g"):
        model(b.x, b.edge_index, vector, **counts(b))


def test_set_kinds_keeps_a_graph_level_input_whole(batch: HopBatch) -> None:
    model = Sequential("x, edge_index, u", [
        (SAGEConv(8, 8), "x, edge_index -> h"),
        (SAGEConv(8, 8), "h, edge_index -> h"),
        (torch.add, "h, u -> out"),
    ])
    u = torch.randn(1, 8)  # graph-level, but added to node-level values: inferred node-level
    with pytest.raises(TrimError, match="input 'u' has 1 nodes"):
        model(batch.x, batch.edge_index, u, **counts(batch))
    set_kinds(model, other=["u"])
    assert analysis(model).kinds["u"] == "other"
    torch.testing.assert_close(model(batch.x, batch.edge_index, u, **counts(batch))[:8],
                               model(batch.x, batch.edge_index, u)[:8])
    with pytest.raises(TrimError, match="names 'v', which is no value"):
        set_kinds(model, node=["v"])
    with pytest.raises(TrimError, match="two kinds"):
        set_kinds(model, node=["u"], other=["u"])


def test_a_value_read_as_node_and_edge_level_is_reported_with_its_step() -> None:
    mix = mark(lambda x, ei: (x[ei[0]] * x[ei[1]]).sum(-1), "rowwise")  # wrongly row-wise
    model = Sequential("x, edge_index", [
        (mix, "x, edge_index -> e"),
        (GraphConv(8, 8), "x, edge_index, edge_weight=e -> x"),
    ])
    b = random_batch([2, 3], [4], 8)
    with pytest.raises(TrimError, match=r"step 0 \('module_0'\) makes 'x' \(node-level\) and "
                                        r"'edge_index' \(edge index\) share rows"):
        model(b.x, b.edge_index, **counts(b))
    mark(mix, "opaque")  # the fix: say the function mixes kinds, and what its output is
    model = Sequential("x, edge_index", [
        (mix, "x, edge_index -> e"),
        (torch.sigmoid, "e -> e"),
        (GraphConv(8, 8), "x, edge_index, edge_weight=e -> x"),
        (GraphConv(8, 8), "x, edge_index, edge_weight=e -> x"),
    ]).double()
    b = random_batch([2, 3, 4], [4, 6], 8)
    with pytest.raises(TrimError, match=r"step 0 \('module_0'\) makes 'e', which step 3 "
                                        r"\('module_3'\) reads trimmed to level 1"):
        model(b.x.double(), b.edge_index, **counts(b))
    set_kinds(model, edge=["e"])
    assert analysis(model).kinds["e"] == "edge"
    x = b.x.double()
    torch.testing.assert_close(model(x, b.edge_index, **counts(b))[:2], model(x, b.edge_index)[:2])


def test_a_kind_clash_blames_the_marked_step_that_mixes_and_names_two_values() -> None:
    mix = mark(lambda x, ei: x[ei[0]], "rowwise")
    model = Sequential("x, edge_index", [
        (mix, "x, edge_index -> y"),
        (ReLU(), "y -> y"),
        (SAGEConv(8, 8), "y, edge_index -> out"),
    ])
    found = analysis(model)
    assert found.error is not None
    message = str(found.error)
    assert message.startswith("step 0 ('module_0') makes 'edge_index' (edge index) and 'y' "
                              "(node-level) share rows (with step 1 ('module_1'))"), message


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({NODES: [2, 3]}, "'num_sampled_edges_per_hop' needs to be given"),
        ({NODES: [2, 3], EDGES: [4, 1]}, "needs 1, not 2"),
        ({NODES: {"a": [2]}, EDGES: {("a", "to", "a"): []}}, "dicts"),
        ({NODES: torch.tensor([2, 3]), EDGES: torch.tensor([4])}, "lists of ints"),
        ({NODES: [2, 2], EDGES: [4]}, r"input 'x' has 5 nodes .* add up to 4"),
        ({NODES: [2, 3], EDGES: [3]}, r"input 'edge_index' has 4 edges .* add up to 3"),
    ],
)
def test_bad_counts_raise_a_clear_error(given: dict[str, Any], match: str) -> None:
    b = random_batch([2, 3], [4], 8)
    model = Sequential("x, edge_index", [(SAGEConv(8, 8), "x, edge_index -> x")])
    with pytest.raises(TrimError, match=match):
        model(b.x, b.edge_index, **given)


def test_a_model_deeper_than_the_batch_asks_for_more_hops() -> None:
    b = random_batch([2, 3], [4], 8)
    with pytest.raises(TrimError, match="sampled with 1 hop"):
        sage_chain()(b.x, b.edge_index, **counts(b))
    b = random_batch([2, 3, 4], [4, 6], 8)  # 3 layers, 2 hops: the seed rows need 3
    with pytest.raises(TrimError, match="depend on 3 hops .* sampled with 2 hop"):
        sage_chain()(b.x, b.edge_index, **counts(b))


def failure(call: Any) -> tuple[type, str, list[str]]:
    try:
        call()
    except Exception as error:  # noqa: BLE001 - what is compared is the whole failure
        return type(error), str(error), list(getattr(error, "__notes__", []))
    raise AssertionError("did not raise")


def test_trimmed_and_untrimmed_failures_are_the_same(batch: HopBatch) -> None:
    model = Sequential("x, edge_index", [
        (SAGEConv(8, 8), "x, edge_index -> x"),
        (Linear(9, 2), "x -> x"),
    ])
    plain = failure(lambda: model(batch.x, batch.edge_index))
    assert plain[0] is RuntimeError
    assert failure(lambda: model(batch.x, batch.edge_index, **counts(batch))) == plain
    assert "graphseq: raised in step 1 ('module_1'): x -> x" in plain[2]
    three = mark(lambda x: (x, x, x), "rowwise")
    model = Sequential("x, edge_index", [(three, "x -> a, b"),
                                         (SAGEConv(8, 8), "a, edge_index -> out")])
    plain = failure(lambda: model(batch.x, batch.edge_index))
    assert plain[0] is ValueError and "too many values to unpack" in plain[1]
    assert failure(lambda: model(batch.x, batch.edge_index, **counts(batch))) == plain
    with pytest.raises(ValueError) as info:  # the traceback ends in the generated line
        model(batch.x, batch.edge_index, **counts(batch))
    frames = [entry.frame.code.raw.co_filename for entry in info.traceback]
    assert frames[-1].startswith("<graphseq.Sequential-")
    assert not any(f.endswith("graphseq/trim.py") for f in frames)
    assert str(info.traceback[-1].statement).strip() == "a, b = functions['module_0'](x)"


def test_the_trimmed_forward_is_generated_code_users_can_read(batch: HopBatch) -> None:
    model = sage_chain()
    assert "cut_node" not in model.code and "trim_run(self, (x, edge_index)" in model.code
    code = trimmed_code(model)
    assert "x = modules['module_3'](cut_node(x, nodes, 2, 1))" in code
    assert "cut_index(edge_index, edges, nodes, 2, 0))" in code
    pooled = Sequential("x, edge_index", [(SAGEConv(8, 8), "x, edge_index -> x"),
                                          (lambda x: x.sum(0), "x -> g")])
    with pytest.raises(TrimError, match=r"step 1 \('module_1'\) reads 'x' after trimming"):
        trimmed_code(pooled)


def test_trimming_survives_pickling_copies_and_edits(batch: HopBatch) -> None:
    model = sage_chain()
    expected = model(batch.x, batch.edge_index, **counts(batch))
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        torch.testing.assert_close(twin(batch.x, batch.edge_index, **counts(batch)), expected)
    model.append(ReLU())
    assert len(analysis(model).steps) == 6
    torch.testing.assert_close(model(batch.x, batch.edge_index, **counts(batch)),
                               expected.relu())


def assert_hop_ordered(edge_index: torch.Tensor, nodes: list[int], edges: list[int]) -> None:
    """Edges of block k point at nodes of hop k - 1, from nodes of hops 0 .. k."""
    starts = torch.tensor([0, *nodes]).cumsum(0)
    assert edge_index.size(1) == sum(edges)
    first = 0
    for hop, count in enumerate(edges, start=1):
        src, dst = edge_index[:, first:first + count]
        assert bool(((dst >= starts[hop - 1]) & (dst < starts[hop])).all()), f"hop {hop} targets"
        assert bool((src < starts[hop + 1]).all()), f"hop {hop} sources"
        first += count


def test_test_batches_are_laid_out_hop_by_hop(batch: HopBatch) -> None:
    assert_hop_ordered(batch.edge_index, batch.num_sampled_nodes, batch.num_sampled_edges)
    b = random_batch([3, 5, 0, 4], [7, 9, 0], 4)
    assert_hop_ordered(b.edge_index, b.num_sampled_nodes, b.num_sampled_edges)


def test_neighbor_loader_batches_have_that_layout_and_trim_exactly() -> None:
    typing = pytest.importorskip("torch_geometric.typing")
    if not typing.WITH_PYG_LIB:
        pytest.skip("pyg-lib is not installed (NeighborLoader needs it for per-hop counts)")
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    graph = random_graph(300, 3000, 8)
    data = Data(x=graph["x"], edge_index=graph["edge_index"], edge_attr=graph["edge_weight"])
    loader = NeighborLoader(data, num_neighbors=[6, 4, 3], batch_size=8)
    b = next(iter(loader))
    assert_hop_ordered(b.edge_index, b.num_sampled_nodes, b.num_sampled_edges)
    as_batch = HopBatch(b.x, b.edge_index, b.edge_attr, b.n_id, b.e_id, b.num_sampled_nodes,
                        b.num_sampled_edges)
    assert_exact(jk_model().double(), as_batch)


def test_trimmed_on_device_equals_untrimmed(device: torch.device) -> None:
    batch = sample(random_graph(300, 3000, 8), torch.arange(8), [6, 4, 3])
    model = jk_model().to(device)
    x, ei, w = batch.x.to(device), batch.edge_index.to(device), batch.edge_weight.to(device)
    torch.testing.assert_close(model(x, ei, w, **counts(batch))[:8], model(x, ei, w)[:8],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reference", ["GraphSAGE", "GCN", "GIN"])
def test_neighbor_loader_batches_trim_as_basic_gnn_and_trim_to_layer(reference: str) -> None:
    """Differential: PyG's BasicGNN with trim_to_layer, on real NeighborLoader batches."""
    typing = pytest.importorskip("torch_geometric.typing")
    if not typing.WITH_PYG_LIB:
        pytest.skip("pyg-lib is not installed (NeighborLoader needs it for per-hop counts)")
    import torch_geometric.nn.models as models
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    torch.manual_seed(0)
    graph = random_graph(300, 3000, 8)
    data = Data(x=graph["x"].double(), edge_index=graph["edge_index"])
    basic = getattr(models, reference)(8, 16, num_layers=3, out_channels=4).double().eval()
    model = Sequential("x, edge_index", [
        (basic.convs[0], "x, edge_index -> x"), ReLU(),
        (basic.convs[1], "x, edge_index -> x"), ReLU(),
        (basic.convs[2], "x, edge_index -> x"),
    ])
    fanout = [5, 4, 3] if reference != "GCN" else [3] * 6  # gcn_norm: 2 hops per layer
    loader = NeighborLoader(data, num_neighbors=fanout, batch_size=6, shuffle=True)
    for _, b in zip(range(3), loader, strict=False):
        kw = counts(HopBatch(b.x, b.edge_index, b.x, b.n_id, b.n_id, b.num_sampled_nodes,
                             b.num_sampled_edges))
        got = model(b.x, b.edge_index, **kw)
        seeds = slice(0, b.batch_size)
        torch.testing.assert_close(got[seeds], basic(b.x, b.edge_index)[seeds])  # untrimmed
        if reference != "GCN":
            torch.testing.assert_close(got, basic(b.x, b.edge_index, **kw))
    if reference == "GCN":  # PyG's trim_to_layer drops the sources' in-degrees: not exact
        kw = {NODES: kw[NODES][:4], EDGES: kw[EDGES][:3]}
        with pytest.raises(TrimError, match="depend on 6 hops"):
            model(b.x[: sum(kw[NODES])], b.edge_index[:, : sum(kw[EDGES])], **kw)
