"""Ship a model: ``torch.export`` (``.pt2``), AOTInductor (``.pt2`` package) or ONNX (``.onnx``).

Every tensor dimension is exported as ``Dim.AUTO`` (torch keeps static what must be static, such
as channel counts) and every ``int`` input as ``Dim.DYNAMIC``, so one exported file serves graphs
of any size. When tracing fails inside a step, the error keeps its type and traceback; the
generated ``forward`` notes the step and its header, and :func:`export` adds the fix graphseq
knows (see :mod:`graphseq._export_errors`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.export import Dim, ExportedProgram
from torch.utils._pytree import tree_leaves

from ._export_errors import explain_export_error, explain_onnx_error
from ._typed_export import flat_dynamic_shapes, is_typed, wrap
from .hetero import flat_leaves

if TYPE_CHECKING:
    from ._sequential import Sequential

FORMATS = {".pt2": "torch.export", ".onnx": "ONNX"}
"""The file suffixes :func:`export` writes, and what each holds."""

TRIMMING_KWARGS = ("num_sampled_nodes_per_hop", "num_sampled_edges_per_hop")
"""Keyword-only arguments of the eager ``forward`` (per-hop trimming) that export leaves out."""


@dataclass(frozen=True)
class ExampleInputs:
    """The example call bound to the model's inputs: what ``torch.export`` traces.

    Attributes:
        args: the positional values, in the model's input order, up to the last one given.
        kwargs: keyword-only inputs given (never the trimming ones).
        names: the model's input names, in order (``args`` then ``kwargs``).
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    names: tuple[str, ...]

    def values(self) -> dict[str, Any]:
        """Each input name with its value.

        Returns:
            A new dict from input name to example value, in the model's input order.
        """
        return dict(zip(self.names, (*self.args, *self.kwargs.values()), strict=True))


def bind_inputs(model: torch.nn.Module, *args: Any, **kwargs: Any) -> ExampleInputs:
    """Bind an example call to ``model.forward``'s inputs, in order, as the program takes them.

    Every input up to the last one given is positional (defaults fill the gaps); inputs after
    it keep their defaults and are not inputs of the exported program. The trimming arguments
    are left out.

    Args:
        model: the model whose ``forward`` is called.
        *args: example positional inputs.
        **kwargs: example keyword inputs.

    Returns:
        The bound inputs.

    Raises:
        TypeError: the call does not fit ``forward``'s signature.
        ValueError: a trimming argument is given (export serves full graphs).

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x, scale: float = 2.0', [(torch.nn.Identity(), 'x -> x')])
        >>> bind_inputs(model, torch.ones(3)).names
        ('x',)
        >>> bind_inputs(model, x=torch.ones(3), scale=3.0).names
        ('x', 'scale')
    """
    for name in TRIMMING_KWARGS:
        if kwargs.get(name) is not None:
            raise ValueError(
                f"export takes no {name}: per-hop trimming is for sampled mini-batches in "
                "eager mode; an exported model runs the whole graph it is given"
            )
        kwargs.pop(name, None)
    signature = inspect.signature(model.forward)
    params = {
        name: p for name, p in signature.parameters.items() if name not in TRIMMING_KWARGS
    }
    bound = signature.replace(parameters=list(params.values())).bind(*args, **kwargs)
    given = set(bound.arguments)
    bound.apply_defaults()
    ordered = [n for n, p in params.items() if p.kind != p.KEYWORD_ONLY]
    # Inputs after the last one given keep their defaults and are left out of the program.
    last = max((i for i, n in enumerate(ordered) if n in given), default=-1)
    positional = [bound.arguments[n] for n in ordered[: last + 1]]
    keyword: dict[str, Any] = {}
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"export needs named inputs, but forward takes {p}")
        if p.kind == p.KEYWORD_ONLY and name in given:
            keyword[name] = bound.arguments[name]
    names = (*ordered[: last + 1], *keyword)
    return ExampleInputs(tuple(positional), keyword, names)


def default_dynamic_shapes(inputs: ExampleInputs) -> dict[str, Any]:
    """Every tensor dimension ``Dim.AUTO`` and every ``int`` ``Dim.DYNAMIC``, by input name.

    Args:
        inputs: the bound example inputs.

    Returns:
        ``dynamic_shapes`` in ``torch.export``'s format, keyed by input name.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x, n: int', [(torch.nn.Identity(), 'x -> x')])
        >>> shapes = default_dynamic_shapes(bind_inputs(model, torch.ones(3, 2), 4))
        >>> shapes['n'] is torch.export.Dim.DYNAMIC, len(shapes['x'])
        (True, 2)
    """
    return {name: _dynamic(value) for name, value in inputs.values().items()}


def _dynamic(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {dim: Dim.AUTO for dim in range(value.dim())}
    if isinstance(value, int) and not isinstance(value, bool):
        return Dim.DYNAMIC
    if isinstance(value, list | tuple):
        return type(value)(_dynamic(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _dynamic(v) for k, v in value.items()}
    return None


class ExampleSizeError(ValueError):
    """An example size is 0 or 1 where graphs vary: torch would fix it as a constant."""


def _check_sizes(model: torch.nn.Module, inputs: ExampleInputs) -> None:
    """Refuse example sizes of 0 and 1 where graphs vary, which torch would fix as constants.

    Every dimension of every tensor is looked at, not only the first: ``edge_index`` holds its
    edges in dimension 1. A size of 0 or 1 that the model itself fixes (a feature count of 1,
    set by a layer's weight) is allowed: a probe export in which torch keeps 0 and 1 symbolic
    (``backed_size_oblivious``) tells the two apart; it runs only when some size is 0 or 1.
    """
    for name, value in inputs.values().items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 2:
            raise ExampleSizeError(_small_message(name, f"the value {value}"))
    tensors = [v for v in tree_leaves((inputs.args, inputs.kwargs)) if isinstance(v, torch.Tensor)]
    if all(d >= 2 for tensor in tensors for d in tensor.shape):
        return
    for (name, varies), tensor in zip(_varying_dims(model, inputs), tensors, strict=True):
        for dim, size in enumerate(tensor.shape):
            if size < 2 and (varies is None or varies[dim]):
                what = f"{size} row{'s' if size != 1 else ''}" if dim == 0 else (
                    f"size {size} in dimension {dim}"
                )
                raise ExampleSizeError(_small_message(name, what))


def _small_message(name: str, what: str) -> str:
    return (
        f"example input {name!r} has {what}: torch.export fixes sizes of 0 and 1 as "
        "constants, so the exported model would accept no other. Give an example graph "
        "with at least 2 nodes, edges and graphs, or pass dynamic_shapes= yourself"
    )


def _varying_dims(
    model: torch.nn.Module, inputs: ExampleInputs
) -> list[tuple[str, tuple[bool, ...] | None]]:
    """For each tensor input (flattened), its name and which dimensions graphs may vary.

    ``None`` where the probe export failed: then any dimension may vary.
    """
    from torch.fx.experimental import _config as shapes_config

    try:
        oblivious = shapes_config.patch(backed_size_oblivious=True)  # type: ignore[attr-defined]
        with oblivious, _quiet_torch():
            probe = torch.export.export(
                model, inputs.args, inputs.kwargs or None,
                dynamic_shapes=default_dynamic_shapes(inputs), strict=False,
            )
    except Exception:
        return [
            (name, None)
            for name, value in inputs.values().items()
            for leaf in tree_leaves(value)
            if isinstance(leaf, torch.Tensor)
        ]
    ranges = probe.range_constraints
    return [
        (item.name, tuple(
            not isinstance(d, int)
            and all(bool(ranges[s].upper > 2) for s in d.free_symbols if s in ranges)
            for d in item.dims
        ))
        for item in input_dims(probe)
        if item.dims is not None
    ]


def export_program(
    model: Sequential,
    *args: Any,
    dynamic_shapes: dict[str, Any] | tuple[Any, ...] | list[Any] | None = None,
    **kwargs: Any,
) -> ExportedProgram:
    """``torch.export.export`` with graphseq's dynamic sizes and error notes.

    Inputs that are dicts by type (a typed model's) are traced as one keyword input per type,
    named by :func:`flat_inputs`; the outputs' dicts are keyed by the types' names
    (:func:`graphseq.hetero.key_name`), since a saved ``.pt2`` cannot be called with tuple
    keys (see ``docs/hetero.md``).

    Args:
        model: the model to trace (in its current train/eval mode).
        *args: example inputs.
        dynamic_shapes: torch's ``dynamic_shapes``; default :func:`default_dynamic_shapes`.
            For a typed model, keyed by input (with dicts by type) or by :func:`flat_inputs`
            name.
        **kwargs: example keyword inputs.

    Returns:
        The exported program.

    Raises:
        ValueError: an example size is 0 or 1 where graphs vary (dim 0 of a tensor, an int),
            so torch would fix it; only with the default ``dynamic_shapes``.
        Exception: whatever ``torch.export`` raises, with notes naming the step and the fix.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> program = export_program(model, torch.randn(5, 4))
        >>> program.module()(torch.randn(9, 4)).shape
        torch.Size([9, 2])
    """
    inputs = bind_inputs(model, *args, **kwargs)
    traced: torch.nn.Module = model
    if is_typed(inputs):  # dicts by type: one named tensor each (see graphseq._typed_export)
        wrapper, flat = wrap(model, inputs)
        traced, inputs = wrapper, ExampleInputs((), flat, tuple(flat))
        if isinstance(dynamic_shapes, Mapping):
            dynamic_shapes = flat_dynamic_shapes(dynamic_shapes, wrapper.leaves)
    if dynamic_shapes is None:
        _check_sizes(traced, inputs)
        dynamic_shapes = default_dynamic_shapes(inputs)
    try:
        return torch.export.export(
            traced, inputs.args, inputs.kwargs or None, dynamic_shapes=dynamic_shapes,
            strict=False,
        )
    except Exception as error:
        explain_export_error(model, error)
        raise


def export(
    model: Sequential,
    path: str | os.PathLike[str],
    *args: Any,
    dynamic_shapes: dict[str, Any] | tuple[Any, ...] | list[Any] | None = None,
    aot: bool = False,
    **kwargs: Any,
) -> Path:
    """Export ``model`` to ``path``: ``.pt2`` (``torch.export``) or ``.onnx`` (ONNX).

    The exported program takes the model's inputs positionally, in the model's order, up to
    the last one the example gives (see :func:`bind_inputs`); an ``.onnx`` graph's inputs are
    named after them. A typed model's dicts by type become one input per type, each with sizes
    of its own, named by input and type (``x__paper``) and given by name: see
    :func:`flat_inputs`.

    Args:
        model: the model (export follows its train/eval mode: call ``model.eval()`` first).
        path: the file to write; its suffix picks the format.
        *args: example inputs, as for ``model(...)``.
        dynamic_shapes: torch's ``dynamic_shapes`` to use instead of graphseq's default (every
            tensor dimension ``Dim.AUTO``, every ``int`` ``Dim.DYNAMIC``).
        aot: compile the ``.pt2`` ahead of time with AOTInductor; load it with
            ``torch._inductor.aoti_load_package``.
        **kwargs: example keyword inputs.

    Returns:
        The path written.

    Raises:
        ValueError: the suffix is not ``.pt2`` or ``.onnx``, or ``aot`` with ``.onnx``, or an
            example size is 0 or 1 where graphs vary (see :func:`export_program`).
        Exception: what ``torch.export`` raises, with notes naming the failing step and the fix.

    Example:
        >>> import tempfile, torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = export(model, f'{tmp}/model.pt2', torch.randn(5, 4))
        ...     torch.export.load(path).module()(torch.randn(9, 4)).shape
        torch.Size([9, 2])
    """
    check_path(path, aot=aot)
    program = export_program(model, *args, dynamic_shapes=dynamic_shapes, **kwargs)
    return save_program(program, path, aot=aot, model=model)


def check_path(path: str | os.PathLike[str], *, aot: bool = False) -> None:
    """Check that :func:`save_program` can write ``path``: its suffix picks a format.

    Args:
        path: the file to write.
        aot: whether an AOTInductor package is asked for.

    Raises:
        ValueError: the suffix is not ``.pt2`` or ``.onnx``, ``aot`` with ``.onnx``, or
            ``path`` is an existing folder.

    Example:
        >>> check_path('model.onnx')
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot export to {str(out)!r}: the file name must end in .pt2 (torch.export) "
            "or .onnx (ONNX)"
        )
    if aot and suffix != ".pt2":
        raise ValueError(f"aot=True writes an AOTInductor package, whose name ends in .pt2: {out}")
    if out.is_dir():
        raise ValueError(f"cannot export to {str(out)!r}: it is a folder; give a file name")


def save_program(
    program: ExportedProgram,
    path: str | os.PathLike[str],
    *,
    aot: bool = False,
    model: Sequential | None = None,
) -> Path:
    """Write an exported program to ``path``: ``.pt2`` or ``.onnx`` by suffix.

    Args:
        program: from :func:`export_program`.
        path: the file to write.
        aot: compile the ``.pt2`` with AOTInductor.
        model: the model the program came from; with it, an ONNX failure names the step.

    Returns:
        The path written.

    Raises:
        ValueError: the suffix is not ``.pt2`` or ``.onnx``, or ``aot`` with ``.onnx``.
        Exception: what ``torch.onnx.export`` raises, with a note naming the failing step.

    Example:
        >>> import tempfile, torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_program(export_program(model, torch.randn(5, 4)), f'{tmp}/m.pt2').name
        'm.pt2'
    """
    out = Path(path)
    check_path(out, aot=aot)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".onnx":
        _save_onnx(program, out, model)
    elif aot:
        from torch._inductor import aoti_compile_and_package

        with warnings.catch_warnings():  # torch trips over its own deprecations while compiling
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            aoti_compile_and_package(program, package_path=os.fspath(out))
    else:
        torch.export.save(program, out)
    return out


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Hold back everything the named loggers log (even at ERROR level) for the duration.

    Args:
        *names: the loggers' names.

    Returns:
        A context manager.

    Example:
        >>> with quiet_loggers('torch._subclasses.fake_tensor'):
        ...     pass
    """
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


TRACING_LOGGERS = (
    "torch._export.non_strict_utils",  # "0/1 specialized" while probing sizes
    "torch.fx.experimental.symbolic_shapes",  # where it looked for user code
    "torch._subclasses.fake_tensor",  # a traceback at ERROR level when a shape mismatches
)
"""torch's loggers that report on a failed or probing trace: graphseq's own error says it."""


ONNX_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


def _quiet_torch() -> contextlib.AbstractContextManager[None]:
    return quiet_loggers(*TRACING_LOGGERS)


def _save_onnx(program: ExportedProgram, out: Path, model: Sequential | None) -> None:
    from ._extras import need

    for module in ("onnx", "onnxscript"):
        need("export", module, "ONNX export")
    from ._onnx_lowering import lower_aggregations, translations

    try:  # the program's inputs are named after the model's, and so are the ONNX graph's
        with warnings.catch_warnings(), quiet_loggers(ONNX_REGISTRATION_LOGGER):
            # torch's ONNX exporter trips over torch's own deprecations and logs that optional
            # torchvision operators are missing: nothing for users to act on
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            onnx_program = torch.onnx.export(
                lower_aggregations(program)[0], dynamo=True, verbose=False,
                external_data=False, custom_translation_table=translations(),
            )
    except Exception as error:
        explain_onnx_error(model, error)
        raise
    assert onnx_program is not None
    _keep_input_names(onnx_program.model.graph, _user_input_names(program))
    onnx_program.save(out)


def _user_input_names(program: ExportedProgram) -> list[str]:
    """The names of ``program``'s user inputs, in order: the model's input names."""
    from torch.export.graph_signature import ConstantArgument, InputKind

    return [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == InputKind.USER_INPUT and not isinstance(spec.arg, ConstantArgument)
    ]


def _keep_input_names(graph: Any, names: list[str]) -> None:
    """Give the ONNX graph's inputs the model's names back.

    An output that is also an input (``outputs='h, x'``) cannot share the input's name in
    ONNX, so torch's exporter renames the input (``x_orig``) and the output keeps ``x``; here
    the output becomes ``x_out`` instead, so that the inputs are fed by the model's names.
    """
    taken = {v.name for node in graph for v in node.outputs} | {v.name for v in graph.inputs}
    by_name = {v.name: v for node in graph for v in node.outputs}
    for value, name in zip(graph.inputs, names, strict=False):
        if value.name == name:
            continue
        holder = by_name.get(name)
        if holder is not None:
            fresh, n = f"{name}_out", 1
            while fresh in taken:
                fresh, n = f"{name}_out{n}", n + 1
            taken.add(fresh)
            holder.name = fresh
        value.name = name


@dataclass(frozen=True)
class InputDims:
    """One input of an exported program: its sizes, static (``int``) or dynamic (a symbol).

    Attributes:
        name: the input's name.
        dims: a tensor's sizes, or ``None`` for a scalar.
        value: a scalar's symbol or constant value, or ``None`` for a tensor.
        dtype: a tensor's dtype, or ``None``.
    """

    name: str
    dims: tuple[Any, ...] | None
    value: Any = None
    dtype: torch.dtype | None = None


def input_dims(program: ExportedProgram) -> list[InputDims]:
    """Each user input of ``program`` with its sizes; dynamic ones are sympy expressions.

    Args:
        program: an exported program.

    Returns:
        One record per input, in order.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> [d.dims for d in input_dims(export_program(model, torch.randn(5, 4)))]
        [(s77, 4)]
    """
    from torch.export.graph_signature import ConstantArgument, InputKind

    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    dynamic = {str(symbol) for symbol in program.range_constraints}

    def size(value: Any) -> Any:
        if isinstance(value, torch.SymInt):
            expr = value.node.expr
            free = {str(s) for s in expr.free_symbols}
            if free and free <= dynamic:
                return expr
            return int(value.node.hint)  # specialized while tracing: the example's size
        return value

    found = []
    for spec in program.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT:
            continue
        if isinstance(spec.arg, ConstantArgument):
            found.append(InputDims(spec.arg.name, None, spec.arg.value))
            continue
        value = placeholders[spec.arg.name].meta.get("val")
        if isinstance(value, torch.Tensor):
            dims = tuple(size(d) for d in value.shape)
            found.append(InputDims(spec.arg.name, dims, dtype=value.dtype))
        else:
            found.append(InputDims(spec.arg.name, None, size(value)))
    return found


def symbol_hints(program: ExportedProgram) -> dict[Any, int]:
    """Each dynamic size symbol of ``program``'s inputs with its size in the example.

    Args:
        program: an exported program.

    Returns:
        ``{symbol: example size}``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> list(symbol_hints(export_program(model, torch.randn(5, 4))).values())
        [5]
    """
    placeholders = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"]
    hints: dict[Any, int] = {}
    for value in placeholders:
        sizes = value.shape if isinstance(value, torch.Tensor) else [value]
        for d in sizes:
            if isinstance(d, torch.SymInt) and d.node.expr.is_Symbol:
                hints[d.node.expr] = int(d.node.hint)
    return hints


def describe_inputs(program: ExportedProgram) -> list[tuple[str, str]]:
    """Each input of ``program`` with its shape; dynamic sizes are ``d0``, ``d1``, ... .

    Inputs that share a size share a name (``x`` and ``batch`` both have ``d0`` rows).

    Args:
        program: an exported program.

    Returns:
        ``(name, description)`` pairs, such as ``('x', 'float32[d0, 8]')`` or
        ``('num_graphs', 'int d2')``; constants read ``'constant 2.0'``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> describe_inputs(export_program(model, torch.randn(5, 4)))
        [('x', 'float32[d0, 4]')]
    """
    labels: dict[str, str] = {}

    def label(size: Any) -> str:
        if isinstance(size, int):
            return str(size)
        text = str(size)
        if size.is_Symbol:
            return labels.setdefault(text, f"d{len(labels)}")
        for symbol in sorted(size.free_symbols, key=str):
            labels.setdefault(str(symbol), f"d{len(labels)}")
        for symbol, name in labels.items():
            text = text.replace(symbol, name)
        return text

    described = []
    for item in input_dims(program):
        if item.dims is not None:
            dtype = str(item.dtype).removeprefix("torch.")
            described.append((item.name, f"{dtype}[{', '.join(label(d) for d in item.dims)}]"))
        elif isinstance(item.value, int | float | bool | str | type(None)):
            described.append((item.name, f"constant {item.value!r}"))
        else:
            described.append((item.name, f"int {label(item.value)}"))
    return described


def flat_inputs(model: torch.nn.Module, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A typed call's tensors by name, as the model's exported ``.pt2`` and ONNX take them.

    Args:
        model: the typed model.
        *args: its inputs, as for ``model(...)``.
        **kwargs: its keyword inputs.

    Returns:
        ``{name: value}``, named as :func:`flat_leaves` names them.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Identity(), 'x -> x')])
        >>> list(flat_inputs(model, {'paper': torch.ones(3, 2), 'author': torch.ones(1, 2)}))
        ['x__paper', 'x__author']
    """
    values = bind_inputs(model, *args, **kwargs).values()
    return {leaf.name: leaf.value for leaf in flat_leaves(values)}


def run_onnx(
    path: str | os.PathLike[str], model: Sequential, *args: Any, **kwargs: Any
) -> list[Any]:
    """Run an exported ``.onnx`` in onnxruntime, fed by the model's input names.

    Args:
        path: the ``.onnx`` file.
        model: the model it was exported from (it binds the inputs to names).
        *args: inputs, as for ``model(...)``.
        **kwargs: keyword inputs.

    Returns:
        The outputs, as numpy arrays.

    Example:
        >>> import tempfile, torch
        >>> from graphseq import Sequential
        >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = export(model, f'{tmp}/model.onnx', torch.randn(5, 4))
        ...     run_onnx(path, model, torch.randn(9, 4))[0].shape
        (9, 2)
    """
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    values = flat_inputs(model, *args, **kwargs)  # a typed input: one array per type
    feed = {k: np.asarray(v) for k, v in values.items() if k in wanted}
    return list(session.run(None, feed))
