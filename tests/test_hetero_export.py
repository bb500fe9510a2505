"""Export of typed models: inputs named by type, sizes per type, equal to eager on other graphs.

Real ``torch.export.save``/``load``, onnxruntime and AOTInductor, on small typed graphs made in
memory (three node types, four edge types, as FakeHeteroDataset makes them). ONNX and
AOTInductor take seconds, so each runs once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn import Linear, ReLU
from torch_geometric.nn import HeteroConv, SAGEConv, global_mean_pool

import graphseq
from graphseq.export import ExampleSizeError, describe_inputs, export_program, flat_inputs, run_onnx
from graphseq.hetero import HeteroError, flat_leaves

NODES = ["paper", "author", "venue"]
EDGES = [("author", "writes", "paper"), ("paper", "rev_writes", "author"),
         ("paper", "cites", "paper"), ("paper", "in", "venue")]
METADATA = (NODES, EDGES)
FEATURES = {"paper": 8, "author": 6, "venue": 4}


def typed_graph(sizes: dict[str, int], edges: int, seed: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    x = {t: torch.randn(n, FEATURES[t], generator=gen) for t, n in sizes.items()}
    edge_index = {t: torch.stack([torch.randint(sizes[t[0]], (edges + i,), generator=gen),
                                  torch.randint(sizes[t[2]], (edges + i,), generator=gen)])
                  for i, t in enumerate(EDGES)}
    return {"x": x, "edge_index": edge_index}


SMALL = typed_graph({"paper": 6, "author": 4, "venue": 3}, 7, seed=0)
LARGE = typed_graph({"paper": 23, "author": 11, "venue": 5}, 40, seed=1)


def sage() -> graphseq.Sequential:
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv((-1, -1), 16), "x, edge_index -> x"),
        "act": ReLU(),
        "conv2": (SAGEConv((-1, -1), 3), "x, edge_index -> x"),
    })
    typed = graphseq.to_hetero(model, METADATA, aggr="sum")
    typed(**SMALL)  # initialise the lazy layers
    return typed.eval()


def eager(model: torch.nn.Module, graph: dict[str, Any]) -> Any:
    with torch.no_grad():
        return model(**graph)


def assert_same(got: dict[str, torch.Tensor], want: dict[Any, torch.Tensor]) -> None:
    assert list(got) == [graphseq.hetero.key_name(k) for k in want]
    for key, value in want.items():
        torch.testing.assert_close(torch.as_tensor(got[graphseq.hetero.key_name(key)]), value,
                                   atol=1e-5, rtol=1e-5)


def test_the_program_takes_one_tensor_per_type_named_by_input_and_type():
    program = export_program(sage(), **SMALL)
    assert describe_inputs(program) == [
        ("x__paper", "float32[d0, 8]"), ("x__author", "float32[d1, 6]"),
        ("x__venue", "float32[d2, 4]"),
        ("edge_index__author__writes__paper", "int64[2, d3]"),
        ("edge_index__paper__rev_writes__author", "int64[2, d4]"),
        ("edge_index__paper__cites__paper", "int64[2, d5]"),
        ("edge_index__paper__in__venue", "int64[2, d6]"),
    ]


def test_a_saved_pt2_loads_without_graphseq_and_equals_eager_on_a_larger_graph(tmp_path: Path):
    model = sage()
    path = model.export(tmp_path / "typed.pt2", **SMALL)
    torch.save(flat_inputs(model, **LARGE), tmp_path / "large.pt")
    script = (  # a fresh interpreter in which graphseq and PyG cannot be imported
        "import sys, torch; sys.modules['graphseq'] = sys.modules['torch_geometric'] = None\n"
        f"inputs = torch.load({str(tmp_path / 'large.pt')!r})\n"
        f"out = torch.export.load({str(path)!r}).module()(**inputs)\n"
        f"torch.save(out, {str(tmp_path / 'out.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    assert_same(torch.load(tmp_path / "out.pt"), eager(model, LARGE))


def test_the_loaded_program_takes_the_tensors_by_name_in_any_order(tmp_path: Path):
    model = sage()
    program = torch.export.load(model.export(tmp_path / "typed.pt2", **SMALL)).module()
    inputs = flat_inputs(model, **LARGE)
    assert_same(program(**dict(reversed(inputs.items()))), eager(model, LARGE))


def test_onnx_is_fed_by_type_names_and_equals_eager_on_a_larger_graph(tmp_path: Path):
    import onnxruntime

    model = sage()
    path = model.export(tmp_path / "typed.onnx", **SMALL)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(flat_inputs(model, **SMALL))
    want = eager(model, LARGE)
    got = run_onnx(path, model, **LARGE)
    assert len(got) == len(want)
    for array, value in zip(got, want.values(), strict=True):
        torch.testing.assert_close(torch.from_numpy(array), value, atol=1e-4, rtol=1e-4)


def test_an_aotinductor_package_equals_eager_on_a_larger_graph(tmp_path: Path):
    model = sage()
    path = model.export(tmp_path / "typed_aot.pt2", **SMALL, aot=True)
    compiled = torch._inductor.aoti_load_package(str(path))
    assert_same(compiled(**flat_inputs(model, **LARGE)), eager(model, LARGE))


def test_edge_level_outputs_are_keyed_by_the_edge_types_names(tmp_path: Path):
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_attr", {
        "lin1": (Linear(8, 5), "x -> x"),
        "lin2": (Linear(3, 2), "edge_attr -> edge_attr"),
    }, outputs="x, edge_attr")
    typed = graphseq.to_hetero(model, (["paper"], EDGES[2:3]), input_map={"x": "node"}).eval()
    small = {"x": {"paper": torch.randn(4, 8)}, "edge_attr": {EDGES[2]: torch.randn(5, 3)}}
    large = {"x": {"paper": torch.randn(9, 8)}, "edge_attr": {EDGES[2]: torch.randn(13, 3)}}
    program = torch.export.load(typed.export(tmp_path / "edges.pt2", **small)).module()
    got_x, got_edges = program(**flat_inputs(typed, **large))
    want_x, want_edges = eager(typed, large)
    assert_same(got_x, want_x)
    assert_same(got_edges, want_edges)


def test_a_graph_level_typed_model_exports_with_the_number_of_graphs(tmp_path: Path):
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index, batch, num_graphs: int", {
        "conv": (SAGEConv((-1, -1), 16), "x, edge_index -> x"),
        "pool": (global_mean_pool, "x, batch, size=num_graphs -> g"),
        "head": (Linear(3 * 16, 2), "g -> g"),
    })
    typed = graphseq.to_hetero(model, METADATA, input_map={"num_graphs": "graph"},
                               combine="cat")

    def batched(graph: dict[str, Any], graphs: int) -> dict[str, Any]:
        batch = {t: torch.arange(v.shape[0]) % graphs for t, v in graph["x"].items()}
        return {**graph, "batch": batch, "num_graphs": graphs}

    typed(**batched(SMALL, 2))
    typed.eval()
    program = torch.export.load(typed.export(tmp_path / "g.pt2", **batched(SMALL, 2))).module()
    inputs = flat_inputs(typed, **batched(LARGE, 5))
    assert "batch__venue" in inputs and inputs["num_graphs"] == 5
    torch.testing.assert_close(program(**inputs), eager(typed, batched(LARGE, 5)),
                               atol=1e-5, rtol=1e-5)


def test_a_model_of_heteroconv_steps_exports_by_type_names(tmp_path: Path):
    torch.manual_seed(0)
    model = graphseq.Sequential("x, edge_index", {
        "conv": (HeteroConv({t: SAGEConv((-1, -1), 4) for t in EDGES}), "x, edge_index -> x"),
    })
    eager(model, SMALL)
    program = torch.export.load(model.export(tmp_path / "hc.pt2", **SMALL)).module()
    got = program(**flat_inputs(model, **LARGE))
    want = eager(model, LARGE)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-5)


def test_dynamic_shapes_may_be_given_by_input_with_dicts_by_type():
    model = sage()
    shapes = {"x": {t: {0: torch.export.Dim.AUTO} for t in NODES},
              "edge_index": {t: {1: torch.export.Dim.AUTO} for t in EDGES}}
    program = export_program(model, **SMALL, dynamic_shapes=shapes)
    assert describe_inputs(program)[0] == ("x__paper", "float32[d0, 8]")
    with pytest.raises(ValueError, match="'h', which is neither an input"):
        export_program(model, **SMALL, dynamic_shapes={"h": None})


def test_a_type_with_one_row_in_the_example_is_refused_by_its_name():
    graph = typed_graph({"paper": 6, "author": 4, "venue": 1}, 7, seed=0)
    with pytest.raises(ExampleSizeError, match="'x__venue' has 1 row"):
        export_program(sage(), **graph)


def test_type_names_that_clash_or_are_no_identifiers_are_refused():
    with pytest.raises(HeteroError, match="would both be named 'x__a'"):
        flat_leaves({"x": {"a": torch.ones(2)}, "x__a": torch.ones(2)})
    with pytest.raises(HeteroError, match="'x__a/b', which is not a Python identifier"):
        flat_leaves({"x": {"a/b": torch.ones(2)}})
    with pytest.raises(HeteroError, match="holds list for type 'a'"):
        flat_leaves({"x": {"a": [torch.ones(2)]}})


def test_torch_still_cannot_call_a_loaded_pt2_whose_inputs_are_keyed_by_edge_type(
        tmp_path: Path):
    """Why typed inputs are flattened: if this starts to fail, torch has fixed the defect."""

    class ByEdgeType(torch.nn.Module):
        def forward(self, edges: dict[tuple[str, str, str], torch.Tensor]) -> torch.Tensor:
            return edges[("a", "to", "b")] + 1

    example = ({("a", "to", "b"): torch.ones(3)},)
    torch.export.save(torch.export.export(ByEdgeType(), example), tmp_path / "raw.pt2")
    loaded = torch.export.load(tmp_path / "raw.pt2").module()
    with pytest.raises(TypeError, match="unhashable type: 'list'"):
        loaded(*example)
