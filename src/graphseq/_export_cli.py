"""``graphseq export``: a config's model to ``.pt2``, ``.onnx`` or (``--aot``) an AOTInductor
``.pt2`` package, checked on another size.

The example inputs are random, of the shapes given with ``--input``: floating inputs are normal
noise; integer tensors are node indices below the number of nodes (the rows of the first
floating input), except ``batch``, which assigns the nodes, in order, to ``num_graphs`` graphs.
An ``int`` input takes its value from ``--input NAME=VALUE``. The check run grows every dynamic
size, builds a second random input of those sizes, and compares the exported file with eager
(an AOTInductor package is loaded with ``torch._inductor.aoti_load_package``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._pytree import tree_leaves

from .export import (
    TRACING_LOGGERS,
    ExampleSizeError,
    bind_inputs,
    check_path,
    describe_inputs,
    export_program,
    input_dims,
    quiet_loggers,
    run_onnx,
    save_program,
    symbol_hints,
)

if TYPE_CHECKING:
    from torch.export import ExportedProgram

    from ._sequential import Sequential

Spec = tuple[tuple[int, ...], torch.dtype] | int
"""An input as given on the command line: a tensor's shape and dtype, or an ``int``."""

TOLERANCE = 1e-4
"""The check passes when the largest difference is at most this, relative to the largest output."""


class ExportCheckError(RuntimeError):
    """The exported file's outputs differ from eager on the check input."""


class ExportFailed(ValueError):
    """``torch.export`` failed; the message is its first line, the notes say where and why."""


def specs(
    model: Sequential, given: list[tuple[str, tuple[int, ...], torch.dtype]]
) -> dict[str, Spec]:
    """The ``--input`` values by input name; an ``int`` input's one size is its value.

    Args:
        model: the model.
        given: parsed ``--input`` values, ``(name, shape, dtype)``.

    Returns:
        Each given input's spec, in the model's input order.

    Raises:
        ValueError: an unknown name, a missing required input, or an ``int`` not given as
            ``NAME=VALUE``.

    Example:
        >>> from graphseq import Sequential
        >>> model = Sequential('x, n: int', [(torch.nn.Identity(), 'x -> x')])
        >>> specs(model, [('x', (5, 3), torch.float32), ('n', (4,), torch.float32)])
        {'x': ((5, 3), torch.float32), 'n': 4}
    """
    inputs = {a.name: a for a in model.plan.inputs.args}
    found: dict[str, Spec] = {}
    for name, shape, dtype in given:
        if name not in inputs:
            raise ValueError(
                f"--input {name}: the model has no input {name!r}; its inputs: "
                + ", ".join(inputs)
            )
        if inputs[name].type_repr == "int":
            if len(shape) != 1:
                raise ValueError(f"--input {name}: {name} is an int; give it as {name}=VALUE")
            found[name] = shape[0]
        else:
            found[name] = (shape, dtype)
    missing = [n for n, a in inputs.items() if not a.has_default and n not in found]
    if missing:
        raise ValueError(
            "missing " + ", ".join(f"--input {n}=SHAPE" for n in missing)
            + f" (the model's inputs: {', '.join(inputs)})"
        )
    return {n: found[n] for n in inputs if n in found}


def random_inputs(specs: Mapping[str, Spec], seed: int) -> dict[str, Any]:
    """Random inputs of the given shapes, with valid node indices (see the module's doc).

    Args:
        specs: each input's shape and dtype, or ``int`` value.
        seed: the random seed.

    Returns:
        The inputs by name.

    Example:
        >>> inputs = random_inputs({'x': ((5, 3), torch.float32),
        ...                         'edge_index': ((2, 9), torch.int64)}, seed=0)
        >>> int(inputs['edge_index'].max()) < 5
        True
    """
    gen = torch.Generator().manual_seed(seed)
    tensors = [s for s in specs.values() if not isinstance(s, int) and s[0]]
    floating = [s for s in tensors if s[1].is_floating_point]
    num_nodes = (floating or tensors)[0][0][0] if tensors else 2
    count = specs.get("num_graphs")
    num_graphs = count if isinstance(count, int) else 2
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if isinstance(spec, int):
            values[name] = spec
            continue
        shape, dtype = spec
        if dtype.is_floating_point or dtype.is_complex:
            values[name] = torch.randn(shape, generator=gen).to(dtype)
        elif dtype == torch.bool:
            values[name] = torch.rand(shape, generator=gen) < 0.5
        elif name == "batch" and len(shape) == 1:
            graphs = max(1, min(num_graphs, shape[0]))
            values[name] = (torch.arange(shape[0]) * graphs // max(1, shape[0])).to(dtype)
        else:
            values[name] = torch.randint(0, max(1, num_nodes), shape, generator=gen, dtype=dtype)
    return values


def grown(program: ExportedProgram, specs: Mapping[str, Spec]) -> dict[str, Spec]:
    """``specs`` with every dynamic size of ``program`` grown (``n`` becomes ``2n + 1``).

    Args:
        program: the exported program.
        specs: the example's specs.

    Returns:
        Specs of the same inputs at the new sizes; static sizes stay.

    Example:
        >>> from graphseq import Sequential
        >>> from graphseq.export import export_program
        >>> model = Sequential('x', [(torch.nn.Linear(3, 2), 'x -> x')])
        >>> given = {'x': ((5, 3), torch.float32)}
        >>> grown(export_program(model, **random_inputs(given, seed=0)), given)
        {'x': ((11, 3), torch.float32)}
    """
    new = {symbol: 2 * hint + 1 for symbol, hint in symbol_hints(program).items()}

    def size(d: Any) -> int:
        return d if isinstance(d, int) else int(d.subs(new))

    found: dict[str, Spec] = dict(specs)
    for item in input_dims(program):
        spec = specs.get(item.name)
        if spec is None:
            continue
        if item.dims is not None and not isinstance(spec, int):
            found[item.name] = (tuple(size(d) for d in item.dims), spec[1])
        elif isinstance(spec, int) and not isinstance(item.value, int | float | bool):
            found[item.name] = size(item.value)
    return found


def _shape_text(specs: Mapping[str, Spec]) -> str:
    return ", ".join(
        f"{n}={s}" if isinstance(s, int) else f"{n}=[{', '.join(map(str, s[0]))}]"
        for n, s in specs.items()
    )


def largest_difference(
    model: Sequential, path: Path, inputs: dict[str, Any], *, aot: bool = False
) -> float:
    """Run the exported file and eager on ``inputs``; the largest absolute difference.

    Args:
        model: the eager model.
        path: the exported ``.pt2`` or ``.onnx``.
        inputs: keyword inputs.
        aot: ``path`` is an AOTInductor package, run by ``torch._inductor.aoti_load_package``.

    Returns:
        The largest difference, relative to ``max(1, largest eager output)``.

    Raises:
        ExportCheckError: the outputs differ in number or shape.
    """
    with torch.no_grad():
        want = [torch.as_tensor(t) for t in tree_leaves(model(**inputs))]
        if path.suffix.lower() == ".onnx":
            got = [torch.from_numpy(a) for a in run_onnx(path, model, **inputs)]
        else:
            args = bind_inputs(model, **inputs).args
            if aot:
                from torch._inductor import aoti_load_package

                runner: Callable[..., Any] = aoti_load_package(str(path))
            else:
                runner = torch.export.load(path).module()
            got = [torch.as_tensor(t) for t in tree_leaves(runner(*args))]
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=False)):
        raise ExportCheckError(
            f"the exported outputs {[tuple(g.shape) for g in got]} do not match eager's "
            f"{[tuple(w.shape) for w in want]}"
        )
    diffs = [float((g.double() - w.double()).abs().max()) for g, w in zip(got, want, strict=True)
             if w.numel()]
    scale = max([1.0] + [float(w.abs().max()) for w in want if w.numel()])
    return max(diffs, default=0.0) / scale


def run(model: Sequential, args: argparse.Namespace) -> int:
    """Export ``model`` as ``graphseq export`` does and print the report; the exit status.

    Args:
        model: the config's model.
        args: the parsed command line (``output``, ``inputs``, ``weights``, ``aot``).

    Returns:
        0 when the check passes, 1 when the exported file differs from eager, 2 when ``--aot``
        is given with an output whose name does not end in ``.pt2`` (a usage error; nothing is
        exported).
    """
    out: Path = args.output
    aot = bool(getattr(args, "aot", False))
    if aot and out.suffix.lower() != ".pt2":
        print(
            f"graphseq export: error: --aot writes an AOTInductor package, whose file name "
            f"must end in .pt2 (got -o {out})",
            file=sys.stderr,
        )
        return 2
    check_path(out, aot=aot)
    if args.weights is not None:
        _load_weights(model, args.weights)
    model.eval()
    given = specs(model, args.inputs)
    example = random_inputs(given, seed=0)
    _run_eagerly(model, example)  # a model that cannot run on these inputs writes no file
    program = _export_quietly(model, example, debug=bool(getattr(args, "debug", False)))
    if aot:
        _compile(program, out)
    else:
        save_program(program, out, model=model)
    size = out.stat().st_size
    print(f"wrote {out} ({_bytes(size)})")
    print("inputs (d0, d1, ... are dynamic sizes):")
    described = describe_inputs(program)
    width = max((len(n) for n, _ in described), default=0)
    for name, text in described:
        print(f"  {name:<{width}}  {text}")
    second = grown(program, given)
    diff = largest_difference(model, out, random_inputs(second, seed=1), aot=aot)
    verdict = "OK" if diff <= TOLERANCE else f"MISMATCH (tolerance {TOLERANCE:g})"
    kind = "AOTInductor .pt2" if aot else out.suffix
    print(
        f"check: {kind} vs eager on another size ({_shape_text(second)}): largest "
        f"difference {diff:.2g}, {verdict}"
    )
    return 0 if diff <= TOLERANCE else 1


def _export_quietly(model: Sequential, example: dict[str, Any], debug: bool) -> ExportedProgram:
    """Export; on failure, one error naming the step and the fix instead of torch's dump."""
    if debug:
        return export_program(model, **example)
    try:
        # torch prints the partial graph on stderr and logs where it looked for user code
        with contextlib.redirect_stderr(io.StringIO()), quiet_loggers(*TRACING_LOGGERS):
            return export_program(model, **example)
    except ExampleSizeError:
        raise  # graphseq's own refusal, before torch.export ran
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        failed = ExportFailed(f"torch.export failed: {type(error).__name__}: {first}")
        for note in getattr(error, "__notes__", ()):
            failed.add_note(note)
        raise failed from error


def _run_eagerly(model: Sequential, example: dict[str, Any]) -> None:
    """Run eager on the example; a failure notes an input dtype that differs from the weights."""
    try:
        with torch.no_grad():
            model(**example)
    except Exception as error:
        weights = {p.dtype for p in model.parameters() if p.dtype.is_floating_point}
        for name, value in example.items():
            if (
                isinstance(value, torch.Tensor) and value.dtype.is_floating_point
                and weights and value.dtype not in weights
            ):
                error.add_note(
                    f"graphseq: --input {name} is {str(value.dtype).removeprefix('torch.')}, "
                    f"but the model's weights are "
                    f"{', '.join(sorted(str(w).removeprefix('torch.') for w in weights))}: "
                    "give the input without a dtype (float32) or the weights' dtype; nothing "
                    "was written"
                )
                break
        raise


def _compile(program: ExportedProgram, out: Path) -> None:
    """Compile with AOTInductor; a failure is one line that says the traced program is fine."""
    try:
        save_program(program, out, aot=True)
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RuntimeError(
            f"AOTInductor could not compile the exported program: {type(error).__name__}: "
            f"{first} (torch.export traced it: without --aot, the .pt2 is written)"
        ) from error


def _load_weights(model: Sequential, path: Path) -> None:
    """Load a state dict into ``model``; a file that does not fit is one error naming the keys."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, ValueError) as error:
        # torch's own message spans lines and has terminal escape codes: say it plainly
        raise ValueError(
            f"--weights {path}: not a state dict that torch.load(weights_only=True) reads "
            f"({type(error).__name__}); save one with torch.save(model.state_dict(), path)"
        ) from error
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state) or (
        state and not any(isinstance(v, torch.Tensor) for v in state.values())
    ):
        what = type(state).__name__ if not isinstance(state, Mapping) else "dict of other values"
        raise ValueError(
            f"--weights {path}: holds a {what}, not a state dict (names to tensors); save one "
            "with torch.save(model.state_dict(), path)"
        )
    problems = weight_problems(model.state_dict(), state)
    if problems:
        raise ValueError(
            f"--weights {path} does not fit the config's model: " + "; ".join(problems)
        )
    model.load_state_dict(state)


def weight_problems(own: Mapping[str, Any], given: Mapping[str, Any], shown: int = 5) -> list[str]:
    """What keeps ``given`` from loading into a model whose state dict is ``own``, by key.

    Args:
        own: the model's state dict.
        given: the state dict to load.
        shown: how many keys each problem names before it counts the rest.

    Returns:
        One entry per kind of problem (missing keys, unexpected keys, wrong shapes); none when
        ``given`` fits.

    Example:
        >>> own = {'a.weight': torch.zeros(2, 3), 'a.bias': torch.zeros(2)}
        >>> weight_problems(own, {'a.weight': torch.zeros(3, 3), 'b': torch.zeros(1)})
        ['missing a.bias', 'unexpected b', "a.weight has shape (3, 3), the model's (2, 3)"]
    """

    def listed(keys: list[str]) -> str:
        more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
        return ", ".join(keys[:shown]) + more

    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    shapes = [
        f"{k} has shape {tuple(given[k].shape)}, the model's {tuple(own[k].shape)}"
        for k in own
        if k in given and isinstance(own[k], torch.Tensor) and isinstance(given[k], torch.Tensor)
        and not torch.nn.parameter.is_lazy(own[k])
        and tuple(given[k].shape) != tuple(own[k].shape)
    ]
    found = []
    if missing:
        found.append(f"missing {listed(missing)}")
    if unexpected:
        found.append(f"unexpected {listed(unexpected)}")
    if shapes:
        found.append(listed(shapes))
    return found


def _bytes(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    return f"{size / 1000:.1f} kB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"
