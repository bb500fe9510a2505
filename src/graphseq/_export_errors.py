"""Notes that turn a failed ``torch.export`` of a graphseq model into a fix.

The generated ``forward`` already notes the failing step and its header (its line map, see
:mod:`graphseq._codegen`). Here the same step is found from the traceback, and a second note says
what graphseq knows about it: a pooling or normalization step that counts graphs from the data
needs the count as an input; a layer that computes a size from tensor values cannot be exported
with dynamic sizes upstream. The exception keeps its type and traceback.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch

from ._codegen import generate
from ._labels import label
from ._parsing import Arg, Header, InputArg, InputArgs
from ._plan import Step

if TYPE_CHECKING:
    from ._sequential import Sequential

COUNT_PARAMS = ("size", "dim_size", "batch_size", "num_graphs")
"""Parameter names by which PyG pools, aggregations and norms take the number of graphs."""

NUM_GRAPHS = "num_graphs"


def _data_dependent_types() -> tuple[type[BaseException], ...]:
    from torch._subclasses import fake_tensor
    from torch.fx.experimental import symbolic_shapes

    found = [
        getattr(symbolic_shapes, "GuardOnDataDependentSymNode", None),
        getattr(fake_tensor, "DataDependentOutputException", None),
        getattr(fake_tensor, "DynamicOutputShapeException", None),
    ]
    return tuple(t for t in found if isinstance(t, type))


def explain_export_error(model: Sequential, error: BaseException) -> None:
    """Add a note to ``error`` with the fix graphseq knows, if any.

    Args:
        model: the model being exported.
        error: what ``torch.export`` raised.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> from torch_geometric.nn import global_mean_pool
        >>> model = Sequential('x, batch', [(global_mean_pool, 'x, batch -> x')])
        >>> try:
        ...     torch.export.export(model, (torch.randn(4, 3), torch.tensor([0, 0, 1, 1])),
        ...                         dynamic_shapes=({0: torch.export.Dim.AUTO},) * 2)
        ... except Exception as error:
        ...     explain_export_error(model, error)
        ...     print(error.__notes__[-1].splitlines()[2])
            header:     'x, batch, size=num_graphs -> x'
    """
    step = failing_step(model, error.__traceback__)
    data_dependent = isinstance(error, _data_dependent_types())
    if step is None:
        return
    if not data_dependent:
        return
    child = model[step.index]
    count = _missing_count_param(child, step)
    if count is not None:
        error.add_note(_count_hint(model, step, child, count))
        return
    where = _deepest_pyg_frame(error.__traceback__)
    error.add_note(
        f"graphseq: {label(child)} cannot be exported with dynamic sizes upstream: "
        f"{where or 'it'} computes a size from tensor values, which torch.export cannot "
        "trace. This is a limitation of the layer in torch.export, not of the model's "
        "headers; the export table in graphseq's docs (docs/export.md) lists layers that export"
    )


def failing_step(model: Sequential, tb: TracebackType | None) -> Step | None:
    """The step whose line of the generated ``forward`` is in ``tb``, if any.

    Args:
        model: the model whose ``forward`` ran.
        tb: a traceback.

    Returns:
        The step, or ``None`` when the error was not raised inside a step.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.ReLU(), 'x -> x'), torch.nn.Linear(3, 2)])
        >>> try:
        ...     model(torch.randn(2, 5))
        ... except RuntimeError as error:
        ...     failing_step(model, error.__traceback__).where
        "step 1 ('module_1')"
    """
    code = getattr(type(model).forward, "__code__", None)
    line = None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            line = tb.tb_lineno
        tb = tb.tb_next
    return _step_at(model, line)


def _step_at(model: Sequential, line: int | None) -> Step | None:
    """The step called on ``line`` of the model's generated ``forward``."""
    if line is None:
        return None
    index = generate(model.plan).line_to_step.get(line)
    return None if index is None else model.plan.steps[index]


def explain_onnx_error(model: Sequential | None, error: BaseException) -> None:
    """Note which step holds the operator that the ONNX translation failed on.

    The failing FX node is found in the frames of ``error`` (or its causes); its recorded
    stack trace has the line of the generated ``forward`` that made it.

    Args:
        model: the model being exported, if known.
        error: what ``torch.onnx.export`` raised.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.special.zeta, 'x, x -> x')])
        >>> from graphseq.export import export_program, save_program
        >>> program = export_program(model, torch.rand(3) + 1)
        >>> try:  # save_program calls explain_onnx_error
        ...     save_program(program, 'never-written.onnx', model=model)
        ... except Exception as error:
        ...     print(error.__notes__[-1][:60])
        graphseq: the ONNX translation failed in step 0 ('module_0')
    """
    node = _failing_node(error)
    code = getattr(type(model).forward, "__code__", None) if model is not None else None
    filename = getattr(code, "co_filename", None)
    step = None
    if model is not None and node is not None and filename is not None:
        trace = str(node.meta.get("stack_trace") or "")
        lines = re.findall(rf'File "{re.escape(filename)}", line (\d+)', trace)
        step = _step_at(model, int(lines[-1]) if lines else None)
    where = f" in {step.where}: {step.header_text}," if step is not None else ""
    target = f" ({node.target})" if node is not None else ""
    error.add_note(
        f"graphseq: the ONNX translation failed{where} at an operator{target} that torch's "
        "ONNX exporter cannot translate; torch.export traced the model, so a .pt2 export works"
    )


def _failing_node(error: BaseException) -> torch.fx.Node | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        found = None
        while tb is not None:
            value = tb.tb_frame.f_locals.get("node")
            if isinstance(value, torch.fx.Node):
                found = value
            tb = tb.tb_next
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _signature(child: Callable[..., Any]) -> inspect.Signature | None:
    fn = child.forward if isinstance(child, torch.nn.Module) else child
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _missing_count_param(child: Callable[..., Any], step: Step) -> str | None:
    """The parameter by which ``child`` takes the number of graphs, when the header omits it."""
    from torch_geometric.nn import MessagePassing

    if isinstance(child, MessagePassing):  # their `size` is (num_src, num_dst), another thing
        return None
    signature = _signature(child)
    if signature is None:
        return None
    given = {a.keyword for a in step.header.keywords if a.keyword}
    for position, (name, _) in enumerate(signature.parameters.items()):
        if name in COUNT_PARAMS:
            if name in given or position < len(step.header.positional):
                return None
            return name
    return None


def _count_hint(model: Sequential, step: Step, child: Callable[..., Any], param: str) -> str:
    inputs = model.plan.inputs
    header = Header((*step.header.args, Arg((NUM_GRAPHS,), keyword=param)), step.header.outs)
    lines = [
        f"graphseq: {label(child)} counts the graphs from the data (batch.max() + 1), "
        "which torch.export cannot trace; declare the count as an input and pass it:",
    ]
    if NUM_GRAPHS not in inputs.names:
        lines.append(f"    input args: {str(_with_count(inputs))!r}")
    lines.append(f"    header:     {str(header)!r}")
    lines.append(
        f"  and call the model with {NUM_GRAPHS}=int(batch.max()) + 1 (export makes it a "
        "dynamic int)"
    )
    return "\n".join(lines)


def _with_count(inputs: InputArgs) -> InputArgs:
    """``inputs`` with ``num_graphs: int`` after the last required one."""
    args = list(inputs.args)
    required = sum(1 for a in args if not a.has_default)
    args.insert(required, InputArg(NUM_GRAPHS, "int"))
    return InputArgs(tuple(args), inputs.return_repr)


def _deepest_pyg_frame(tb: TracebackType | None) -> str | None:
    marker = f"{os.sep}torch_geometric{os.sep}"
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if marker in filename:
            found = f"torch_geometric{os.sep}{filename.rsplit(marker, 1)[1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found
