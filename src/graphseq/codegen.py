"""Plan to Python source, compiled in memory and registered with ``linecache``.

Two variants are made from one plan:

* ``eager`` looks children up in ``self._modules`` (no ``nn.Module.__getattr__`` per step),
  frees each value after its last use, and wraps the body in one ``try`` (free in CPython
  3.11+) whose handler adds a note naming the failing step, found from the traceback's line;
* ``script`` is plain ``self.name(...)`` calls, the subset TorchScript compiles.

Only validated names reach the source: every identifier in it comes from the plan.
"""

from __future__ import annotations
import __future__

import inspect
import itertools
import linecache
import math
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from .plan import Plan, Step

Variant = Literal["eager", "script"]

_counter = itertools.count()


@dataclass(frozen=True)
class Code:
    """Generated source with what it needs to run and to point back at the user's headers."""

    source: str
    filename: str
    globals: dict[str, Any]
    line_to_step: dict[int, int]
    annotations: dict[str, Any]  # the resolved types: the source's are never evaluated


class _Namespace:
    """Fresh names that cannot clash with the model's own value names."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken)

    def fresh(self, base: str) -> str:
        name = base
        for i in itertools.count(1):
            if name not in self._taken:
                break
            name = f"{base}_{i}"
        self._taken.add(name)
        return name


def _value_names(plan: Plan) -> set[str]:
    names = set(plan.inputs.names) | {"self"}
    for step in plan.steps:
        names.update(step.header.reads, step.header.outs)
        names.update(a.keyword for a in step.header.keywords if a.keyword)
    return names


def _signature_line(plan: Plan) -> str:
    params = ["self"]
    for p in plan.signature.param_dict.values():
        text = f"{p.name}: {p.type_repr}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {_literal(p.default)}"
        params.append(text)
    ret = f" -> {plan.inputs.return_repr}" if plan.inputs.return_repr else ""
    return f"def forward({', '.join(params)}){ret}:"


def _literal(value: Any) -> str:
    """Source for a literal default; ``repr`` of infinities and NaN is not Python."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _call(step: Step, target: str) -> str:
    args = ", ".join(str(a) for a in step.header.args)
    outs = ", ".join(step.header.outs)
    return f"{outs} = {target}({args})"


def _target(step: Step, variant: Variant, modules: str) -> str:
    if variant == "script" or step.kind == "function":
        return f"self.{step.name}"
    return f"{modules}[{step.name!r}]"


@dataclass(frozen=True)
class _Text:
    source: str
    line_to_step: dict[int, int]
    note: str  # the global name of the note-adding handler


def generate(plan: Plan, variant: Variant = "eager") -> Code:
    """Write the ``forward`` source for ``plan`` (cached for plans of equal key)."""
    text = _text(plan, variant)
    # Not "<...>": linecache.lazycache skips such names, and it is what refills a cleared cache.
    filename = f"<graphseq.Sequential-{next(_counter)}>.forward"
    namespace: dict[str, Any] = dict(plan.type_names)
    namespace["__name__"] = "graphseq.generated"
    namespace["__loader__"] = _SourceLoader(text.source)
    if variant == "eager":
        namespace[text.note] = _note_adder(plan, filename, text.line_to_step)
    annotations = {p.name: p.type for p in plan.signature.param_dict.values()}
    if plan.inputs.return_repr is not None:
        annotations["return"] = plan.signature.return_type
    return Code(text.source, filename, namespace, text.line_to_step, annotations)


_TEXTS: OrderedDict[tuple[Hashable, Variant], _Text] = OrderedDict()
_TEXTS_LOCK = threading.Lock()


def _text(plan: Plan, variant: Variant) -> _Text:
    if plan.key is None:
        return _write(plan, variant)
    key = (plan.key, variant)
    with _TEXTS_LOCK:
        hit = _TEXTS.get(key)
        if hit is not None:
            _TEXTS.move_to_end(key)
            return hit
    text = _write(plan, variant)
    with _TEXTS_LOCK:
        _TEXTS[key] = text
        if len(_TEXTS) > 256:
            _TEXTS.popitem(last=False)
    return text


def _write(plan: Plan, variant: Variant) -> _Text:
    names = _Namespace(_value_names(plan) | set(plan.type_names))
    modules = names.fresh("modules")
    error = names.fresh("error")
    note = names.fresh("add_step_note")
    eager = variant == "eager"

    lines = [_signature_line(plan)]
    line_to_step: dict[int, int] = {}
    indent = "    "
    if eager:
        if any(s.kind == "module" for s in plan.steps):
            lines.append(f"    {modules} = self._modules")
        lines.append("    try:")
        indent = "        "
    for step in plan.steps:
        lines.append(indent + _call(step, _target(step, variant, modules)))
        line_to_step[len(lines)] = step.index
        if eager and step.release:
            lines.append(indent + f"del {', '.join(step.release)}")
    lines.append(indent + f"return {', '.join(plan.outputs)}")
    if eager:
        lines.append(f"    except Exception as {error}:")
        lines.append(f"        {note}(self, {error})")
        lines.append("        raise")
    return _Text("\n".join(lines) + "\n", line_to_step, note)


def compile_forward(code: Code) -> types.FunctionType:
    """Compile ``code`` into a function whose source ``linecache`` serves until it is freed."""
    scope: dict[str, Any] = {}
    exec(_compiled(code.source, code.filename), code.globals, scope)  # source from the plan
    fn: types.FunctionType = scope["forward"]
    fn.__annotations__ = dict(code.annotations)
    linecache.cache[code.filename] = (
        len(code.source),
        None,
        code.source.splitlines(True),
        code.filename,
    )
    weakref.finalize(fn, linecache.cache.pop, code.filename, None)
    return fn


def _compiled(source: str, filename: str) -> types.CodeType:
    """Byte code for ``source``, compiled once per distinct source and renamed per model."""
    module = _compile_source(source)
    consts = tuple(
        c.replace(co_filename=filename) if isinstance(c, types.CodeType) else c
        for c in module.co_consts
    )
    return module.replace(co_filename=filename, co_consts=consts)


@lru_cache(maxsize=256)
def _compile_source(source: str) -> types.CodeType:
    # Annotations stay text (PEP 563): their resolved types are set on the function instead.
    flags = __future__.annotations.compiler_flag
    return compile(source, "<graphseq>", "exec", flags=flags, dont_inherit=True)


class _SourceLoader:
    """A PEP 302 ``get_source`` so ``linecache.lazycache`` can refill a cleared cache."""

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, name: str) -> str:
        return self._source


def _note_adder(
    plan: Plan, filename: str, line_to_step: dict[int, int]
) -> Callable[[Any, BaseException], None]:
    steps = plan.steps

    def add_step_note(model: Any, error: BaseException) -> None:
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                index = line_to_step.get(tb.tb_lineno)
                if index is not None:
                    step = steps[index]
                    error.add_note(
                        f"graphseq: raised in {step.where}: {step.header_text}"
                    )
                return
            tb = tb.tb_next

    return add_step_note
