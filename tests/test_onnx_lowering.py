"""ONNX export lowers message passing's scatter-add to sorted segment sums, and stays exact.

Every row of the export table that exports to ONNX is run by onnxruntime on one and on four
threads, on graphs with duplicate edges, isolated nodes and no edges, against eager; the segment
sums themselves are checked against float64 sums where segments cross blocks and levels, on
integers where every level is used (sums exact, so equal), and with ``inf`` and ``nan``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch
from torch_geometric.nn import SAGEConv

from graphseq import Sequential
from graphseq._onnx_lowering import lower_aggregations
from graphseq.export import export, export_program, flat_inputs, save_program
from tests.docs_tools import tool

table = tool("export_table")
ROWS = {row.name: row for row in table.rows()}
ONNX_YES = [name for name in ROWS if name not in (
    "RGCNConv", "global_mean_pool (no size)")]  # the table's two "no" rows


def session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graphs(model: Any) -> dict[str, dict[str, Any]]:
    """Graphs unlike the traced one: another size, duplicate edges, isolated nodes, no edges."""
    other = table.inputs_for(model, table.OTHER, seed=2)
    doubled = dict(other)
    if "edge_index" in other:
        doubled = {k: torch.cat([v, v], -1 if k == "edge_index" else 0)
                   if k.startswith("edge_") else v for k, v in other.items()}
    lonely = table.inputs_for(model, (40, 30, 3), seed=3)  # most nodes have no edge
    empty = table.inputs_for(model, (20, 0, 2), seed=4)
    return {"another size": other, "duplicate edges": doubled, "isolated nodes": lonely,
            "no edges": empty}


@pytest.mark.parametrize("name", ONNX_YES)
def test_onnxruntime_equals_eager_on_every_onnx_row_with_one_and_four_threads(
        name: str, tmp_path: Path):
    model = table.build(ROWS[name])
    path = export(model, tmp_path / "m.onnx", **table.inputs_for(model, table.EXAMPLE, seed=1))
    runs = {threads: session(path, threads) for threads in (1, 4)}
    for what, inputs in graphs(model).items():
        with torch.no_grad():
            want = model(**inputs)
        feed = {k: np.asarray(v) for k, v in flat_inputs(model, **inputs).items()
                if k in {i.name for i in runs[1].get_inputs()}}
        for threads, run in runs.items():
            got = torch.from_numpy(run.run(None, feed)[0])
            scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
            assert got.shape == want.shape, (what, threads)
            torch.testing.assert_close(got, want, atol=1e-4 * scale, rtol=1e-4,
                                       msg=f"{name}, {what}, {threads} threads")


@pytest.mark.parametrize("name", ["GCNConv", "SAGEConv", "GATConv", "GINEConv", "APPNP"])
def test_message_passing_rows_are_lowered(name: str):
    model = table.build(ROWS[name])
    program = export_program(model, **table.inputs_for(model, table.EXAMPLE, seed=1))
    assert lower_aggregations(program)[1] >= 1


class Scatter(torch.nn.Module):
    """``out.scatter_add`` of rows by target, as message passing's sum aggregation does it."""

    def forward(self, src: torch.Tensor, index: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (src.dim() - 1)
        return out.scatter_add(0, index.view(shape).expand_as(src), src)


def scatter_onnx(tmp_path: Path, src: torch.Tensor, index: torch.Tensor,
                 out: torch.Tensor) -> Path:
    dims = {"src": {0: torch.export.Dim.AUTO}, "index": {0: torch.export.Dim.AUTO},
            "out": {0: torch.export.Dim.AUTO}}
    program = torch.export.export(Scatter(), (src, index, out), dynamic_shapes=dims)
    assert lower_aggregations(program)[1] == 1
    return save_program(program, tmp_path / "scatter.onnx")


def run_scatter(path: Path, threads: int, *tensors: torch.Tensor) -> np.ndarray:
    feed = dict(zip(("src", "index", "out"), (t.numpy() for t in tensors), strict=True))
    return session(path, threads).run(None, feed)[0]


def layouts(edges: int, nodes: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Targets spread at random, sorted in long runs, and all on one hub."""
    return {
        "random": torch.randint(0, nodes, (edges,), generator=gen),
        "long runs": torch.randint(0, 7, (edges,), generator=gen).sort().values * (nodes // 7),
        "one hub": torch.full((edges,), nodes // 2, dtype=torch.long),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_segment_sums_equal_the_exact_sums_where_runs_cross_blocks(dtype: torch.dtype,
                                                                   tmp_path: Path):
    gen = torch.Generator().manual_seed(0)
    path = scatter_onnx(tmp_path, torch.randn(40, 3, dtype=dtype),
                        torch.randint(0, 9, (40,)), torch.zeros(9, 3, dtype=dtype))
    eps = torch.finfo(dtype).eps
    for edges in (0, 1, 15, 16, 17, 16 * 16 + 3, 5 * 16**3):
        for layout, index in layouts(edges, 6000, gen).items():
            src = torch.randn(edges, 3, generator=gen, dtype=torch.float64)
            out = torch.randn(6000, 3, generator=gen, dtype=torch.float64)
            exact = out.index_add(0, index, src)
            bound = out.abs().index_add(0, index, src.abs())  # the sum of magnitudes
            for threads in (1, 4):
                got = run_scatter(path, threads, src.to(dtype), index, out.to(dtype))
                error = (torch.from_numpy(got).double() - exact).abs()
                # a sum of n terms in any order is within (n - 1) eps of the magnitudes' sum;
                # here every row's sum has depth at most 16 per level and 5 levels
                assert bool((error <= 100 * eps * bound + 1e-300).all()), (edges, layout)


def test_segment_sums_of_integers_equal_eager_through_every_level(tmp_path: Path):
    gen = torch.Generator().manual_seed(1)
    path = scatter_onnx(tmp_path, torch.randn(40, 2), torch.randint(0, 9, (40,)),
                        torch.zeros(9, 2))
    edges = 16**5 * 3 + 7  # 4 block levels and a dense level of about 48 rows
    index = torch.randint(0, 5, (edges,), generator=gen).sort().values * 3  # runs of 600,000
    src = torch.randint(-3, 4, (edges, 2), generator=gen).float()  # sums exact in float32
    out = torch.zeros(16, 2)
    got = torch.from_numpy(run_scatter(path, 2, src, index, out))
    assert torch.equal(got, out.scatter_add(0, index[:, None].expand_as(src), src))


def test_heads_rows_of_three_dimensions(tmp_path: Path):
    gen = torch.Generator().manual_seed(2)
    path = scatter_onnx(tmp_path, torch.randn(40, 2, 3), torch.randint(0, 9, (40,)),
                        torch.zeros(9, 2, 3))
    src, index, out = torch.randn(700, 2, 3, generator=gen), torch.randint(0, 50, (700,)), \
        torch.randn(50, 2, 3)
    want = Scatter()(src, index, out)
    torch.testing.assert_close(torch.from_numpy(run_scatter(path, 4, src, index, out)), want)


@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_inf_and_nan_give_what_eager_gives(aggr: str, tmp_path: Path):
    gen = torch.Generator().manual_seed(3)
    model = Sequential("x, edge_index", [(SAGEConv(4, 3, aggr=aggr), "x, edge_index -> x")])
    x, edge_index = torch.randn(30, 4, generator=gen), torch.randint(0, 30, (2, 90), generator=gen)
    path = export(model.eval(), tmp_path / "m.onnx", x, edge_index)
    inf, nan = float("inf"), float("nan")
    hub = int(torch.bincount(edge_index[1]).argmax())
    sources = edge_index[0, edge_index[1] == hub]
    assert len(sources.unique()) >= 2
    for first, second in ((inf, inf), (-inf, -inf), (nan, nan), (inf, -inf)):
        bad = x.clone()  # on one feature of one target's sources
        bad[sources[0], 1], bad[sources[sources != sources[0]][0], 1] = first, second
        with torch.no_grad():
            want = model(bad, edge_index)
        for threads in (1, 4):
            got = torch.from_numpy(session(path, threads).run(
                None, {"x": bad.numpy(), "edge_index": edge_index.numpy()})[0])
            torch.testing.assert_close(got, want, equal_nan=True,
                                       msg=f"{first}, {second}, {threads} threads")
        assert not bool(torch.isfinite(want).all())  # the case is real


def test_the_callers_program_is_left_as_it_is_and_layers_share_one_sort():
    model = Sequential("x, edge_index", [
        (SAGEConv(4, 8), "x, edge_index -> x"), torch.nn.ReLU(),
        (SAGEConv(8, 3), "x, edge_index -> x"),
    ])
    x, edge_index = torch.randn(12, 4), torch.randint(0, 12, (2, 40))
    program = export_program(model.eval(), x, edge_index)
    before = str(program.graph)
    lowered, count = lower_aggregations(program)
    assert str(program.graph) == before
    targets = [n.target for n in lowered.graph.nodes]
    assert count == 2 and targets.count(torch.ops.graphseq.sort_targets.default) == 1
    assert targets.count(torch.ops.graphseq.gathered_segment_sum.default) == 2
    x2, edge_index2 = torch.randn(30, 4), torch.randint(0, 30, (2, 99))
    with torch.no_grad():  # the lowered program still runs in torch, with the same result
        torch.testing.assert_close(lowered.module()(x2, edge_index2), model(x2, edge_index2))


def test_max_aggregation_keeps_its_scatter():
    model = Sequential("x, edge_index", [(SAGEConv(4, 3, aggr="max"), "x, edge_index -> x")])
    program = export_program(model.eval(), torch.randn(12, 4), torch.randint(0, 12, (2, 40)))
    assert lower_aggregations(program)[1] == 0
