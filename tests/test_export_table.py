"""The export table in docs/export.md is true: its rows are re-measured here.

What this covers: every row's ``.pt2`` cell (export with dynamic sizes, ``torch.export.save``
and ``load``, then a graph of another size compared with eager), and the ``.onnx`` cells of
``ONNX_ROWS``, a representative subset (a conv, an attention conv, a pool with its size, a
graph norm, and a row that fails), because each ONNX export takes seconds; and the small-graphs
cells of ``SMALL_ROWS`` (0 nodes, 1 graph), guard text and all. A cell that says "yes" must
measure yes, and one that says "no" must measure no.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs_tools import tool

END, START, measure, measure_small, rows = (
    getattr(tool("export_table"), name)
    for name in ("END", "START", "measure", "measure_small", "rows"))

PAGE = Path(__file__).resolve().parents[1] / "docs" / "export.md"
ONNX_ROWS = ("SAGEConv", "GATConv", "global_mean_pool", "GraphNorm", "global_mean_pool (no size)")
SMALL_ROWS = ("GCNConv", "GATConv", "ChebConv", "global_mean_pool", "global_max_pool", "GraphNorm")
ROWS = {row.name: row for row in rows()}


def published() -> dict[str, tuple[str, str, str]]:
    """Each row of the published table: name -> (.pt2, .onnx, .pt2 on small graphs cells)."""
    text = PAGE.read_text(encoding="utf-8")
    table = text[text.index(START) + len(START): text.index(END)]
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ROWS:
            found[cells[0]] = (cells[1], cells[2], cells[3])
    return found


TABLE = published()


def test_the_table_lists_every_row_with_its_versions():
    assert list(TABLE) == list(ROWS)
    assert len(TABLE) >= 15
    text = PAGE.read_text(encoding="utf-8")
    assert re.search(r"Measured with Python [\d.]+, torch [\w.+]+, torch_geometric", text)
    for pt2, onnx, small in TABLE.values():
        assert pt2 == "yes" or pt2.startswith("no: ")
        assert onnx == "yes" or onnx.startswith("no: ")
        assert small == "yes" or small.startswith(("yes (", "no: "))


def _claim(cell: str) -> bool:
    return cell == "yes" or cell.startswith("yes (")


@pytest.mark.parametrize("name", list(ROWS))
def test_pt2_cell_holds(name: str, tmp_path: Path):
    result = measure(ROWS[name], ".pt2", tmp_path)
    assert result.ok == _claim(TABLE[name][0]), f"{name}: measured {result.cell()!r}"


@pytest.mark.parametrize("name", ONNX_ROWS)
def test_onnx_cell_holds(name: str, tmp_path: Path):
    result = measure(ROWS[name], ".onnx", tmp_path)
    assert result.ok == _claim(TABLE[name][1]), f"{name}: measured {result.cell()!r}"


@pytest.mark.parametrize("name", SMALL_ROWS)
def test_the_small_graphs_cell_says_what_a_pt2_does_on_0_nodes_and_1_graph(name: str,
                                                                          tmp_path: Path):
    result = measure_small(ROWS[name], tmp_path)
    assert result.cell() == TABLE[name][2]  # the guard's text too, as published
