"""Plan to Python source, compiled in memory and registered with ``linecache``.

:func:`call_line` is the one definition of how a step is called. Three variants are made
from one plan with it:

* ``eager``, the model's ``forward``: children come from the model's module dict, bound in a
  closure when the forward is installed (so one call always sees one version of the model;
  an edit installs a new forward with a new dict), and each value is freed after its last use;
* ``script``, plain ``self.name(...)`` calls, the subset TorchScript compiles;
* ``summary``, the eager body with ``children`` passed in and a ``record(index, *outs)`` call
  after each step, which :mod:`graphseq.summary` runs to describe every value.

No variant has a ``try``: torch.compile cannot resume after a child's graph break inside one,
so a ``try`` in ``forward`` would leave everything after the first break uncompiled. The note
naming the failing step is added by the caller, outside the compiled frame
(``Sequential.__call__``, :func:`graphseq.summary.run`): :func:`note_adder` finds the step from
the line of the generated code in the traceback (:attr:`Code.line_to_step`).

Only validated names reach the source: every identifier in it comes from the plan, step
names appear only as string literals, and the helpers it uses (the module dict, the trimmed
call) are closure variables under fresh names that no value name, and no builtin, can
shadow. The function is made by a factory (``def make(helpers): def forward``), so nothing
it uses is a global: torch.compile inlines it like any closure.
"""

from __future__ import annotations
import __future__

import builtins
import inspect
import itertools
import linecache
import math
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .cache import SizedCache
from .plan import Plan, Step
from .trim import EDGES, NODES, trim_branch, trimmable  # trimming (issue 10)
from .trim import run as trim_run  # trimming (issue 10)

if TYPE_CHECKING:
    from .spec import ModelSpec

Variant = Literal["eager", "script", "summary"]

_counter = itertools.count()


@dataclass(frozen=True)
class Code:
    """Generated source with what it needs to run and to point back at the user's headers."""

    source: str  # the forward alone, as ``model.code`` shows it
    filename: str
    globals: dict[str, Any]
    line_to_step: dict[int, int]  # line of ``factory`` -> step index
    annotations: dict[str, Any]  # the resolved types: the source's are never evaluated
    defaults: tuple[Any, ...]  # the inputs' default values, set on the function
    names: Mapping[str, str]  # helper role ("modules", "functions", ...) -> its name in source
    factory: str = ""  # ``def make(helpers):`` around the forward: what is compiled
    helpers: tuple[str, ...] = ()  # the roles the factory takes, in order
    lines: tuple[str, ...] = ()  # ``factory`` as linecache holds it


_BUILTINS = frozenset(dir(builtins))


class _Namespace:
    """Fresh names that cannot clash with the model's value names or any builtin."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken) | _BUILTINS

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


def signature_line(
    plan: Plan | ModelSpec,
    first: Iterable[str] = ("self",),
    name: str = "forward",
    keywords: Iterable[str] = (),
) -> str:
    """The ``def`` line: the model's inputs with their types and defaults as written.

    Args:
        plan: The model's plan (or its spec: only the inputs are read).
        first: Parameters before the inputs.
        name: The function's name.
        keywords: Keyword-only parameters after the inputs, each defaulting to ``None``.

    Returns:
        ``def forward(self, x: Tensor, k: int = 2) -> Tensor:``.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x, k: int = 2', [(torch.mul, 'x, k -> y')])
        >>> signature_line(model.plan)
        'def forward(self, x: Tensor, k: int = 2):'
    """
    params = list(first)
    for p in plan.signature.param_dict.values():
        text = f"{p.name}: {p.type_repr}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {_literal(p.default)}"
        params.append(text)
    extra = [f"{k}=None" for k in keywords]
    if extra:
        params += ["*", *extra]
    ret = f" -> {plan.inputs.return_repr}" if plan.inputs.return_repr else ""
    return f"def {name}({', '.join(params)}){ret}:"


def _literal(value: Any) -> str:
    """Source for a literal default (shown only: the real value is set on the function)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def call_line(step: Step, target: str) -> str:
    """The one definition of how a step is called: ``outs = target(args)``.

    Args:
        step: A plan step.
        target: Source for the callable, such as ``modules['conv1']``.

    Returns:
        One line of source.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.cat, '[x, x] -> y')])
        >>> call_line(model.plan.steps[0], 'f')
        'y = f([x, x])'
    """
    args = ", ".join(str(a) for a in step.header.args)
    outs = ", ".join(step.header.outs)
    return f"{outs} = {target}({args})"


def target(step: Step, variant: Variant, names: Mapping[str, str]) -> str:
    """Source for the callable of ``step`` in ``variant``.

    Args:
        step: A plan step.
        variant: ``"eager"``, ``"script"`` or ``"summary"``.
        names: The helpers' names in the source (see :attr:`Code.names`).

    Returns:
        ``modules['conv1']``, ``functions['fn']``, ``self.conv1`` or ``children['conv1']``.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
        >>> target(model.plan.steps[0], 'script', {})
        'self.module_0'
    """
    if variant == "summary":
        return f"{names['children']}[{step.name!r}]"
    if variant == "script":
        return f"self.{step.name}" if step.name.isidentifier() else f"getattr(self, {step.name!r})"
    role = "modules" if step.kind == "module" else "functions"
    return f"{names[role]}[{step.name!r}]"


def generate(plan: Plan, variant: Variant = "eager") -> Code:
    """Write the source of ``plan`` as ``variant`` (cached for plans of equal key).

    Args:
        plan: The model's plan.
        variant: ``"eager"`` (the model's forward), ``"script"`` or ``"summary"``.

    Returns:
        The :class:`Code`; :func:`compile_forward` makes it a function.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
        >>> print(generate(model.plan, 'script').source, end='')
        def forward(self, x: Tensor):
            y = self.module_0(x)
            return y
    """
    text = _text(plan, variant)
    # Not "<...>": linecache.lazycache skips such names, and it is what refills a cleared cache.
    filename = f"<graphseq.Sequential-{next(_counter)}>.forward"
    namespace: dict[str, Any] = dict(plan.type_names)
    namespace["__name__"] = "graphseq.generated"
    namespace["__loader__"] = _SourceLoader(text.factory)
    annotations = {p.name: p.type for p in plan.signature.param_dict.values()}
    if plan.inputs.return_repr is not None:
        annotations["return"] = plan.signature.return_type
    defaults = tuple(
        p.default for p in plan.signature.param_dict.values()
        if p.default is not inspect.Parameter.empty
    )
    return Code(text.source, filename, namespace, text.line_to_step, annotations, defaults,
                text.names, text.factory, text.helpers, text.lines)


def helper_values(code: Code) -> dict[str, Any]:
    """The helpers a variant binds itself (the trimmed call), by role.

    Args:
        code: The generated code.

    Returns:
        Values by role.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
        >>> sorted(helper_values(generate(model.plan)))
        ['trim']
    """
    values: dict[str, Any] = {}
    if "trim" in code.names:  # trimming (issue 10)
        values["trim"] = trim_run
    return values


@dataclass(frozen=True)
class _Text:
    source: str
    line_to_step: dict[int, int]
    names: dict[str, str]
    factory: str
    helpers: tuple[str, ...]
    lines: tuple[str, ...]


_TEXTS: SizedCache[_Text] = SizedCache(max_weight=8_000_000)  # weight: characters of source


def _text(plan: Plan, variant: Variant) -> _Text:
    if plan.key is None:
        return _write(plan, variant)
    key = (plan.key, variant)
    hit = _TEXTS.get(key)
    if hit is None:
        hit = _write(plan, variant)
        _TEXTS.put(key, hit, len(hit.source) + 200)
    return hit


def _write(plan: Plan, variant: Variant) -> _Text:
    fresh = _Namespace(_value_names(plan) | set(plan.type_names)).fresh
    names: dict[str, str] = {}
    first = ["self"]
    if variant == "summary":
        names["children"] = fresh("children")
        names["record"] = fresh("record")
        first = [names["children"], names["record"]]
    if variant == "eager":
        names["modules"] = fresh("modules")
        names["functions"] = fresh("functions")
    trim = variant == "eager" and trimmable(plan)  # trimming (issue 10)
    if trim:
        names["trim"] = fresh("trim_run")
    helpers = tuple(
        r for r in ("modules", "functions", "trim") if r in names
    )
    lines = [signature_line(plan, first, keywords=(NODES, EDGES) if trim else ())]
    if trim:  # trimming (issue 10)
        lines += trim_branch(plan, names["trim"])
    line_to_step: dict[int, int] = {}
    indent = "    "
    for step in plan.steps:
        lines.append(indent + call_line(step, target(step, variant, names)))
        line_to_step[len(lines) + 1] = step.index  # + 1: the factory's def line
        if variant == "summary":
            lines.append(indent + f"{names['record']}({step.index}, {', '.join(step.header.outs)})")
        if variant != "script" and step.release:
            lines.append(indent + f"del {', '.join(step.release)}")
    lines.append(indent + f"return {', '.join(plan.outputs)}")
    factory = [f"def make({', '.join(names[r] for r in helpers)}):"]
    factory += ["    " + line for line in lines]
    factory.append("    return forward")
    made = "\n".join(factory) + "\n"
    return _Text("\n".join(lines) + "\n", line_to_step, names, made, helpers,
                 tuple(made.splitlines(True)))


def compile_forward(code: Code, **bindings: Any) -> types.FunctionType:
    """Compile ``code`` into a function whose source ``linecache`` serves until it is freed.

    Args:
        code: Generated code.
        **bindings: Values for the other helper roles (``modules=`` the model's module dict,
            ``functions=`` its function steps), bound in the function's closure.

    Returns:
        The function.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
        >>> fn = compile_forward(generate(model.plan, 'script'))
        >>> fn(model, torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    values = helper_values(code)
    values.update(bindings)
    scope: dict[str, Any] = {}
    exec(_compiled(code.factory, code.filename), code.globals, scope)  # source from the plan
    fn: types.FunctionType = scope["make"](*(values.get(r) for r in code.helpers))
    fn.__annotations__ = dict(code.annotations)
    fn.__defaults__ = code.defaults or None
    linecache.cache[code.filename] = (len(code.factory), None, list(code.lines), code.filename)
    weakref.finalize(fn, linecache.cache.pop, code.filename, None)
    return fn


def _compiled(source: str, filename: str) -> types.CodeType:
    """Byte code for ``source``, compiled once per distinct source and renamed per model."""
    return _renamed(_compile_source(source), filename)


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


_CODES: SizedCache[types.CodeType] = SizedCache(max_weight=8_000_000)  # weight: source chars


def _compile_source(source: str) -> types.CodeType:
    hit = _CODES.get(source)
    if hit is None:
        # Annotations stay text (PEP 563): their resolved types are set on the function instead.
        flags = __future__.annotations.compiler_flag
        hit = compile(source, "<graphseq>", "exec", flags=flags, dont_inherit=True)
        _CODES.put(source, hit, 4 * len(source) + 200)
    return hit


def stub_source(spec: ModelSpec, refresh: str) -> str:
    """A ``forward`` with the model's signature that builds the real one first, then calls it.

    Edits install it instead of compiling at once, so that many edits cost one build.

    Args:
        spec: The model's spec (only its inputs are read: edits never change them).
        refresh: The name of the global that builds and returns the real forward.

    Returns:
        The source.

    Example:
        >>> import torch
        >>> from graphseq.spec import make_spec
        >>> spec = make_spec('x', [(torch.nn.ReLU(), 'x -> y')])[0]
        >>> stub_source(spec, 'refresh').splitlines()[1]  # doctest: +ELLIPSIS
        '    return refresh(self)(self, x...)'
    """
    args = ["self", *spec.inputs.names]
    keywords: tuple[str, ...] = ()
    if trimmable(spec):  # trimming (issue 10)
        keywords = (NODES, EDGES)
        args += [f"{k}={k}" for k in keywords]
    line = signature_line(spec, keywords=keywords)
    return f"{line}\n    return {refresh}(self)({', '.join(args)})\n"


def compile_stub(spec: ModelSpec, refresh: Callable[[Any], Callable[..., Any]]
                 ) -> types.FunctionType:
    """Compile :func:`stub_source` for ``spec`` with ``refresh`` bound.

    Args:
        spec: The model's spec.
        refresh: Builds the model's real forward and returns it.

    Returns:
        The stub function.

    Example:
        >>> import torch
        >>> from graphseq.spec import make_spec
        >>> spec = make_spec('x', [(torch.nn.ReLU(), 'x -> y')])[0]
        >>> stub = compile_stub(spec, lambda m: lambda self, x, **counts: x + 1)
        >>> stub(None, torch.zeros(1))
        tensor([1.])
    """
    taken = _Namespace(set(spec.inputs.names) | set(spec.type_names) | {"self"})
    name = taken.fresh("refresh")
    namespace: dict[str, Any] = dict(spec.type_names)
    namespace[name] = refresh
    scope: dict[str, Any] = {}
    exec(_renamed(_compile_source(stub_source(spec, name)), "<graphseq stub>"), namespace, scope)
    fn: types.FunctionType = scope["forward"]
    fn.__annotations__ = {p.name: p.type for p in spec.signature.param_dict.values()}
    fn.__defaults__ = tuple(
        p.default for p in spec.signature.param_dict.values()
        if p.default is not inspect.Parameter.empty
    ) or None
    return fn


class _SourceLoader:
    """A PEP 302 ``get_source`` so ``linecache.lazycache`` can refill a cleared cache."""

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, name: str) -> str:
        return self._source


def note_adder(plan: Plan, code: Code, during: str = "") -> Callable[[BaseException], None]:
    """What a caller of ``code``'s function runs on an error: note the step that raised it.

    The step is the one called on the line of the last (deepest) frame of ``code`` in the
    error's traceback: under torch.compile, the code after a graph break runs in a frame of
    its own, called from the line of the step that broke. None if that line calls no step,
    as in a trimmed call. The error keeps its type and traceback. Callers outside the
    compiled frame use it, so that the generated code needs no ``try`` (see the module's
    docstring).

    Args:
        plan: The plan ``code`` was generated from.
        code: The generated code.
        during: Text after the step's name, such as ``' during summary()'``.

    Returns:
        ``add_step_note(error)``.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
        >>> code = generate(model.plan)
        >>> forward = compile_forward(code, modules=model.children_by_name())
        >>> try:
        ...     forward(model, torch.randn(3, 5))
        ... except RuntimeError as error:
        ...     note_adder(model.plan, code)(error)
        ...     print(error.__notes__)
        ["graphseq: raised in step 0 ('module_0'): x -> y"]
    """
    steps, filename, line_to_step = plan.steps, code.filename, code.line_to_step

    def add_step_note(error: BaseException) -> None:
        line = None
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        index = None if line is None else line_to_step.get(line)
        if index is not None:
            step = steps[index]
            error.add_note(f"graphseq: raised in {step.where}{during}: {step.header_text}")

    return add_step_note
