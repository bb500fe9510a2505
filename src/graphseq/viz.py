"""Diagrams of a model's dataflow: Graphviz DOT, Mermaid, and SVG/PNG through ``dot``.

Both texts come from one small graph read off the plan: the model's inputs, its steps and
its outputs are nodes, and each edge carries the names (with shapes, after ``summary`` ran
with example inputs) that flow along it. A packed ``[x1, x2]`` or ``(x1, x2)`` argument is a
small node of its own, so that a reader sees what is packed and where it goes. This module
takes a plan and the children, never the model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._labels import short_repr
from ._plan import INPUT, Plan

Direction = Literal["TB", "LR"]

FORMATS = {".svg": "svg", ".png": "png"}
"""File suffixes :func:`draw` writes, and the ``dot -T`` format of each."""

INSTALL_HINT = (
    "Install Graphviz, for example with 'apt-get install graphviz' (Debian, Ubuntu), "
    "'brew install graphviz' (macOS) or 'conda install graphviz'. "
    "model.to_dot() and model.to_mermaid() give the diagram as text without it."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not on ``PATH``."""


class GraphvizError(RuntimeError):
    """``dot`` failed; the message carries its stderr."""


# The graph both renderers draw ----------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    id: str
    kind: Literal["input", "step", "pack", "output"]
    title: str
    detail: str = ""


@dataclass
class _Edge:
    src: str
    dst: str
    items: list[tuple[str, str | None]] = field(default_factory=list)  # (label, shape)


Children = Mapping[str, Callable[..., Any]]
Shapes = Mapping[tuple[int, str], str]


def _graph(plan: Plan, children: Children, shapes: Shapes) -> tuple[list[_Node], list[_Edge]]:
    nodes: list[_Node] = []
    edges: dict[tuple[str, str], _Edge] = {}
    inputs = {name: f"in{i}" for i, name in enumerate(plan.inputs.names)}

    def connect(src: str, dst: str, label: str, shape: str | None) -> None:
        edges.setdefault((src, dst), _Edge(src, dst)).items.append((label, shape))

    def carry(name: str, producer: int, dst: str, label: str) -> None:
        src = inputs[name] if producer == INPUT else f"s{producer}"
        connect(src, dst, label, shapes.get((producer, name)))

    for name, node in inputs.items():
        nodes.append(_Node(node, "input", name))
    for step in plan.steps:
        node = f"s{step.index}"
        detail = short_repr(children[step.name], width=90)
        nodes.append(_Node(node, "step", f"{step.index}: {step.name}", detail))
        source = dict(zip(step.header.reads, step.sources, strict=True))
        for j, arg in enumerate(step.header.args):
            if arg.literal is not None:  # a constant: no dataflow
                continue
            if arg.pack:
                pack = f"p{step.index}_{j}"
                nodes.append(_Node(pack, "pack", str(arg)))
                for name in arg.names:
                    carry(name, source[name], pack, name)
                connect(pack, node, "", None)
            else:
                carry(arg.names[0], source[arg.names[0]], node, str(arg))
    for i, (name, producer) in enumerate(zip(plan.outputs, plan.output_sources, strict=True)):
        nodes.append(_Node(f"out{i}", "output", name))
        carry(name, producer, f"out{i}", name)
    return nodes, list(edges.values())


def _edge_lines(edge: _Edge) -> list[str]:
    lines: list[str] = []
    for label, shape in edge.items:
        lines.extend(x for x in (label, shape) if x)
    return lines


# DOT ------------------------------------------------------------------------------------------

_DOT_STYLE = {
    "input": 'shape=box, style="rounded,filled", fillcolor="#dbeafe", color="#2563eb"',
    "output": 'shape=box, style="rounded,filled", fillcolor="#dcfce7", color="#16a34a", '
    "peripheries=2",
    "step": 'shape=box, style="filled", fillcolor="#f8fafc", color="#475569"',
    "pack": 'shape=box, style="rounded,dashed", fontsize=10, color="#64748b", '
    'margin="0.05,0.02", height=0.2',
}


def _dot_string(text: str) -> str:
    """``text`` as a quoted DOT string that shows literally (no ``\\N``-style escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_lines(lines: list[str]) -> str:
    """Several lines as one quoted DOT label."""
    return '"' + "\\n".join(_dot_string(x)[1:-1] for x in lines) + '"'


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _wrap(text: str, width: int = 34) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False, max_lines=3, placeholder=" ...") or [
        ""
    ]


def to_dot(
    plan: Plan, children: Children, shapes: Shapes | None = None, direction: str = "TB"
) -> str:
    """Graphviz DOT source of a model's dataflow, top to bottom (or ``direction='LR'``).

    Args:
        plan: The model's plan.
        children: Each step's callable by step name.
        shapes: Value descriptions by ``(producer, name)``, shown on the edges.
        direction: ``"TB"`` or ``"LR"``.

    Returns:
        The DOT source.

    Raises:
        ValueError: Another direction.

    Example:
        >>> import graphseq
        >>> from torch_geometric.nn import GCNConv
        >>> model = graphseq.Sequential('x, edge_index', [(GCNConv(4, 8), 'x, edge_index -> h')])
        >>> print(model.to_dot())  # doctest: +ELLIPSIS
        digraph graphseq {
        ...
          "in1" -> "s0" [label="edge_index"];
        ...
    """
    nodes, edges = _graph(plan, children, shapes or {})
    out = [
        "digraph graphseq {",
        f'  graph [rankdir={_direction(direction)}, bgcolor="white", nodesep=0.4, ranksep=0.45, '
        'fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=12, margin="0.15,0.06"];',
        '  edge [fontname="Helvetica", fontsize=10, color="#64748b", fontcolor="#334155", '
        "arrowsize=0.7];",
    ]
    for node in nodes:
        if node.kind == "step":
            # One table row per line: plain <BR/> lines are so close that an underscore
            # in one line draws over the next one.
            rows = [f"<TR><TD><B>{_html(node.title)}</B></TD></TR>"] + [
                f'<TR><TD><FONT POINT-SIZE="10">{_html(x)}</FONT></TD></TR>'
                for x in _wrap(node.detail)
            ]
            label = f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>>'
        else:
            label = _dot_string(node.title)
        group = ', group="steps"' if node.kind in ("step", "pack") else ""
        out.append(f'  "{node.id}" [label={label}, {_DOT_STYLE[node.kind]}{group}];')
    for edge in edges:
        lines = _edge_lines(edge)
        attrs = f" [label={_dot_lines(lines)}]" if lines else ""
        out.append(f'  "{edge.src}" -> "{edge.dst}"{attrs};')
    for kind, rank in (("input", "source"), ("output", "sink")):
        # No invisible edges to keep the inputs in order: they make dot loop edges around.
        ids = " ".join(f'"{n.id}";' for n in nodes if n.kind == kind)
        out.append(f"  {{rank={rank}; {ids}}}")
    out.append("}")
    return "\n".join(out) + "\n"


# Mermaid --------------------------------------------------------------------------------------

_MERMAID_SHAPE = {
    "input": ('(["', '"])'),
    "output": ('(["', '"])'),
    "step": ('["', '"]'),
    "pack": ('("', '")'),
}


def _mermaid(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label (entity codes for the special characters)."""
    text = text.replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;")):
        text = text.replace(char, code)
    return text.replace("`", "#96;")


def to_mermaid(
    plan: Plan, children: Children, shapes: Shapes | None = None, direction: str = "TB"
) -> str:
    """A Mermaid ``flowchart`` of a model's dataflow, to paste into a ```` ```mermaid ```` block.

    Args:
        plan: The model's plan.
        children: Each step's callable by step name.
        shapes: Value descriptions by ``(producer, name)``, shown on the edges.
        direction: ``"TB"`` or ``"LR"``.

    Returns:
        The Mermaid source.

    Raises:
        ValueError: Another direction.

    Example:
        >>> import graphseq
        >>> from torch_geometric.nn import GCNConv
        >>> model = graphseq.Sequential('x, edge_index', [(GCNConv(4, 8), 'x, edge_index -> h')])
        >>> print(model.to_mermaid())  # doctest: +ELLIPSIS
        flowchart TB
            in0(["x"])
        ...
            in1 -->|"edge_index"| s0
        ...
    """
    nodes, edges = _graph(plan, children, shapes or {})
    out = [f"flowchart {_direction(direction)}"]
    for node in nodes:
        lines = [node.title] + ([node.detail] if node.detail else [])
        text = "<br/>".join(_mermaid(x) for x in lines)
        start, end = _MERMAID_SHAPE[node.kind]
        out.append(f"    {node.id}{start}{text}{end}")
    for edge in edges:
        lines = _edge_lines(edge)
        label = f'|"{"<br/>".join(_mermaid(x) for x in lines)}"|' if lines else ""
        out.append(f"    {edge.src} -->{label} {edge.dst}")
    out.append("    classDef input fill:#dbeafe,stroke:#2563eb")
    out.append("    classDef output fill:#dcfce7,stroke:#16a34a")
    out.append("    classDef pack stroke-dasharray:4 3")
    for kind in ("input", "output", "pack"):
        ids = [n.id for n in nodes if n.kind == kind]
        if ids:
            out.append(f"    class {','.join(ids)} {kind}")
    return "\n".join(out) + "\n"


# Rendering ------------------------------------------------------------------------------------


def render_dot(source: str, fmt: str) -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on DOT ``source``; the rendered bytes.

    Args:
        source: DOT source, such as ``model.to_dot()``.
        fmt: A Graphviz output format, such as ``'svg'`` or ``'png'``.

    Returns:
        What ``dot`` wrote to its standard output.

    Raises:
        GraphvizNotFoundError: ``dot`` is not on ``PATH``.
        GraphvizError: ``dot`` failed (bad source or format); the message carries its stderr.

    Example:
        >>> render_dot('digraph { a -> b }', 'svg').startswith(b'<?xml')
        True
    """
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            "Graphviz's 'dot' program was not found on PATH, and it is needed to render "
            f"diagrams. {INSTALL_HINT}"
        )
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"], input=source.encode(), check=True, capture_output=True
        )
    except subprocess.CalledProcessError as error:
        stderr = error.stderr.decode(errors="replace").strip()
        raise GraphvizError(
            f"Graphviz 'dot -T{fmt}' failed (exit status {error.returncode}): {stderr}"
        ) from None
    return done.stdout


def _direction(direction: str) -> Direction:
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR' (got {direction!r})")
    return "TB" if direction == "TB" else "LR"


def draw(dot: str, path: str | os.PathLike[str]) -> Path:
    """Render DOT source to ``path``, as SVG or PNG by its suffix; the path.

    Args:
        dot: DOT source, such as ``model.to_dot()``.
        path: A ``.svg`` or ``.png`` file.

    Returns:
        The path.

    Raises:
        ValueError: Another suffix.
        GraphvizNotFoundError: ``dot`` is not installed.

    Example:
        >>> import graphseq, tempfile
        >>> from torch_geometric.nn import GCNConv
        >>> model = graphseq.Sequential('x, edge_index', [(GCNConv(4, 8), 'x, edge_index -> h')])
        >>> draw(model.to_dot(), Path(tempfile.mkdtemp()) / 'model.svg').suffix
        '.svg'
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"draw() writes .svg or .png files, chosen by the suffix; {str(path)!r} has "
            f"{repr(path.suffix) if path.suffix else 'no suffix'}. For other formats, "
            "run Graphviz on model.to_dot()."
        )
    path.write_bytes(render_dot(dot, fmt))
    return path


__all__ = [
    "FORMATS",
    "GraphvizError",
    "GraphvizNotFoundError",
    "draw",
    "render_dot",
    "to_dot",
    "to_mermaid",
]
