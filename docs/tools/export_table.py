"""Which PyG building blocks export with dynamic graph sizes: measured, not claimed.

Each row is a small graphseq model around one PyG block. It is exported on one random graph
(every size dynamic, see :func:`graphseq.export.export`), then the exported program runs on a
graph of another size and is compared with eager. ``python docs/tools/export_table.py`` prints
the table for the installed versions; ``--write docs/export.md`` puts it into that page between
its markers. ``tests/test_export_table.py`` re-measures the published rows.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graphseq.export import bind_inputs, export, run_onnx

CHANNELS = 8
HIDDEN = 16
EDGE_DIM = 4
RELATIONS = 3
ATOL = 1e-4
START = "<!-- export-table:start -->"
END = "<!-- export-table:end -->"


def make_graph(num_nodes: int, num_edges: int, num_graphs: int, seed: int) -> dict[str, Any]:
    """A random batch of ``num_graphs`` graphs with every input a row's model may take.

    Args:
        num_nodes: nodes in all (at least ``num_graphs``).
        num_edges: edges in all; each joins two nodes of the same graph.
        num_graphs: graphs in the batch.
        seed: the random seed.

    Returns:
        ``x``, ``edge_index``, ``edge_attr``, ``edge_weight``, ``edge_type``, ``batch`` and
        ``num_graphs``.

    Example:
        >>> make_graph(10, 30, 2, seed=0)['edge_index'].shape
        torch.Size([2, 30])
    """
    gen = torch.Generator().manual_seed(seed)
    batch = torch.arange(num_graphs).repeat_interleave(
        torch.full((num_graphs,), num_nodes // num_graphs).index_add_(
            0, torch.arange(num_nodes % num_graphs), torch.ones(num_nodes % num_graphs).long()
        )
    )
    starts = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(batch).cumsum(0)])
    graph_of_edge = torch.randint(0, num_graphs, (num_edges,), generator=gen)
    low, high = starts[graph_of_edge], starts[graph_of_edge + 1]
    ends = [low + (torch.rand(num_edges, generator=gen) * (high - low)).long() for _ in range(2)]
    return {
        "x": torch.randn(num_nodes, CHANNELS, generator=gen),
        "edge_index": torch.stack(ends),
        "edge_attr": torch.randn(num_edges, EDGE_DIM, generator=gen),
        "edge_weight": torch.rand(num_edges, generator=gen),
        "edge_type": torch.randint(0, RELATIONS, (num_edges,), generator=gen),
        "batch": batch,
        "num_graphs": num_graphs,
    }


EXAMPLE = (12, 40, 2)
"""The example graph export traces: nodes, edges, graphs."""
OTHER = (29, 97, 3)
"""The graph of another size the exported program is checked on."""
SMALL = {"0 nodes": (0, 0, 2), "1 graph": (3, 2, 1)}
"""Small graphs eager runs, that the exported ``.pt2`` is also checked on: nodes, edges, graphs."""


@dataclass(frozen=True)
class Row:
    """One building block: its name in the table and a factory for a small model around it."""

    name: str
    build: Callable[[], Any]
    note: str = ""


def _mlp(inp: int, out: int) -> torch.nn.Module:
    layers = [torch.nn.Linear(inp, out), torch.nn.ReLU(), torch.nn.Linear(out, out)]
    return torch.nn.Sequential(*layers)


def _conv(conv: Callable[[], Any], inputs: str = "x, edge_index", header: str = "") -> Any:
    from graphseq import Sequential

    return Sequential(inputs, [
        (conv(), header or f"{inputs} -> x"),
        torch.nn.ReLU(),
        (torch.nn.Linear(HIDDEN, 3), "x -> x"),
    ])


def _rows() -> list[Row]:
    from torch.nn import Linear, ReLU
    from torch_geometric import nn as pyg

    from graphseq import Sequential

    c, h = CHANNELS, HIDDEN
    node = "x, edge_index"
    graph = "x, edge_index, batch, num_graphs: int"

    def pooled(pool: Callable[..., Any]) -> Callable[[], Any]:
        return lambda: Sequential(graph, [
            (pyg.SAGEConv(c, h), "x, edge_index -> x"),
            (pool, "x, batch, size=num_graphs -> x"),
            (Linear(h, 2), "x -> x"),
        ])

    def norm(make: Callable[[], Any], header: str) -> Callable[[], Any]:
        return lambda: Sequential(graph, [
            (pyg.GCNConv(c, h), "x, edge_index -> x"),
            (make(), header),
            ReLU(),
            (Linear(h, 3), "x -> x"),
        ])

    return [
        Row("GCNConv", lambda: _conv(lambda: pyg.GCNConv(c, h))),
        Row("SAGEConv", lambda: _conv(lambda: pyg.SAGEConv(c, h))),
        Row("GINConv", lambda: _conv(lambda: pyg.GINConv(_mlp(c, h)))),
        Row("GINEConv", lambda: _conv(
            lambda: pyg.GINEConv(_mlp(c, h), edge_dim=EDGE_DIM), "x, edge_index, edge_attr")),
        Row("GATConv", lambda: _conv(lambda: pyg.GATConv(c, h // 2, heads=2))),
        Row("GATv2Conv", lambda: _conv(lambda: pyg.GATv2Conv(c, h // 2, heads=2))),
        Row("TransformerConv", lambda: _conv(lambda: pyg.TransformerConv(c, h // 2, heads=2))),
        Row("GraphConv", lambda: _conv(lambda: pyg.GraphConv(c, h))),
        Row("ChebConv", lambda: _conv(lambda: pyg.ChebConv(c, h, K=3))),
        Row("TAGConv", lambda: _conv(lambda: pyg.TAGConv(c, h, K=2))),
        Row("SGConv", lambda: _conv(lambda: pyg.SGConv(c, h, K=2))),
        Row("APPNP", lambda: Sequential(node, [
            (Linear(c, h), "x -> x"),
            (pyg.APPNP(K=5, alpha=0.1), "x, edge_index -> x"),
        ])),
        Row("EdgeConv", lambda: _conv(lambda: pyg.EdgeConv(_mlp(2 * c, h)))),
        Row("RGCNConv", lambda: _conv(
            lambda: pyg.RGCNConv(c, h, num_relations=RELATIONS), "x, edge_index, edge_type"),
            "PyG takes int(segment_count.max()) of the edge types"),
        Row("JumpingKnowledge", lambda: Sequential(node, [
            (pyg.GCNConv(c, h), "x, edge_index -> x1"),
            ReLU(),
            (pyg.GCNConv(h, h), "x1, edge_index -> x2"),
            (pyg.JumpingKnowledge("cat"), "[x1, x2] -> x"),
            (Linear(2 * h, 3), "x -> x"),
        ]), "mode 'cat'"),
        Row("global_mean_pool", pooled(pyg.global_mean_pool), "with size=num_graphs"),
        Row("global_max_pool", pooled(pyg.global_max_pool), "with size=num_graphs"),
        Row("global_add_pool", pooled(pyg.global_add_pool), "with size=num_graphs"),
        Row("global_mean_pool (no size)", lambda: Sequential("x, edge_index, batch", [
            (pyg.SAGEConv(c, h), "x, edge_index -> x"),
            (pyg.global_mean_pool, "x, batch -> x"),
        ]), "counts graphs as batch.max() + 1: export names the step and suggests size=num_graphs"),
        Row("BatchNorm", norm(lambda: pyg.BatchNorm(h), "x -> x"), "eval mode"),
        Row("LayerNorm", norm(lambda: pyg.LayerNorm(h), "x, batch, batch_size=num_graphs -> x"),
            "mode 'graph', with batch_size=num_graphs"),
        Row("GraphNorm", norm(lambda: pyg.GraphNorm(h), "x, batch, batch_size=num_graphs -> x"),
            "with batch_size=num_graphs"),
    ]


def rows() -> list[Row]:
    """The measured building blocks, in table order.

    Returns:
        The rows.

    Example:
        >>> len(rows()) >= 15
        True
    """
    return _rows()


@dataclass(frozen=True)
class Result:
    """What one format gave for one row: ``ok``, or why not."""

    ok: bool
    detail: str = ""

    def cell(self) -> str:
        """The table cell: ``yes``, ``yes (<remark>)`` or ``no: <reason>``.

        Returns:
            ``'yes'`` when ``ok`` (with ``detail`` in brackets if any), else ``'no: '``
            followed by ``detail``.

        Example:
            >>> Result(False, 'data-dependent shape').cell()
            'no: data-dependent shape'
        """
        if self.ok:
            return f"yes ({self.detail})" if self.detail else "yes"
        return f"no: {self.detail}"


def build(row: Row) -> Any:
    """The row's model, seeded and in eval mode.

    Args:
        row: the row.

    Returns:
        The model.

    Example:
        >>> build(rows()[0]).training
        False
    """
    torch.manual_seed(0)
    return row.build().eval()


def inputs_for(model: Any, sizes: tuple[int, int, int], seed: int) -> dict[str, Any]:
    """The inputs ``model`` takes, from a random graph of ``sizes`` (nodes, edges, graphs).

    Args:
        model: a row's model.
        sizes: nodes, edges and graphs.
        seed: the random seed.

    Returns:
        Keyword inputs for the model.

    Example:
        >>> sorted(inputs_for(build(rows()[0]), (10, 30, 2), seed=0))
        ['edge_index', 'x']
    """
    graph = make_graph(*sizes, seed=seed)
    return {name: graph[name] for name in model.plan.inputs.names}


def _reason(error: BaseException) -> str:
    from torch._subclasses.fake_tensor import DataDependentOutputException
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    if isinstance(error, GuardOnDataDependentSymNode | DataDependentOutputException):
        return "data-dependent size in PyG"
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:60]}".replace("|", "/")


def _compare(got: Any, want: torch.Tensor) -> Result:
    got = torch.as_tensor(got)
    if got.shape != want.shape:
        return Result(False, f"shape {tuple(got.shape)} != eager {tuple(want.shape)}")
    if not want.numel():
        return Result(True)
    diff = float((got - want).abs().max())
    if diff > ATOL * max(1.0, float(want.abs().max())):
        return Result(False, f"differs from eager by {diff:.2g}")
    return Result(True)


def measure(row: Row, fmt: str, folder: Path) -> Result:
    """Export ``row``'s model to ``fmt`` (``.pt2`` or ``.onnx``) and check it on another graph.

    Args:
        row: the row.
        fmt: ``".pt2"`` or ``".onnx"``.
        folder: where to write the file.

    Returns:
        ``Result(True)`` when it exports and matches eager on the other graph.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     measure(rows()[1], '.pt2', Path(tmp)).cell()
        'yes'
    """
    model = build(row)
    example = inputs_for(model, EXAMPLE, seed=1)
    other = inputs_for(model, OTHER, seed=2)
    with torch.no_grad():
        want = model(**other)
    path = folder / f"{row.name.split()[0]}{fmt}"
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # torch prints partial graphs there
            export(model, path, **example)
    except Exception as error:
        return Result(False, _reason(error))
    try:
        if fmt == ".pt2":
            args = bind_inputs(model, **other).args  # the program takes them in order
            with torch.no_grad():
                got = torch.export.load(path).module()(*args)
        else:
            got = torch.from_numpy(run_onnx(path, model, **other)[0])
    except Exception as error:
        return Result(False, f"runs, then fails on another size: {_reason(error)}")
    return _compare(got, want)


def measure_small(row: Row, folder: Path) -> Result:
    """Export ``row``'s model to ``.pt2`` and check it on each of the :data:`SMALL` graphs.

    torch.export assumes that a dynamic size is at least 2 and guards on it where a layer's
    code depends on it; a graph that breaks such a guard fails with the guard's text.

    Args:
        row: the row.
        folder: where to write the file.

    Returns:
        ``Result(True)`` when the program matches eager on every small graph, else the first
        graph that fails, with the reason (``1 graph: AssertionError: Guard failed: ...``).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     measure_small(rows()[1], Path(tmp)).cell()
        'yes'
    """
    model = build(row)
    path = folder / f"{row.name.split()[0]}_small.pt2"
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            export(model, path, **inputs_for(model, EXAMPLE, seed=1))
    except Exception as error:
        return Result(False, f"does not export: {_reason(error)}")
    program = torch.export.load(path).module()
    eager_fails = []
    for label, sizes in SMALL.items():
        small = inputs_for(model, sizes, seed=3)
        with torch.no_grad():
            try:
                want = model(**small)
            except Exception:  # noqa: BLE001  (the graph is not one eager runs: not checked)
                eager_fails.append(label)
                continue
            try:
                got = program(*bind_inputs(model, **small).args)
            except Exception as error:
                return Result(False, f"{label}: {_reason(error)}")
        result = _compare(got, want)
        if not result.ok:
            return Result(False, f"{label}: {result.detail}")
    return Result(True, f"eager fails on {', '.join(eager_fails)}" if eager_fails else "")


def versions() -> str:
    """The versions the table was measured with, as one line.

    Returns:
        Python, torch, torch_geometric, onnx, onnxscript and onnxruntime versions.

    Example:
        >>> versions().startswith('Python ')
        True
    """
    import onnx
    import onnxruntime
    import onnxscript
    import torch_geometric

    return (
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch_geometric {torch_geometric.__version__}, onnx {onnx.__version__}, "
        f"onnxscript {onnxscript.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def table() -> str:
    """Measure every row in both formats; the Markdown table with its versions line.

    Returns:
        Markdown.
    """
    lines = [
        f"Measured with {versions()}; exported on a graph of {EXAMPLE[0]} nodes, {EXAMPLE[1]} "
        f"edges and {EXAMPLE[2]} graphs, checked on {OTHER[0]} nodes, {OTHER[1]} edges and "
        f"{OTHER[2]} graphs (tolerance {ATOL:.0e}, relative to the largest output). The small "
        "graphs column runs the same `.pt2` on " + ", ".join(
            f"{label} ({n} nodes, {e} edges, {g} graph{'s' * (g != 1)})"
            for label, (n, e, g) in SMALL.items()) + ", which eager runs.",
        "",
        "| building block | `.pt2` (torch.export) | `.onnx` (onnxruntime) "
        "| `.pt2` on small graphs | note |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows():
            cells = [measure(row, fmt, Path(tmp)).cell() for fmt in (".pt2", ".onnx")]
            cells.append(measure_small(row, Path(tmp)).cell())
            lines.append(f"| {row.name} | {cells[0]} | {cells[1]} | {cells[2]} | {row.note} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines) + "\n"


def write(page: Path, text: str) -> None:
    """Put ``text`` into ``page`` between the export-table markers.

    Args:
        page: the Markdown page.
        text: the table.

    Raises:
        ValueError: the page has no markers.
    """
    content = page.read_text(encoding="utf-8")
    head, start, rest = content.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{page} has no {START} ... {END} markers")
    page.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into a page with ``--write PAGE``.

    Args:
        argv: command-line arguments.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python docs/tools/export_table.py", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="PAGE",
                        help="put the table into PAGE between its markers")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = table()
    if args.write:
        write(args.write, text)
        print(f"wrote the table into {args.write}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
