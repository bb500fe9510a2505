"""Message passing's scatter-add, lowered for ONNX: sort the targets once, then segment sums.

Only the ONNX export uses this: :func:`lower_aggregations` rewrites a copy of the exported
program, and :func:`translations` gives torch's ONNX exporter the bodies
(:mod:`graphseq._onnx_segments`). Eager, ``torch.compile`` and ``.pt2`` keep the scatter.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from typing import Any

import torch
from torch.export import ExportedProgram
from torch.fx import Graph, Node

aten = torch.ops.aten


@torch.library.custom_op("graphseq::sort_targets", mutates_args=())
def sort_targets(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The targets in order and the edges' order."""
    keys, order = torch.sort(index, stable=True)
    return keys, order


@sort_targets.register_fake
def _(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(index), torch.empty_like(index)


@torch.library.custom_op("graphseq::segment_sum", mutates_args=())
def segment_sum(out: torch.Tensor, index: torch.Tensor, keys: torch.Tensor,
                order: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """``out`` plus the rows of ``src`` summed by ``index`` (dim 0)."""
    return out.index_add(0, index, src)


@segment_sum.register_fake
def _(out: torch.Tensor, index: torch.Tensor, keys: torch.Tensor, order: torch.Tensor,
      src: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(out)


@torch.library.custom_op("graphseq::gathered_segment_sum", mutates_args=())
def gathered_segment_sum(out: torch.Tensor, index: torch.Tensor, keys: torch.Tensor,
                         order: torch.Tensor, x: torch.Tensor,
                         source: torch.Tensor) -> torch.Tensor:
    """:func:`segment_sum` of ``x.index_select(0, source)``."""
    return out.index_add(0, index, x.index_select(0, source))


@gathered_segment_sum.register_fake
def _(out: torch.Tensor, index: torch.Tensor, keys: torch.Tensor, order: torch.Tensor,
      x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(out)


def translations() -> dict[Any, Any]:
    """The ONNX bodies of the custom ops, for ``torch.onnx.export``'s translation table."""
    from . import _onnx_segments as onnx

    ops = torch.ops.graphseq
    return {
        ops.sort_targets.default: onnx.sort_targets,
        ops.segment_sum.default: onnx.segment_sum,
        ops.gathered_segment_sum.default: onnx.gathered_segment_sum,
    }


def lower_aggregations(program: ExportedProgram) -> tuple[ExportedProgram, int]:
    """A copy of ``program`` whose row scatter-adds are segment sums, and how many there are.

    A scatter-add is lowered where it adds rows along dim 0 (``float32``/``float64``, at least
    2-D), its index is one target per edge expanded over the row (as message passing makes
    it), and ``out`` has the row's shape. Every scatter over the same targets shares one sort.
    """
    with warnings.catch_warnings():  # torch trips over its own pytree deprecation here
        warnings.simplefilter("ignore", FutureWarning)
        lowered = program.run_decompositions({})  # a new program: the caller's is left as is
    graph = lowered.graph_module.graph
    sorts: dict[Any, Node] = {}
    count = 0
    for node in list(graph.nodes):
        index = _row_scatter(node)
        if index is None:
            continue
        out, _, _, src = node.args
        assert isinstance(src, Node) and isinstance(out, Node)
        with graph.inserting_before(node):
            targets = _call(graph, aten.reshape.default, (index, [-1]))
            key = _key(targets)
            if key not in sorts:
                sort = _call(graph, torch.ops.graphseq.sort_targets.default, (targets,))
                sorts[key] = sort
            sort = sorts[key]
            keys = _call(graph, operator.getitem, (sort, 0))
            order = _call(graph, operator.getitem, (sort, 1))
            gather = _gathered(src)
            if gather is None:
                args: tuple[Any, ...] = (out, targets, keys, order, src)
                target = torch.ops.graphseq.segment_sum.default
            else:
                args = (out, targets, keys, order, *gather)
                target = torch.ops.graphseq.gathered_segment_sum.default
            summed = _call(graph, target, args)
        node.replace_all_uses_with(summed)
        graph.erase_node(node)
        count += 1
    graph.eliminate_dead_code()
    lowered.graph_module.recompile()
    return lowered, count


def _call(graph: Graph, target: Any, args: tuple[Any, ...]) -> Node:
    """A new node, with the ``val`` its fake implementation gives (the exporter reads it)."""
    node = graph.call_function(target, args)
    fakes = tuple(a.meta["val"] if isinstance(a, Node) else a for a in args)
    mode = torch._guards.detect_fake_mode([f for f in fakes if isinstance(f, torch.Tensor)])
    with mode or contextlib.nullcontext():
        node.meta["val"] = target(*fakes)
    return node


def _row_scatter(node: Node) -> Node | None:
    """The per-edge target node of a lowerable row scatter-add (``[E, 1, ...]``), else None."""
    if node.op != "call_function" or node.target != aten.scatter_add.default:
        return None
    out, dim, index, src = node.args
    if not all(isinstance(a, Node) for a in (out, index, src)) or dim != 0:
        return None
    assert isinstance(out, Node) and isinstance(index, Node) and isinstance(src, Node)
    value, rows, where = (a.meta.get("val") for a in (src, out, index))
    if not (isinstance(value, torch.Tensor) and isinstance(rows, torch.Tensor)
            and isinstance(where, torch.Tensor)):
        return None
    if value.dtype not in (torch.float32, torch.float64) or value.dim() < 2:
        return None
    if rows.dtype != value.dtype or rows.shape[1:] != value.shape[1:]:
        return None
    if where.shape != value.shape or index.target not in (aten.expand.default,):
        return None
    base = index.args[0]
    if not isinstance(base, Node) or not isinstance(base.meta.get("val"), torch.Tensor):
        return None
    shape = base.meta["val"].shape
    if len(shape) != value.dim() or any(s != 1 for s in shape[1:]):
        return None
    return base


def _gathered(src: Node) -> tuple[Node, Node] | None:
    """``(x, source)`` where ``src`` is ``x.index_select(0, source)``, else None."""
    if src.op != "call_function" or src.target != aten.index_select.default:
        return None
    x, dim, source = src.args
    if not isinstance(x, Node) or not isinstance(source, Node):
        return None
    if dim not in (0, -x.meta["val"].dim()):
        return None
    return x, source


def _key(node: Any) -> Any:
    """The same key for nodes that compute the same value from the same placeholders."""
    if isinstance(node, (list, tuple)):
        return tuple(_key(a) for a in node)
    if not isinstance(node, Node):
        return node
    if node.op != "call_function" or node.target not in _PURE:
        return node
    return (node.target, _key(node.args), _key(tuple(sorted(node.kwargs.items()))))


_PURE = {
    aten.select.int, aten.slice.Tensor, aten.view.default, aten.reshape.default,
    aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default, aten.clone.default,
    aten.alias.default, aten.t.default, aten.permute.default, aten.sym_size.int,
}
