"""Layer-wise inference: equal to the full forward for any dataflow, refusals before any work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn import Linear, ReLU
from torch_geometric.nn import (
    GATConv,
    GINConv,
    GINEConv,
    GraphConv,
    GraphSAGE,
    JumpingKnowledge,
    SAGEConv,
    global_mean_pool,
)

from graphseq import Sequential
from graphseq.inference import InferenceError, facts, schedule
from graphseq.trim import mark, set_kinds

HIDDEN = 5
EDGE_DIM = 3


def layer(kind: str) -> tuple[Any, str]:
    """A message-passing step reading ``{x}``, with the given edge handling."""
    if kind == "sage":
        return SAGEConv(HIDDEN, HIDDEN), "{x}, edge_index -> {out}"
    if kind == "graph_weighted":
        return GraphConv(HIDDEN, HIDDEN), "{x}, edge_index, edge_weight=w -> {out}"
    if kind == "graph_positional":
        return GraphConv(HIDDEN, HIDDEN), "{x}, edge_index, w -> {out}"
    if kind == "gine":
        return (GINEConv(Linear(HIDDEN, HIDDEN), edge_dim=EDGE_DIM),
                "{x}, edge_index, edge_attr=a -> {out}")
    if kind == "gat_edge":
        return (GATConv(HIDDEN, HIDDEN, heads=2, concat=False, edge_dim=EDGE_DIM),
                "{x}, edge_index, edge_attr=a -> {out}")
    if kind == "gin":
        return GINConv(Linear(HIDDEN, HIDDEN)), "{x}, edge_index -> {out}"
    return GATConv(HIDDEN, HIDDEN, heads=1), "{x}, edge_index -> {out}"


LAYERS = ["sage", "graph_weighted", "graph_positional", "gine", "gat_edge", "gin", "gat"]


@st.composite
def dataflows(draw: st.DrawFn) -> Sequential:
    """1 to 3 layers with random activations, skips, residual sums and a random readout."""
    num_layers = draw(st.integers(1, 3))
    steps: dict[str, Any] = {}
    values = ["x"]
    if draw(st.booleans()):
        steps["enc"] = (Linear(HIDDEN, HIDDEN), "x -> h0")
        values = ["h0"]
    if draw(st.booleans()):
        steps["edge_enc"] = (Linear(EDGE_DIM, EDGE_DIM), "a -> a")
    layer_outs = []
    for i in range(1, num_layers + 1):
        conv, header = layer(draw(st.sampled_from(LAYERS)))
        source = draw(st.sampled_from(values[-2:]))  # the last value, or one before it
        steps[f"conv{i}"] = (conv, header.format(x=source, out=f"c{i}"))
        current = f"c{i}"
        if draw(st.booleans()):
            steps[f"act{i}"] = (ReLU(), f"{current} -> {current}")
        skip = draw(st.sampled_from([None, *values]))
        if skip is not None:
            steps[f"res{i}"] = (torch.add, f"{current}, {skip} -> r{i}")
            current = f"r{i}"
        values.append(current)
        layer_outs.append(current)
    readout = draw(st.sampled_from(["last", "jk_cat", "jk_max", "jk_lstm", "sum_all", "two"]))
    outputs = None
    listed = ", ".join(layer_outs)
    if readout == "jk_cat":
        steps["jk"] = (JumpingKnowledge("cat"), f"[{listed}] -> z")
        steps["head"] = (Linear(HIDDEN * num_layers, 3), "z -> out")
    elif readout == "jk_max":
        steps["jk"] = (JumpingKnowledge("max"), f"xs=[{listed}] -> z")
        steps["head"] = (Linear(HIDDEN, 3), "z -> out")
    elif readout == "jk_lstm":
        steps["jk"] = (JumpingKnowledge("lstm", HIDDEN, num_layers), f"[{listed}] -> z")
        steps["head"] = (Linear(HIDDEN, 3), "z -> out")
    elif readout == "sum_all":
        steps["sum"] = (mark(lambda xs: torch.stack(xs).sum(0), "rowwise"),
                        f"[{', '.join(values)}] -> z")
        steps["head"] = (Linear(HIDDEN, 3), "z -> out")
    elif readout == "two":  # two outputs: an early layer's and the head's
        steps["head"] = (Linear(HIDDEN, 3), f"{values[-1]} -> out")
        outputs = f"{layer_outs[0]}, out"
    else:
        steps["head"] = (Linear(HIDDEN, 3), f"{values[-1]} -> out")
    with warnings.catch_warnings():  # steps whose results reach no output are fine here
        warnings.filterwarnings("ignore", "graphseq: the results of step", UserWarning)
        return Sequential("x, edge_index, w, a", steps, outputs).double()


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    """A small graph with isolated nodes, self-loops and duplicate edges likely."""
    num_nodes = draw(st.integers(1, 30))
    num_edges = draw(st.integers(0, 80))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    # Nodes at the end are often isolated: edges only touch the first ``reach`` nodes.
    reach = draw(st.integers(1, num_nodes))
    edge_index = torch.randint(0, reach, (2, num_edges), generator=gen)
    if num_edges and draw(st.booleans()):
        edge_index[1, : num_edges // 3] = edge_index[0, : num_edges // 3]  # self-loops
    if num_edges > 1 and draw(st.booleans()):
        edge_index = torch.cat([edge_index, edge_index[:, : num_edges // 2]], 1)  # duplicates
    edges = edge_index.size(1)
    return {
        "x": torch.randn(num_nodes, HIDDEN, generator=gen, dtype=torch.float64),
        "edge_index": edge_index,
        "w": torch.rand(edges, generator=gen, dtype=torch.float64),
        "a": torch.randn(edges, EDGE_DIM, generator=gen, dtype=torch.float64),
    }


def assert_same(got: Any, want: Any) -> None:
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)
    else:
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_inference_equals_the_full_forward_for_generated_dataflows(data: st.DataObject) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))
    model = data.draw(dataflows(), label="model")
    graph = data.draw(graphs(), label="graph")
    batch_size = data.draw(st.integers(1, graph["x"].size(0) + 3), label="batch size")
    model.eval()
    want = model(**graph)
    got = model.inference(**graph, batch_size=batch_size)
    assert_same(got, want)


def sage_chain(channels: int = 8) -> Sequential:
    return Sequential("x, edge_index", [
        (SAGEConv(channels, 16), "x, edge_index -> x"), ReLU(),
        (SAGEConv(16, 16), "x, edge_index -> x"), ReLU(),
        (SAGEConv(16, 4), "x, edge_index -> x"),
    ])


def random_graph(num_nodes: int, num_edges: int, channels: int = 8) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(num_nodes, channels, generator=gen),
            torch.randint(0, num_nodes, (2, num_edges), generator=gen))


def test_a_chain_equals_graphsage_inference_with_the_same_weights() -> None:
    from torch_geometric.typing import WITH_PYG_LIB

    if not WITH_PYG_LIB:
        pytest.skip("pyg-lib is not installed; BasicGNN.inference needs NeighborLoader")
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    torch.manual_seed(0)
    x, edge_index = random_graph(200, 1500)
    reference = GraphSAGE(8, 16, num_layers=3, out_channels=4).eval()
    model = sage_chain()
    for conv, step in zip(reference.convs, ["module_0", "module_2", "module_4"], strict=True):
        model[step].load_state_dict(conv.state_dict())
    loader = NeighborLoader(Data(x=x, edge_index=edge_index), num_neighbors=[-1],
                            batch_size=64, shuffle=False)
    want = reference.inference(loader)
    torch.testing.assert_close(model.inference(x, edge_index, batch_size=64), want,
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(want, reference(x, edge_index), rtol=1e-5, atol=1e-5)


def test_values_are_kept_only_while_a_later_level_reads_them() -> None:
    model = Sequential("x, edge_index", {
        "conv1": (SAGEConv(8, 8), "x, edge_index -> x1"),
        "conv2": (SAGEConv(8, 8), "x1, edge_index -> x2"),
        "conv3": (SAGEConv(8, 8), "x2, edge_index -> x3"),
        "res": (torch.add, "x3, x1 -> out"),
    })
    sched = schedule(model.plan, facts(model))
    assert [(p.step.name, p.level) for p in sched.steps] == [
        ("conv1", 0), ("conv2", 1), ("conv3", 2), ("res", 2)]
    x1, x2 = 2, 3  # versions: x, edge_index, then each step's output
    assert x1 in sched.free_after[2] and x2 in sched.free_after[2]
    assert [p.keep for p in sched.steps] == [(x1,), (x2,), (), (5,)]


def test_training_mode_is_restored_and_nothing_records_gradients() -> None:
    model = Sequential("x, edge_index", [
        (SAGEConv(8, 8), "x, edge_index -> x"), torch.nn.Dropout(0.5),
        (SAGEConv(8, 4), "x, edge_index -> x"),
    ])
    x, edge_index = random_graph(30, 100)
    model.train()
    model[1].eval()  # a submodule's own mode comes back too
    out = model.inference(x.requires_grad_(), edge_index, batch_size=7)
    assert model.training and not model[1].training and model[0].training
    assert not out.requires_grad
    model.eval()
    torch.testing.assert_close(out, model(x, edge_index).detach(), rtol=1e-5, atol=1e-5)


def test_the_progress_bar_counts_levels_times_batches(capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential("x, edge_index", [
        (Linear(8, 8), "x -> x"),  # a row-wise level before the first layer
        (SAGEConv(8, 8), "x, edge_index -> x"), ReLU(),
        (SAGEConv(8, 4), "x, edge_index -> x"),
    ])
    x, edge_index = random_graph(25, 80)
    model.inference(x, edge_index, batch_size=10, progress_bar=True)
    assert "9/9" in capsys.readouterr().err  # 3 levels x 3 batches


def test_edge_level_outputs_come_back_in_the_order_of_the_given_edges() -> None:
    model = Sequential("x, edge_index, a", [
        (Linear(EDGE_DIM, 2), "a -> e"),
        (GINEConv(Linear(HIDDEN, HIDDEN), edge_dim=2), "x, edge_index, edge_attr=e -> x"),
    ], outputs="x, e").double()
    graph = {"x": torch.randn(12, HIDDEN, dtype=torch.float64),
             "edge_index": torch.tensor([[3, 1, 0, 5, 2], [4, 0, 7, 1, 0]]),
             "a": torch.randn(5, EDGE_DIM, dtype=torch.float64)}
    assert_same(model.inference(**graph, batch_size=3), model(**graph))


def test_a_graph_level_input_marked_other_is_passed_whole() -> None:
    model = Sequential("x, edge_index, u", [
        (SAGEConv(8, 8), "x, edge_index -> h"),
        (lambda u: u * 2, "u -> u2"),  # over graph-level values only: no mark needed
        (mark(lambda h, u2: h + u2, "rowwise"), "h, u2 -> out"),
    ])
    set_kinds(model, other=["u"])
    x, edge_index = random_graph(20, 60)
    u = torch.randn(1, 8)
    torch.testing.assert_close(model.inference(x, edge_index, u, batch_size=6),
                               model(x, edge_index, u), rtol=1e-5, atol=1e-5)


class Counting(torch.nn.Module):
    """Counts its calls: a refusal must come before any of them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def test_global_pooling_is_refused_before_any_work_naming_the_step() -> None:
    counting = Counting()
    model = Sequential("x, edge_index, batch", {
        "count": (counting, "x -> x"),
        "conv": (SAGEConv(8, 8), "x, edge_index -> x"),
        "pool": (global_mean_pool, "x, batch -> g"),
    })
    x, edge_index = random_graph(10, 30)
    model.train()
    with pytest.raises(InferenceError, match=r"step 2 \('pool'\) is graph-level"):
        model.inference(x, edge_index, torch.zeros(10, dtype=torch.long), batch_size=4)
    assert counting.calls == 0 and model.training


def test_an_opaque_step_over_node_values_is_refused_naming_the_step() -> None:
    model = Sequential("x, edge_index", {
        "conv": (SAGEConv(8, 8), "x, edge_index -> x"),
        "norm": (mark(lambda x: x - x.mean(0), "opaque"), "x -> x"),
    })
    x, edge_index = random_graph(10, 30)
    with pytest.raises(InferenceError, match=r"step 1 \('norm'\) is not known to be row-wise "
                                             r"\(it is marked 'opaque'\)"):
        model.inference(x, edge_index, batch_size=4)


def test_a_graph_level_norm_is_refused_with_the_analysis_reason() -> None:
    from torch_geometric.nn import GraphNorm

    model = Sequential("x, edge_index", {
        "conv": (SAGEConv(8, 8), "x, edge_index -> x"),
        "norm": (GraphNorm(8), "x -> x"),
    })
    x, edge_index = random_graph(10, 30)
    with pytest.raises(InferenceError, match=r"step 1 \('norm'\) is not known to be row-wise "
                                             r"\(it normalises with statistics over all nodes"):
        model.inference(x, edge_index, batch_size=4)


def test_batch_norm_in_training_mode_runs_with_its_running_statistics() -> None:
    model = Sequential("x, edge_index", [
        (SAGEConv(8, 8), "x, edge_index -> x"), torch.nn.BatchNorm1d(8), ReLU(),
        (SAGEConv(8, 4), "x, edge_index -> x"),
    ])
    x, edge_index = random_graph(40, 150)
    model.train()
    model(x, edge_index)  # running statistics move away from their start
    got = model.inference(x, edge_index, batch_size=9)
    assert model.training and model[1].training
    model.eval()
    torch.testing.assert_close(got, model(x, edge_index).detach(), rtol=1e-5, atol=1e-5)


def test_k_hop_layers_get_k_hop_neighbourhoods_and_are_exact() -> None:
    from torch_geometric.nn import APPNP, GCNConv, TAGConv

    model = Sequential("x, edge_index, a", {
        "tag": (TAGConv(HIDDEN, HIDDEN, K=2), "x, edge_index -> x1"),
        "act": (ReLU(), "x1 -> x1"),
        "gcn": (GCNConv(HIDDEN, HIDDEN), "x1, edge_index -> x2"),  # reads source degrees
        "gine": (GINEConv(Linear(HIDDEN, HIDDEN), edge_dim=EDGE_DIM),
                 "x2, edge_index, edge_attr=a -> x3"),
        "appnp": (APPNP(K=3, alpha=0.2), "x1, edge_index -> x4"),
        "sum": (torch.add, "x3, x4 -> out"),
    }).double()
    from graphseq.inference import explain

    assert "step 0 ('tag'), layer (3 hops)" in explain(model)
    for num_nodes, num_edges, batch_size in ((1, 0, 1), (6, 4, 1), (40, 160, 7), (120, 500, 64)):
        gen = torch.Generator().manual_seed(num_nodes)
        graph = {"x": torch.randn(num_nodes, HIDDEN, generator=gen, dtype=torch.float64),
                 "edge_index": torch.randint(0, num_nodes, (2, num_edges), generator=gen),
                 "a": torch.randn(num_edges, EDGE_DIM, generator=gen, dtype=torch.float64)}
        model.eval()
        assert_same(model.inference(**graph, batch_size=batch_size), model(**graph))


def test_an_edge_index_computed_by_a_step_is_refused() -> None:
    from torch_geometric.utils import to_undirected

    model = Sequential("x, edge_index", {
        "undirected": (to_undirected, "edge_index -> ei"),
        "conv": (SAGEConv(8, 8), "x, ei -> x"),
    })
    x, edge_index = random_graph(10, 30)
    with pytest.raises(InferenceError, match=r"step 1 \('conv'\) reads the edge index 'ei', "
                                             r"which a step computes"):
        model.inference(x, edge_index, batch_size=4)


def test_inputs_that_do_not_fit_the_graph_are_named() -> None:
    model = Sequential("x, edge_index, w", [
        (GraphConv(8, 8), "x, edge_index, edge_weight=w -> x")])
    x, edge_index = random_graph(10, 30)
    with pytest.raises(InferenceError, match="input 'w' has 29 rows, but the edge index has 30"):
        model.inference(x, edge_index, torch.rand(29), batch_size=4)
    with pytest.raises(InferenceError, match="names node 9, but the node-level inputs have 5"):
        model.inference(x[:5], torch.tensor([[0, 9], [1, 2]]), torch.rand(2), batch_size=4)
    with pytest.raises(InferenceError, match="batch_size must be a positive int"):
        model.inference(x, edge_index, torch.rand(30), batch_size=0)


def test_a_step_that_changes_the_number_of_rows_is_named() -> None:
    model = Sequential("x, edge_index", {
        "conv": (SAGEConv(8, 8), "x, edge_index -> x"),
        "drop_row": (mark(lambda x: x[1:], "rowwise"), "x -> y"),  # wrongly declared
        "conv2": (SAGEConv(8, 8), "y, edge_index -> z"),
    })
    x, edge_index = random_graph(10, 30)
    with pytest.raises(InferenceError, match=r"step 1 \('drop_row'\) gave 'y' with shape"):
        model.inference(x, edge_index, batch_size=4)


def test_an_error_in_a_step_is_noted_with_the_step_and_batch() -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    model = Sequential("x, edge_index", {
        "conv": (SAGEConv(8, 8), "x, edge_index -> x"),
        "broken": (mark(broken, "rowwise"), "x -> x"),
    })
    x, edge_index = random_graph(10, 30)
    with pytest.raises(RuntimeError, match="boom") as info:
        model.inference(x, edge_index, batch_size=4)
    assert any("step 1 ('broken') during inference (level 0, target nodes 0..3)" in note
               for note in getattr(info.value, "__notes__", []))


def test_value_names_do_not_clash_with_the_generated_helpers() -> None:
    model = Sequential("x, edge_index, batch", {
        "conv": (SAGEConv(8, 8), "x, edge_index -> kept"),
        "store": (torch.add, "kept, x -> view"),
        "conv2": (SAGEConv(8, 8), "view, edge_index -> modules"),
    })
    x, edge_index = random_graph(15, 40)
    batch = torch.zeros(15, dtype=torch.long)
    torch.testing.assert_close(model.inference(x, edge_index, batch, batch_size=4),
                               model(x, edge_index, batch), rtol=1e-5, atol=1e-5)


def test_inference_on_device_equals_the_forward(device: torch.device) -> None:
    model = sage_chain().to(device).eval()
    x, edge_index = random_graph(300, 2000)
    got = model.inference(x, edge_index, batch_size=64, device=device)
    assert got.device == torch.device("cpu")
    want = model(x.to(device), edge_index.to(device)).cpu()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


BUDGET = textwrap.dedent("""
    import resource, sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {src!r})
    from torch_geometric.nn import SAGEConv
    from graphseq import Sequential

    torch.manual_seed(0)
    n, e, f = 20_000, 400_000, 32
    x, edge_index = torch.randn(n, f), torch.randint(0, n, (2, e))
    model = Sequential("x, edge_index", [(SAGEConv(f, f), "x, edge_index -> x"),
                                         (SAGEConv(f, f), "x, edge_index -> x")]).eval()
    model.inference(x[:100], edge_index[:, :10] % 100, batch_size=50)  # load lazy imports
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
    budget = 48 * 2**20  # bytes of address space above what is mapped now
    resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + budget, resource.RLIM_INFINITY))
    out = model.inference(x, edge_index, batch_size=1000)
    print("inference fits", tuple(out.shape), flush=True)
    try:
        with torch.no_grad():
            model(x, edge_index)
    except (MemoryError, RuntimeError) as error:
        print("forward does not fit:", type(error).__name__, flush=True)
    else:
        print("forward fits", flush=True)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, sets RLIMIT_AS")
def test_inference_fits_a_memory_budget_that_the_full_forward_does_not() -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run([sys.executable, "-c", BUDGET.format(src=src)], capture_output=True,
                          text=True, timeout=300)
    assert "inference fits (20000, 32)" in done.stdout, done.stdout + done.stderr
    assert "forward does not fit" in done.stdout, done.stdout + done.stderr


TYPES = (["paper", "author", "venue"],
         [("author", "writes", "paper"), ("paper", "rev_writes", "author"),
          ("paper", "cites", "paper")])


def typed_graph(sizes: dict[str, int], edges: int, seed: int) -> dict[str, Any]:
    """A typed graph with isolated nodes (ids past 3/4 of each type are rarely reached)."""
    gen = torch.Generator().manual_seed(seed)
    x = {t: torch.randn(n, 4 + i, generator=gen, dtype=torch.float64)
         for i, (t, n) in enumerate(sizes.items())}
    edge_index = {}
    for src, rel, dst in TYPES[1]:
        reach_src, reach_dst = max(1, sizes[src] * 3 // 4), max(1, sizes[dst] * 3 // 4)
        edge_index[(src, rel, dst)] = torch.stack([
            torch.randint(0, reach_src, (edges,), generator=gen),
            torch.randint(0, reach_dst, (edges,), generator=gen)])
    edge_attr = {key: torch.randn(edges, EDGE_DIM, generator=gen, dtype=torch.float64)
                 for key in edge_index}
    return {"x": x, "edge_index": edge_index, "edge_attr": edge_attr}


def test_a_typed_model_runs_layer_wise_and_equals_its_forward() -> None:
    from torch_geometric.nn import Linear as LazyLinear

    from graphseq import to_hetero

    torch.manual_seed(0)
    model = Sequential("x, edge_index, edge_attr", {
        "enc": (LazyLinear(-1, 8), "x -> h"),  # per node type, 'venue' too
        "conv1": (SAGEConv((-1, -1), 8), "h, edge_index -> x1"),
        "act1": (ReLU(), "x1 -> x1"),
        "conv2": (GATConv((-1, -1), 8, edge_dim=EDGE_DIM, add_self_loops=False),
                  "x1, edge_index, edge_attr=edge_attr -> x2"),
        "res": (torch.add, "x1, x2 -> x3"),
        "conv3": (SAGEConv((-1, -1), 8), "x3, edge_index -> x4"),
        "jk": (JumpingKnowledge("max"), "xs=[x1, x2, x4] -> z"),
        "head": (Linear(8, 3), "z -> out"),
    })
    typed = to_hetero(model, TYPES, aggr="sum").double().eval()
    for sizes, edges, batch_size in (({"paper": 30, "author": 11, "venue": 3}, 70, 4),
                                     ({"paper": 5, "author": 40, "venue": 1}, 25, 7),
                                     ({"paper": 9, "author": 9, "venue": 9}, 0, 100)):
        graph = typed_graph(sizes, edges, seed=batch_size)
        want = typed(**graph)
        got = typed.inference(**graph, batch_size=batch_size)
        assert list(got) == list(want) == ["paper", "author"]
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-9, atol=1e-9)


def test_a_typed_model_with_a_k_hop_layer_or_a_pool_is_refused_naming_the_step() -> None:
    from torch_geometric.nn import TAGConv

    from graphseq import to_hetero

    model = Sequential("x, edge_index", {
        "conv": (SAGEConv((-1, -1), 4), "x, edge_index -> x1"),
        "tag": (TAGConv(4, 4, K=2), "x1, edge_index -> x2"),
    })
    typed = to_hetero(model, (["paper"], [("paper", "cites", "paper")]))
    graph = {"x": {"paper": torch.randn(6, 4)},
             "edge_index": {("paper", "cites", "paper"): torch.tensor([[0, 1], [1, 2]])}}
    with pytest.raises(InferenceError, match=r"step 1 \('tag'\) reaches 3 hops; inference on "
                                             r"typed graphs cuts 1-hop neighbourhoods only"):
        typed.inference(**graph, batch_size=2)
    pooled = to_hetero(Sequential("x, edge_index, batch", {
        "conv": (SAGEConv((-1, -1), 4), "x, edge_index -> x"),
        "pool": (global_mean_pool, "x, batch -> g"),
    }), (["paper"], [("paper", "cites", "paper")]))
    with pytest.raises(InferenceError, match=r"step 1 \('pool'\) is graph-level"):
        pooled.inference(**graph, batch={"paper": torch.zeros(6, dtype=torch.long)},
                         batch_size=2)


def test_typed_inputs_that_do_not_fit_the_graph_are_named() -> None:
    from graphseq import to_hetero

    typed = to_hetero(Sequential("x, edge_index", [(SAGEConv((-1, -1), 4),
                                                    "x, edge_index -> x")]), TYPES)
    graph = typed_graph({"paper": 6, "author": 5, "venue": 2}, 10, seed=0)
    del graph["edge_attr"]
    with pytest.raises(InferenceError, match=r"ends at node type 'author', which no node-level"):
        typed.inference({"paper": graph["x"]["paper"]}, graph["edge_index"], batch_size=2)
    with pytest.raises(InferenceError, match=r"input 'x' is node-level in a typed graph"):
        typed.inference(graph["x"]["paper"], graph["edge_index"], batch_size=2)
    wrong = dict(graph["edge_index"])
    wrong[("author", "writes", "paper")] = torch.tensor([[7], [0]])
    with pytest.raises(InferenceError, match=r"names node 7 of type 'author', which has 5 rows"):
        typed.inference(graph["x"], wrong, batch_size=2)


def _attention_layers() -> dict[str, tuple[Any, str]]:
    from torch_geometric.nn import GATv2Conv, ResGatedGraphConv, TransformerConv

    plain, edges = "x, edge_index -> y", "x, edge_index, edge_attr=a -> y"
    return {
        "gat": (GATConv(HIDDEN, HIDDEN, heads=2), plain),
        "gat_mean_loops": (GATConv(HIDDEN, HIDDEN, heads=2, concat=False, edge_dim=EDGE_DIM,
                                   fill_value="mean"), edges),
        "gat_residual": (GATConv(HIDDEN, HIDDEN, heads=3, residual=True), plain),
        "gat_bipartite": (GATConv((HIDDEN, HIDDEN), HIDDEN, add_self_loops=False), plain),
        "gatv2": (GATv2Conv(HIDDEN, HIDDEN, heads=2), plain),
        "gatv2_shared": (GATv2Conv(HIDDEN, HIDDEN, heads=2, share_weights=True,
                                   edge_dim=EDGE_DIM, residual=True), edges),
        "transformer": (TransformerConv(HIDDEN, HIDDEN, heads=2), plain),
        "transformer_beta": (TransformerConv(HIDDEN, HIDDEN, heads=2, beta=True,
                                             edge_dim=EDGE_DIM, concat=False), edges),
        "resgated": (ResGatedGraphConv(HIDDEN, HIDDEN), plain),
    }


@pytest.mark.parametrize("name", list(_attention_layers()))
def test_attention_layers_take_target_pairs_and_stay_exact(name: str) -> None:
    # Their self-loops go to the first min(sources, targets) nodes: the batch's targets.
    layer, header = _attention_layers()[name]
    model = Sequential("x, edge_index, a", {"layer": (layer, header),
                                            "out": (torch.nn.LazyLinear(2), "y -> z")})
    generator = torch.Generator().manual_seed(3)
    edge_index = torch.randint(0, 36, (2, 150), generator=generator)  # 36..39 isolated
    edge_index[:, :6] = torch.tensor([0, 1, 2, 3, 3, 5]).repeat(2, 1)  # self-loops, a duplicate
    graph = {"x": torch.randn(40, HIDDEN, generator=generator, dtype=torch.float64),
             "edge_index": edge_index,
             "a": torch.randn(150, EDGE_DIM, generator=generator, dtype=torch.float64)}
    model(**{k: v.float() if v.is_floating_point() else v for k, v in graph.items()})
    model = model.double().eval()
    steps = schedule(model.plan, facts(model)).steps
    views = {p.step.name: [r.view for r in p.reads] for p in steps}
    assert views["layer"][0] == "pair"
    for batch_size in (1, 7, 40):
        assert_same(model.inference(**graph, batch_size=batch_size), model(**graph))


def test_layers_that_take_target_pairs_get_x_and_the_targets_rows() -> None:
    from torch_geometric.nn import GCNConv, TAGConv

    model = Sequential("x, edge_index, a", {
        "sage": (SAGEConv(HIDDEN, HIDDEN), "x, edge_index -> x1"),  # TARGET_PAIRS
        "gat": (GCNConv(HIDDEN, HIDDEN), "x1, edge_index -> x2"),  # not listed
        "tag": (TAGConv(HIDDEN, HIDDEN, K=2), "x2, edge_index -> x3"),
        "gine": (GINEConv(Linear(HIDDEN, HIDDEN), edge_dim=EDGE_DIM),  # beside a 3-hop layer
                 "x2, edge_index, edge_attr=a -> x4"),
        "sum": (torch.add, "x3, x4 -> out"),
    }).double()
    sched = schedule(model.plan, facts(model))
    views = {p.step.name: [r.view for r in p.reads] for p in sched.steps}
    assert views["sage"] == ["pair", "index"] and views["gat"] == ["gather", "index"]
    assert views["gine"] == ["pair", "index", "gather_edges"]  # a 3-hop batch: gathered whole
    graph = {"x": torch.randn(40, HIDDEN, dtype=torch.float64),
             "edge_index": torch.randint(0, 40, (2, 150)),
             "a": torch.randn(150, EDGE_DIM, dtype=torch.float64)}
    model.eval()
    for batch_size in (1, 6, 40):
        assert_same(model.inference(**graph, batch_size=batch_size), model(**graph))
