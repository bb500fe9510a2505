"""ONNX bodies of the segment sums that stand in for message passing's scatter-add at export.

onnxruntime runs ``ScatterElements(reduction='add')`` on one thread, one row at a time; here
the rows are sorted by target once, and each target's sum is read off a segmented prefix sum
that is built from ``MatMul`` over blocks of ``BLOCK`` rows, which onnxruntime runs fast and
on every thread.

- Within a block, row ``i`` gets the sum of rows ``j <= i`` with its key: a 0/1 lower-
  triangular mask times the block's rows.
- A segment that runs across blocks gets a carry: the sums of every block's last segment form
  a shorter sequence of the same problem, solved the same way ``LEVELS`` times over, and then
  with one dense mask (``E / BLOCK**LEVELS`` rows: 2 at 100,000 edges, 150 at 10,000,000).
- Target ``t``'s sum is read at its last row (``cumsum(counts)[t] - 1``); a target with no
  rows reads a padding row, which is 0.

Each output is a sum of the same rows as eager's, in another order, so it equals eager to
float rounding, with duplicate targets and on any number of threads (no two writers share a
row). A mask's zeros times ``inf`` or ``nan`` would give ``nan`` where eager gives ``inf``, so
an ``If`` falls back to the plain scatter when the fast result is not finite.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import onnx_ir as ir
from onnxscript import opset18

op: Any = opset18

BLOCK = 16
LEVELS = 4
_names = itertools.count()


def _ints(*values: int) -> Any:
    return op.Constant(value_ints=list(values))


def _padded(n: Any) -> Any:
    """``n`` rounded up to a whole number of blocks."""
    block = _ints(BLOCK)
    return op.Mul(op.Div(op.Add(n, _ints(BLOCK - 1)), block), block)


def _prefix(values: Any, keys: Any, level: int) -> Any:
    """Segmented inclusive prefix sums of ``values`` ([n, F]) over runs of equal ``keys``."""
    if level > LEVELS:
        return _dense(values, keys)
    n = op.Shape(keys)
    pad = op.Sub(_padded(n), n)
    zero = _ints(0)
    values = op.Pad(values, op.Concat(zero, zero, pad, zero, axis=0))
    keys = op.Pad(keys, op.Concat(zero, pad, axis=0), _ints(-1))
    return op.Slice(_blocks(values, keys, level), zero, n, zero)


def _blocks(values: Any, keys: Any, level: int) -> Any:
    """:func:`_prefix` where ``n`` is a whole number of blocks."""
    sums, keys, before, before_keys = _block_sums(values, keys, level)
    continues = op.Equal(keys, op.Unsqueeze(before_keys, _ints(1)))
    carry = op.Where(op.Unsqueeze(continues, _ints(2)), op.Unsqueeze(before, _ints(1)),
                     op.CastLike(op.Constant(value_float=0.0), values))
    return op.Reshape(op.Add(sums, carry), op.Concat(_ints(-1), _width(values), axis=0))


def _block_sums(values: Any, keys: Any, level: int) -> tuple[Any, Any, Any, Any]:
    """Sums within blocks ([count, BLOCK, F]), keys by block, and each block's carry in.

    The carry into block ``b`` (``before[b]``) belongs to its rows whose key is
    ``before_keys[b]``: the segment that the earlier blocks began.
    """
    width = _width(values)
    count = op.Div(op.Shape(keys), _ints(BLOCK))
    rows = op.Reshape(values, op.Concat(count, _ints(BLOCK), width, axis=0))
    keys = op.Reshape(keys, op.Concat(count, _ints(BLOCK), axis=0))
    same = op.Equal(op.Unsqueeze(keys, _ints(2)), op.Unsqueeze(keys, _ints(1)))
    lower = op.Constant(value=ir.tensor(np.tril(np.ones((BLOCK, BLOCK), dtype=bool))))
    sums = op.MatMul(op.CastLike(op.And(same, lower), values), rows)  # [count, BLOCK, F]
    last = _ints(BLOCK - 1), _ints(BLOCK), _ints(1)
    last_sums = op.Squeeze(op.Slice(sums, *last), _ints(1))  # each block's last segment
    last_keys = op.Squeeze(op.Slice(keys, *last), _ints(1))
    carried = _prefix(last_sums, last_keys, level + 1)
    zero_row = op.Expand(op.CastLike(op.Constant(value_float=0.0), values),
                         op.Concat(_ints(1), width, axis=0))
    head = _ints(0), _ints(-1), _ints(0)
    before = op.Concat(zero_row, op.Slice(carried, *head), axis=0)
    before_keys = op.Concat(_ints(-3), op.Slice(last_keys, *head), axis=0)
    return sums, keys, before, before_keys


def _dense(values: Any, keys: Any) -> Any:
    """The last level: one [n, n] mask."""
    positions = op.Range(op.Constant(value_int=0), op.Squeeze(op.Shape(keys)),
                         op.Constant(value_int=1))
    lower = op.LessOrEqual(op.Unsqueeze(positions, _ints(0)), op.Unsqueeze(positions, _ints(1)))
    same = op.Equal(op.Unsqueeze(keys, _ints(1)), op.Unsqueeze(keys, _ints(0)))
    return op.MatMul(op.CastLike(op.And(same, lower), values), values)


def sort_targets(index: Any) -> tuple[Any, Any]:
    """The targets in order (``keys``) and the edges' order (``order``): one ``TopK``."""
    keys, order = op.TopK(index, op.Shape(index), largest=0, sorted=1)
    return keys, order


def _segments(out: Any, index: Any, keys: Any, table: Any, take: Any, slow: ir.Graph) -> Any:
    """``out`` plus each target's sum of ``table``'s rows ``take`` (in ``keys`` order)."""
    edges = op.Shape(keys)
    blocks = _padded(op.Add(edges, _ints(1)))  # at least one padding row, which sums to 0
    pad = op.Sub(blocks, edges)
    rows = op.Gather(table, op.Concat(take, op.Expand(op.Sub(op.Shape(table, end=1), _ints(1)),
                                                      pad), axis=0))
    keys = op.Concat(keys, op.Expand(_ints(-1), pad), axis=0)
    sums, _, before, before_keys = _block_sums(rows, keys, 1)
    targets = op.Shape(out, end=1)
    counts = op.ScatterElements(
        op.ConstantOfShape(targets, value=ir.tensor([0], dtype=ir.DataType.INT64)), index,
        op.ConstantOfShape(edges, value=ir.tensor([1], dtype=ir.DataType.INT64)),
        axis=0, reduction="add",
    )
    read = op.Where(op.Greater(counts, _ints(0)), op.Sub(op.CumSum(counts, _ints(0)), _ints(1)),
                    op.Sub(blocks, _ints(1)))
    # the carries are added at the rows read only: one per target, not one per edge
    width = _width(rows)
    read_sums = op.Gather(op.Reshape(sums, op.Concat(_ints(-1), width, axis=0)), read)
    block = op.Div(read, _ints(BLOCK))
    carried = op.Equal(op.Gather(before_keys, block), op.Gather(keys, read))
    read_sums = op.Add(read_sums, op.Where(op.Unsqueeze(carried, _ints(1)),
                                           op.Gather(before, block),
                                           op.CastLike(op.Constant(value_float=0.0), out)))
    fast = op.Add(out, op.Reshape(read_sums, op.Shape(out)))
    finite = op.Not(op.IsNaN(op.Mul(op.ReduceSum(fast, keepdims=0),
                                    op.CastLike(op.Constant(value_float=0.0), out))))
    then = _graph([_node("Identity", [fast])])
    return op.If(finite, then_branch=then, else_branch=slow)


def _with_zero_row(table: Any, width: Any) -> Any:
    zero_row = op.Expand(op.CastLike(op.Constant(value_float=0.0), table),
                         op.Concat(_ints(1), width, axis=0))
    rows = op.Concat(op.Shape(table, end=1), width, axis=0)
    return op.Concat(op.Reshape(table, rows), zero_row, axis=0)


def _width(out: Any) -> Any:
    return op.ReduceProd(op.Shape(out, start=1), keepdims=1)


def segment_sum(out: Any, index: Any, keys: Any, order: Any, src: Any) -> Any:
    """``out.scatter_add(0, index[:, None].expand_as(src), src)``, from sorted targets."""
    width = _width(out)
    slow = _scatter_graph(out, index, op.Reshape(src, op.Concat(op.Shape(src, end=1), width,
                                                                  axis=0)), width)
    return _segments(out, index, keys, _with_zero_row(src, width), order, slow)


def gathered_segment_sum(out: Any, index: Any, keys: Any, order: Any, x: Any,
                         source: Any) -> Any:
    """:func:`segment_sum` of ``src = x.index_select(0, source)``, gathered once, sorted."""
    width = _width(out)
    table = _with_zero_row(x, width)
    gathered = _node("Gather", [table, source])  # only the fallback gathers every edge's row
    slow = _scatter_graph(out, index, gathered.outputs[0], width, [gathered])
    return _segments(out, index, keys, table, op.Gather(source, order), slow)


def _scatter_graph(out: Any, index: Any, src: Any, width: Any,
                   before: list[ir.Node] | None = None) -> ir.Graph:
    """The fallback branch: the plain scatter, exact wherever eager's is."""
    flat = op.Reshape(out, op.Concat(op.Shape(out, end=1), width, axis=0))
    column = op.Unsqueeze(index, _ints(1))
    nodes = list(before or [])
    shape = _node("Shape", [src])
    expanded = _node("Expand", [column, shape.outputs[0]])
    scatter = _node("ScatterElements", [flat, expanded.outputs[0], src],
                    axis=0, reduction="add")
    back = _node("Reshape", [scatter.outputs[0], op.Shape(out)])
    return _graph([*nodes, shape, expanded, scatter, back])


def _node(op_type: str, inputs: list[Any], **attributes: Any) -> ir.Node:
    node = ir.Node("", op_type, inputs, attributes=ir.convenience.convert_attributes(attributes),
                   num_outputs=1, version=18)
    node.outputs[0].name = f"graphseq_segments_{next(_names)}"
    return node


def _graph(nodes: list[ir.Node]) -> ir.Graph:
    return ir.Graph((), [nodes[-1].outputs[0]], nodes=nodes,
                    name=f"graphseq_branch_{next(_names)}")
