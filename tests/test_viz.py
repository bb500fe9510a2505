"""Diagrams: DOT and Mermaid text from the plan, and pictures rendered by Graphviz ``dot``."""

from __future__ import annotations

import copy
import doctest
import pickle
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.nn import Linear, ReLU
from torch_geometric.nn import GCNConv

import graphseq
import graphseq.viz
from graphseq.viz import GraphvizError, GraphvizNotFoundError, render_dot
from tests.models import jk_inputs, jk_model

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' is not installed (apt-get install graphviz)",
)


def weighted_gcn() -> graphseq.Sequential:
    return graphseq.Sequential(
        "x, edge_index, w",
        [
            (GCNConv(16, 16), "x, edge_index, edge_weight=w -> x"),
            ReLU(),
            (GCNConv(16, 4), "x, edge_index, edge_weight=w -> x"),
        ],
    )


class Odd(torch.nn.Module):
    """A module whose repr has every character DOT, HTML and Mermaid treat specially."""

    TEXT = '"hi" {a|b} <b> & \\n #1 `c`'  # short enough to stay on one line

    def forward(self, x: Tensor) -> Tensor:
        return x

    def extra_repr(self) -> str:
        return self.TEXT


def dot_nodes(dot: str) -> dict[str, str]:
    """Node id -> its whole attribute list."""
    return dict(re.findall(r'^  "(\w+)" \[(label=.*)\];$', dot, re.M))


def dot_edges(dot: str) -> dict[tuple[str, str], str]:
    """(source, target) -> edge label ('' when unlabelled)."""
    found = re.findall(r'^  "(\w+)" -> "(\w+)"(?: \[label="(.*)"\])?;$', dot, re.M)
    return {(a, b): label for a, b, label in found}


def svg_text(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


# DOT ------------------------------------------------------------------------------------------


def test_dot_has_a_node_for_every_input_step_and_output() -> None:
    nodes = dot_nodes(jk_model().to_dot())
    for i, name in enumerate(["x", "edge_index", "batch"]):
        assert nodes[f"in{i}"].startswith(f'label="{name}"')
    for i, text in enumerate(
        [
            "Dropout(p=0.5, inplace=False)",
            "GCNConv(16, 64)",
            "ReLU(inplace=True)",
            "GCNConv(64, 64)",
            "ReLU(inplace=True)",
            "JumpingKnowledge(cat)",
            "global_mean_pool",
            "Linear(in_features=128,",
        ]
    ):
        assert f"<B>{i}: module_{i}</B>" in nodes[f"s{i}"]
        assert text in nodes[f"s{i}"]
    assert nodes["out0"].startswith('label="x"')
    assert nodes["p5_0"].startswith('label="[x1, x2]"')
    styles = {re.sub(r"label=.*?, (?=shape)", "", nodes[n]) for n in ("in0", "s0", "out0")}
    assert len(styles) == 3  # inputs, steps and outputs look different


def test_dot_edges_are_labelled_with_the_names_they_carry() -> None:
    edges = dot_edges(jk_model().to_dot())
    assert edges == {
        ("in0", "s0"): "x",
        ("s0", "s1"): "x",
        ("in1", "s1"): "edge_index",
        ("s1", "s2"): "x1",
        ("s2", "s3"): "x1",
        ("in1", "s3"): "edge_index",
        ("s3", "s4"): "x2",
        ("s2", "p5_0"): "x1",  # the packed list gets its own node
        ("s4", "p5_0"): "x2",
        ("p5_0", "s5"): "",
        ("s5", "s6"): "x",
        ("in2", "s6"): "batch",
        ("s6", "s7"): "x",
        ("s7", "out0"): "x",
    }


def test_dot_shows_keyword_arguments_on_their_edges() -> None:
    edges = dot_edges(weighted_gcn().to_dot())
    assert edges[("in2", "s0")] == "edge_weight=w"
    assert edges[("in2", "s2")] == "edge_weight=w"
    assert edges[("in1", "s2")] == "edge_index"


def test_dot_draws_packed_tuples_and_keyword_lists_as_nodes() -> None:
    def combine(pair: tuple[Tensor, Tensor], *, rest: list[Tensor]) -> Tensor:
        return torch.cat([*pair, *rest])

    model = graphseq.Sequential("a, b", [(combine, "(a, b), rest=[b, a] -> y")])
    dot = model.to_dot()
    nodes, edges = dot_nodes(dot), dot_edges(dot)
    assert nodes["p0_0"].startswith('label="(a, b)"')
    assert nodes["p0_1"].startswith('label="rest=[b, a]"')
    assert edges[("in0", "p0_1")] == "a" and edges[("in1", "p0_1")] == "b"
    assert edges[("p0_0", "s0")] == "" and edges[("p0_1", "s0")] == ""


def test_dot_merges_names_flowing_between_the_same_two_nodes() -> None:
    def split(x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:1], x[1:]

    model = graphseq.Sequential("x", [(split, "x -> a, b"), (torch.add, "a, b -> y")])
    assert dot_edges(model.to_dot())[("s0", "s1")] == "a\\nb"


def test_dot_edge_labels_carry_shapes_after_summary_with_examples() -> None:
    model = jk_model()
    assert "float32" not in model.to_dot()
    model.summary()  # no examples: still no shapes
    assert "float32" not in model.to_dot()
    model.summary(*jk_inputs())
    edges = dot_edges(model.to_dot())
    assert edges[("in1", "s1")] == "edge_index\\n[2, 30] int64"
    assert edges[("s1", "s2")] == "x1\\n[10, 64] float32"
    assert edges[("s4", "p5_0")] == "x2\\n[10, 64] float32"
    assert edges[("s7", "out0")] == "x\\n[2, 3] float32"


def test_dot_drops_shapes_once_the_model_is_edited() -> None:
    model = jk_model()
    model.summary(*jk_inputs())
    model.append(Linear(3, 3))
    assert "float32" not in model.to_dot()


def test_dot_keeps_shapes_of_a_copied_model_but_a_pickle_does_not_carry_them() -> None:
    model = jk_model()
    model.summary(*jk_inputs())
    twin = copy.deepcopy(model)  # shares the frozen plan, and so what summary recorded for it
    assert twin.to_dot() == model.to_dot()
    assert "float32" in twin.to_dot()
    unpickled = pickle.loads(pickle.dumps(model))  # the shapes are summary's, in memory
    assert "float32" not in unpickled.to_dot()
    unpickled.summary(*jk_inputs())
    assert unpickled.to_dot() == model.to_dot()


def test_dot_lays_out_left_to_right_on_request() -> None:
    model = weighted_gcn()
    assert "rankdir=TB" in model.to_dot()
    assert "rankdir=LR" in model.to_dot(direction="LR")


def test_dot_escapes_module_reprs_inside_labels() -> None:
    model = graphseq.Sequential("x", [(Odd(), "x -> x")])
    node = dot_nodes(model.to_dot())["s0"]
    assert "Odd(&quot;hi&quot; {a|b} &lt;b&gt; &amp; \\n #1 `c`)" in node


@needs_dot
def test_dot_escaping_renders_the_repr_as_written() -> None:
    model = graphseq.Sequential("x", [(Odd(), "x -> x")])
    text = svg_text(render_dot(model.to_dot(), "svg"))
    assert f"Odd({Odd.TEXT})" in text


@needs_dot
def test_dot_renders_with_graphviz_and_the_svg_names_every_step() -> None:
    model = jk_model()
    model.summary(*jk_inputs())
    text = svg_text(render_dot(model.to_dot(), "svg"))
    for i in range(8):
        assert f"{i}: module_{i}" in text
    for label in ["GCNConv(16, 64)", "JumpingKnowledge(cat)", "global_mean_pool", "[x1, x2]"]:
        assert label in text
    assert {"x", "edge_index", "batch", "[2, 30] int64", "[10, 128] float32"} <= set(text)


# Mermaid --------------------------------------------------------------------------------------


def test_mermaid_flowchart_has_nodes_and_labelled_edges() -> None:
    lines = jk_model().to_mermaid().splitlines()
    assert lines[0] == "flowchart TB"
    body = [line.strip() for line in lines[1:]]
    for line in [
        'in0(["x"])',
        'in1(["edge_index"])',
        's1["1: module_1<br/>GCNConv(16, 64)"]',
        's6["6: module_6<br/>global_mean_pool"]',
        'p5_0("[x1, x2]")',
        'out0(["x"])',
        'in1 -->|"edge_index"| s1',
        'in1 -->|"edge_index"| s3',
        's2 -->|"x1"| p5_0',
        "p5_0 --> s5",
        's7 -->|"x"| out0',
        "class in0,in1,in2 input",
        "class out0 output",
    ]:
        assert line in body
    ids = set(re.findall(r"^(\w+)[\[(]", "\n".join(body), re.M))
    assert ids == {"in0", "in1", "in2", "p5_0", "out0"} | {f"s{i}" for i in range(8)}


def test_mermaid_labels_carry_keywords_and_shapes() -> None:
    model = weighted_gcn()
    model.summary(torch.randn(5, 16), torch.tensor([[0, 1, 2], [1, 2, 3]]), torch.rand(3))
    mermaid = model.to_mermaid(direction="LR")
    assert mermaid.startswith("flowchart LR\n")
    assert '    in2 -->|"edge_weight=w<br/>[3] float32"| s0' in mermaid.splitlines()


def test_mermaid_escapes_quotes_and_markup_in_labels() -> None:
    model = graphseq.Sequential("x", [(Odd(), "x -> x")])
    line = next(x for x in model.to_mermaid().splitlines() if x.startswith("    s0["))
    assert line == (
        '    s0["0: module_0<br/>Odd(#quot;hi#quot; {a|b} #lt;b#gt; #amp; \\n #35;1 #96;c#96;)"]'
    )


# draw -----------------------------------------------------------------------------------------


@needs_dot
def test_draw_writes_svg_for_an_svg_suffix(tmp_path: Path) -> None:
    path = jk_model().draw(tmp_path / "jk.svg")
    assert path == tmp_path / "jk.svg"
    assert "3: module_3" in svg_text(path.read_bytes())


@needs_dot
def test_draw_writes_png_for_a_png_suffix(tmp_path: Path) -> None:
    path = jk_model().draw(str(tmp_path / "jk.PNG"))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert height > width > 200  # one tall column of steps


@pytest.mark.parametrize("name", ["model.pdf", "model.dot", "model"])
def test_draw_rejects_other_suffixes(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        jk_model().draw(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_draw_without_graphviz_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GraphvizNotFoundError) as info:
        jk_model().draw(tmp_path / "jk.svg")
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    for hint in ["apt-get install graphviz", "brew install graphviz", "conda install graphviz"]:
        assert hint in message
    assert not (tmp_path / "jk.svg").exists()


@needs_dot
def test_render_dot_surfaces_the_errors_dot_prints() -> None:
    with pytest.raises(GraphvizError, match="syntax error"):
        render_dot("digraph { -> }", "svg")


@needs_dot
def test_docstring_examples_of_viz_run() -> None:
    result = doctest.testmod(graphseq.viz, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
