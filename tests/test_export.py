"""``model.export``: real ``torch.export.load`` and onnxruntime, on graphs of other sizes.

ONNX export takes seconds, so ONNX is exercised once node-level and once graph-level; the
``.pt2`` cases cover the rest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from torch.nn import Linear, ReLU
from torch_geometric.nn import GraphNorm, RGCNConv, SAGEConv, global_mean_pool

from graphseq import Sequential
from graphseq.export import bind_inputs, describe_inputs, export_program, run_onnx
from tests.docs_tools import tool

C, H = 8, 16


def node_model() -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index, edge_weight: Optional[Tensor] = None", [
        (SAGEConv(C, H), "x, edge_index -> h"),
        ReLU(),
        (SAGEConv(H, H), "h, edge_index -> h"),
        (Linear(H, 3), "h -> out"),
    ]).eval()


def graph_model() -> Sequential:
    torch.manual_seed(0)
    return Sequential("x, edge_index, batch, num_graphs: int", [
        (SAGEConv(C, H), "x, edge_index -> x"),
        (GraphNorm(H), "x, batch, batch_size=num_graphs -> x"),
        ReLU(),
        (global_mean_pool, "x, batch, size=num_graphs -> g"),
        (Linear(H, 2), "g -> g"),
    ]).eval()


def inputs(model: Sequential, nodes: int, edges: int, graphs: int, seed: int) -> dict:
    graph = tool("export_table").make_graph(nodes, edges, graphs, seed=seed)
    return {a.name: graph[a.name] for a in model.plan.inputs.args if not a.has_default}


SMALL, LARGE = (12, 40, 2), (31, 120, 5)


def test_pt2_loads_without_graphseq_or_pyg_and_matches_eager_on_a_larger_graph(tmp_path: Path):
    model = node_model()
    path = model.export(tmp_path / "node.pt2", **inputs(model, *SMALL, seed=0))
    assert path == tmp_path / "node.pt2" and path.stat().st_size > 0
    other = inputs(model, *LARGE, seed=1)
    torch.save(other, tmp_path / "other.pt")
    # A fresh interpreter in which graphseq and PyG cannot be imported loads and runs the file.
    script = (
        "import sys, torch; sys.modules['graphseq'] = sys.modules['torch_geometric'] = None\n"
        f"other = torch.load({str(tmp_path / 'other.pt')!r})\n"
        f"program = torch.export.load({str(path)!r}).module()\n"
        "out = program(other['x'], other['edge_index'])\n"
        f"torch.save(out, {str(tmp_path / 'out.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    got = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        want = model(**other)
    assert got.shape == (LARGE[0], 3)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_onnx_runs_in_onnxruntime_by_input_names_on_a_larger_graph(tmp_path: Path):
    import onnxruntime

    model = node_model()
    path = model.export(tmp_path / "node.onnx", **inputs(model, *SMALL, seed=0))
    assert [p.name for p in tmp_path.iterdir()] == ["node.onnx"]  # weights inside, one file
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "edge_index"]
    other = inputs(model, *LARGE, seed=1)
    got = session.run(None, {k: v.numpy() for k, v in other.items()})[0]
    with torch.no_grad():
        want = model(**other)
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=1e-4)


def test_graph_level_model_exports_with_num_graphs_to_pt2_and_onnx(tmp_path: Path):
    model = graph_model()
    example = inputs(model, *SMALL, seed=0)
    other = inputs(model, *LARGE, seed=1)
    with torch.no_grad():
        want = model(**other)
    assert want.shape == (LARGE[2], 2)
    pt2 = model.export(tmp_path / "graph.pt2", **example)
    got = torch.export.load(pt2).module()(*bind_inputs(model, **other).args)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    onnx = model.export(tmp_path / "graph.onnx", **example)
    (got_onnx,) = run_onnx(onnx, model, **other)
    torch.testing.assert_close(torch.from_numpy(got_onnx), want, atol=1e-4, rtol=1e-4)


def test_every_size_is_dynamic_and_shared_sizes_share_a_name():
    model = graph_model()
    program = export_program(model, **inputs(model, *SMALL, seed=0))
    assert describe_inputs(program) == [
        ("x", "float32[d0, 8]"),
        ("edge_index", "int64[2, d1]"),
        ("batch", "int64[d0]"),
        ("num_graphs", "int d2"),
    ]


def test_dynamic_shapes_override_the_default(tmp_path: Path):
    model = node_model()
    example = inputs(model, *SMALL, seed=0)
    shapes = {"x": {0: Dim.AUTO}, "edge_index": None}
    path = model.export(tmp_path / "fixed.pt2", **example, dynamic_shapes=shapes)
    program = torch.export.load(path).module()
    program(example["x"][:7], example["edge_index"] % 7)  # fewer nodes: still dynamic
    with pytest.raises(AssertionError, match="edge_index"):
        program(example["x"], example["edge_index"][:, :9])  # the edge count is fixed


def test_a_pool_that_counts_graphs_points_to_size_num_graphs(tmp_path: Path):
    model = Sequential("x, edge_index, batch", [
        (SAGEConv(C, H), "x, edge_index -> x"),
        (global_mean_pool, "x, batch -> x"),
    ])
    with pytest.raises(GuardOnDataDependentSymNode) as info:
        model.export(tmp_path / "pool.pt2", **inputs(model, *SMALL, seed=0))
    notes = info.value.__notes__
    assert "graphseq: raised in step 1 ('module_1'): x, batch -> x" in notes
    hint = notes[-1]
    assert "global_mean_pool counts the graphs from the data" in hint
    assert "input args: 'x, edge_index, batch, num_graphs: int'" in hint
    assert "header:     'x, batch, size=num_graphs -> x'" in hint
    # The original traceback is kept: it reaches into PyG's scatter.
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert any(f.endswith("_scatter.py") for f in frames)
    assert not (tmp_path / "pool.pt2").exists()


def test_a_model_that_has_num_graphs_is_told_only_the_header():
    model = Sequential("x, edge_index, batch, num_graphs: int", [
        (global_mean_pool, "x, batch -> x"),
    ])
    with pytest.raises(GuardOnDataDependentSymNode) as info:
        export_program(model, **inputs(model, *SMALL, seed=0))
    hint = info.value.__notes__[-1]
    assert "input args" not in hint
    assert "header:     'x, batch, size=num_graphs -> x'" in hint


def test_a_graph_norm_hint_uses_its_own_parameter_and_keeps_other_inputs():
    model = Sequential("x, edge_index, batch, scale: float = 1.0", [
        (GraphNorm(C), "x, batch -> x"),
    ])
    with pytest.raises(GuardOnDataDependentSymNode) as info:
        export_program(model, **inputs(model, *SMALL, seed=0))
    hint = info.value.__notes__[-1]
    assert "GraphNorm counts the graphs" in hint
    assert "'x, edge_index, batch, num_graphs: int, scale: float = 1.0'" in hint
    assert "'x, batch, batch_size=num_graphs -> x'" in hint


def test_a_layer_that_cannot_be_exported_upstream_is_named_as_such():
    model = Sequential("x, edge_index, edge_type", [
        (Linear(C, C), "x -> x"),
        (RGCNConv(C, H, num_relations=3), "x, edge_index, edge_type -> x"),
    ])
    example = inputs(model, *SMALL, seed=0)
    example["edge_type"] = torch.randint(0, 3, (SMALL[1],))
    with pytest.raises(GuardOnDataDependentSymNode) as info:
        export_program(model, **example)
    notes = info.value.__notes__
    assert "graphseq: raised in step 1 ('module_1'): x, edge_index, edge_type -> x" in notes
    assert "RGCNConv cannot be exported with dynamic sizes upstream" in notes[-1]
    assert "rgcn_conv.py:" in notes[-1]


def test_an_error_outside_data_dependence_keeps_only_the_step_note():
    model = Sequential("x, edge_index", [(Linear(C + 1, H), "x -> x")])
    with pytest.raises(RuntimeError) as info:
        export_program(model, **inputs(model, *SMALL, seed=0))
    assert info.value.__notes__ == ["graphseq: raised in step 0 ('module_0'): x -> x"]


@pytest.mark.parametrize(("name", "value", "match"), [
    ("x", torch.randn(1, C), "'x' has 1 row"),
    ("num_graphs", 1, "'num_graphs' has the value 1"),
])
def test_example_sizes_of_0_or_1_are_refused(name, value, match):
    model = graph_model()
    example = inputs(model, *SMALL, seed=0)
    example[name] = value
    with pytest.raises(ValueError, match=match):
        export_program(model, **example)


def test_wrong_suffix_and_aot_onnx_are_value_errors(tmp_path: Path):
    model = node_model()
    example = inputs(model, *SMALL, seed=0)
    with pytest.raises(ValueError, match=r"must end in \.pt2 .* or \.onnx"):
        model.export(tmp_path / "model.pt", **example)
    with pytest.raises(ValueError, match="aot=True"):
        model.export(tmp_path / "model.onnx", **example, aot=True)
    assert list(tmp_path.iterdir()) == []


def test_trimming_arguments_are_left_out_and_refused_when_given():
    model = node_model()
    example = inputs(model, *SMALL, seed=0)
    bound = bind_inputs(model, **example, num_sampled_nodes_per_hop=None)
    assert bound.names == ("x", "edge_index")  # edge_weight, not given, keeps its default
    with pytest.raises(ValueError, match="num_sampled_nodes_per_hop"):
        bind_inputs(model, **example, num_sampled_nodes_per_hop=[2, 4])


def test_export_works_when_forward_takes_the_trimming_keywords(tmp_path: Path):
    model = node_model()
    generated = type(model).forward

    def forward(self, x, edge_index, edge_weight=None, *, num_sampled_nodes_per_hop=None,
                num_sampled_edges_per_hop=None):
        assert num_sampled_nodes_per_hop is None and num_sampled_edges_per_hop is None
        return generated(self, x, edge_index, edge_weight)

    type(model).forward = forward  # the per-instance class, as trimming (issue 10) shapes it
    example = inputs(model, *SMALL, seed=0)
    path = model.export(tmp_path / "m.pt2", **example, num_sampled_nodes_per_hop=None)
    other = inputs(model, *LARGE, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(path).module()(*other.values()),
                                   model(**other))


def test_an_onnx_translation_failure_names_the_step_and_says_pt2_works(tmp_path: Path):
    model = Sequential("x", [(Linear(C, C), "x -> x"), (torch.special.zeta, "x, x -> q")])
    with pytest.raises(Exception) as info:
        model.export(tmp_path / "zeta.onnx", torch.randn(5, C))
    assert type(info.value).__name__ == "ConversionError"  # torch's own error, kept
    (note,) = info.value.__notes__
    assert note.startswith("graphseq: the ONNX translation failed in step 1 ('module_1'): "
                           "x, x -> q, at an operator (prims.zeta.default)")
    assert "a .pt2 export works" in note
    assert not (tmp_path / "zeta.onnx").exists()
    model.export(tmp_path / "zeta.pt2", torch.randn(5, C))  # as the note says


@pytest.mark.parametrize("edges", [1, 0])
def test_an_example_with_1_or_0_edges_is_refused_naming_the_edge_dimension(edges, tmp_path: Path):
    model = node_model()
    x, edge_index = torch.randn(5, C), torch.randint(0, 5, (2, edges))
    with pytest.raises(ValueError, match=rf"'edge_index' has size {edges} in dimension 1"):
        model.export(tmp_path / "m.pt2", x, edge_index)
    assert list(tmp_path.iterdir()) == []


def test_a_size_of_1_that_the_weights_fix_is_accepted_and_the_rest_stays_dynamic(tmp_path: Path):
    torch.manual_seed(0)
    model = Sequential("x, edge_index", [(SAGEConv(1, H), "x, edge_index -> x")]).eval()
    path = model.export(tmp_path / "m.pt2", torch.randn(6, 1), torch.randint(0, 6, (2, 9)))
    x, edge_index = torch.randn(11, 1), torch.randint(0, 11, (2, 30))
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(path).module()(x, edge_index),
                                   model(x, edge_index))


def test_onnx_inputs_keep_the_model_names_when_an_output_is_an_input(tmp_path: Path):
    import onnxruntime

    torch.manual_seed(0)
    model = Sequential("x, edge_index", [(SAGEConv(C, H), "x, edge_index -> h")],
                       outputs="h, x").eval()
    path = model.export(tmp_path / "m.onnx", **inputs(model, *SMALL, seed=0))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "edge_index"]
    other = inputs(model, *LARGE, seed=1)
    got_h, got_x = run_onnx(path, model, **other)
    with torch.no_grad():
        want_h, want_x = model(**other)
    torch.testing.assert_close(torch.from_numpy(got_h), want_h, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(got_x), want_x)


def test_export_to_an_existing_folder_is_refused_before_tracing(tmp_path: Path):
    folder = tmp_path / "out.pt2"
    folder.mkdir()
    model = Sequential("x", [(torch.special.zeta, "x, x -> x")])  # would fail to export
    with pytest.raises(ValueError, match=rf"'{folder}': it is a folder"):
        model.export(folder, torch.rand(4, 3) + 1)
