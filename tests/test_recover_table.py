"""The coverage table of to_config() for hand-built layers in docs/configs.md is true.

Its totals must agree with its rows, every registered torch.nn and torch_geometric.nn class
must have a row, and every row is measured again and must give the published cells (the whole
table takes about 15 s). A row whose class needs one of PyG's compiled packages (its cell is
"not constructed: ImportError" on one side) is skipped only where those packages differ from
the ones the table was measured with; every other row is compared everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs_tools import tool

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configs.md"


TOOL = tool("recover_table")


def published() -> list:
    text = PAGE.read_text(encoding="utf-8")
    table = text[text.index(TOOL.START) + len(TOOL.START): text.index(TOOL.END)]
    found = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1] in ("torch.nn", "torch_geometric.nn"):
            variants = [] if cells[3] == "-" else [
                tuple(part.split(": ", 1)) for part in re.split(r"; (?=`)", cells[3])
            ]
            found.append(TOOL.Row(cells[0], cells[1], cells[2],
                                  [(k.strip("`"), v) for k, v in variants]))
    return found


ROWS = published()
CLASSES = dict(TOOL.classes())


def test_every_registered_class_has_a_row() -> None:
    assert [row.name for row in ROWS] == list(CLASSES)
    assert len(ROWS) > 250


def test_the_totals_agree_with_the_rows() -> None:
    text = PAGE.read_text(encoding="utf-8")
    table = text[text.index(TOOL.START): text.index(TOOL.END)]
    counts = TOOL.shares(ROWS)
    for source in ("torch.nn", "torch_geometric.nn", "all"):
        built, total = counts[f"{source} classes"]
        good, constructed = counts[f"{source} default"]
        assert f"| {source} | {built} of {total} | {good} of {constructed} (" in table
    assert re.search(r"Measured with Python [\d.]+, torch [\w.+]+, torch_geometric", table)
    assert counts["all default"][0] >= 150  # the claim in the docs: most layers round-trip


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_every_row_measures_as_published(row) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = TOOL.measure(row.name, CLASSES[row.name])
    here = f", {TOOL._compiled()}."
    missing = "not constructed: ImportError"
    if here not in PAGE.read_text(encoding="utf-8") and missing in (measured.default, row.default):
        pytest.skip(f"{row.name} needs PyG's compiled packages, and the table was measured "
                    f"with other ones than here{here}")
    assert measured.default == row.default
    assert [(k, cell) for k, cell in measured.variants] == row.variants
