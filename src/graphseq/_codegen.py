"""Plan to Python source, compiled in memory and registered with ``linecache``.

:func:`call_line` is the one definition of how a step is called. Three variants are made
from one plan with it:

* ``eager``, the model's ``forward``: children come from the model's module dict, bound in a
  closure when the forward is installed (so one call always sees one version of the model;
  an edit installs a new forward with a new dict), and each value is freed after its last use;
* ``script``, plain ``self.name(...)`` calls, the subset TorchScript compiles;
* ``summary``, the eager body with ``children`` passed in and a ``record(index, *outs)`` call
  after each step, which :mod:`graphseq.summary` runs to describe every value;
* ``trimmed``, the eager body for a call with per-hop counts: the counts checked first
  (:mod:`graphseq._cuts`), then each read that the analysis's cut table cuts wrapped in its cut.
  It is made on the first trimmed call of each analysis (cached by plan key and cut table), and
  the eager forward's first lines hand such calls to it; see :func:`trim_branch`.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._analysis import EDGES, KINDS_KEY, NODES, Analysis, Cut, TrimError, analyze, trimmable
from ._cache import SizedCache
from ._plan import Plan, Step

if TYPE_CHECKING:
    from ._spec import ModelSpec

Variant = Literal["eager", "script", "summary", "trimmed"]

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
    plan: Any = None  # the plan it was generated from (the trimmed variant is made from it)
    # The trimmed forwards made for this code's (eager) forward: filename -> line_to_step.
    trimmed: dict[str, dict[int, int]] = field(default_factory=dict)


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


def call_line(step: Step, target: str, read: Callable[[int, int], str] | None = None) -> str:
    """The one definition of how a step is called: ``outs = target(args)``.

    Args:
        step: A plan step.
        target: Source for the callable, such as ``modules['conv1']``.
        read: Source for the ``j``-th name of the ``i``-th argument, ``read(i, j)``; by default
            the name itself.

    Returns:
        One line of source.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x', [(torch.cat, '[x, x] -> y')])
        >>> call_line(model.plan.steps[0], 'f')
        'y = f([x, x])'
    """
    if read is None:
        args = ", ".join(str(a) for a in step.header.args)
    else:
        args = ", ".join(_arg(a, [read(i, j) for j in range(len(a.names))])
                         for i, a in enumerate(step.header.args))
    outs = ", ".join(step.header.outs)
    return f"{outs} = {target}({args})"


def _arg(arg: Any, values: list[str]) -> str:
    """An argument as :class:`~graphseq._parsing.Arg` writes itself, with ``values`` for names."""
    if arg.literal is not None:
        value = arg.literal
    elif arg.pack == "list":
        value = f"[{', '.join(values)}]"
    elif arg.pack == "tuple":
        value = f"({values[0]},)" if len(values) == 1 else f"({', '.join(values)})"
    else:
        value = values[0]
    return f"{arg.keyword}={value}" if arg.keyword else value


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


def generate(plan: Plan, variant: Variant = "eager", found: Analysis | None = None) -> Code:
    """Write the source of ``plan`` as ``variant`` (cached for plans of equal key).

    Args:
        plan: The model's plan.
        variant: ``"eager"`` (the model's forward), ``"script"``, ``"summary"`` or
            ``"trimmed"``.
        found: For ``"trimmed"``: the analysis whose cut table it follows.

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
    text = _text(plan, variant, found)
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
                text.names, text.factory, text.helpers, text.lines, plan)


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
        []
    """
    values: dict[str, Any] = {}
    if "cut_node" in code.names:  # the trimmed variant's cuts
        from . import _cuts as cuts

        values.update(cut_node=cuts.cut_node, cut_edge=cuts.cut_edge, cut_index=cuts.cut_index)
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


def _text(plan: Plan, variant: Variant, found: Analysis | None = None) -> _Text:
    if plan.key is None:
        return _write(plan, variant, found)
    key = (plan.key, variant, found.table if found is not None else None)
    hit = _TEXTS.get(key)
    if hit is None:
        hit = _write(plan, variant, found)
        _TEXTS.put(key, hit, len(hit.source) + 200)
    return hit


def _write(plan: Plan, variant: Variant, found: Analysis | None = None) -> _Text:
    fresh = _Namespace(_value_names(plan) | set(plan.type_names)).fresh
    names: dict[str, str] = {}
    first = ["self"]
    if variant == "summary":
        names["children"] = fresh("children")
        names["record"] = fresh("record")
        first = [names["children"], names["record"]]
    if variant in ("eager", "trimmed"):
        names["modules"] = fresh("modules")
        names["functions"] = fresh("functions")
    trim = variant == "eager" and trimmable(plan)
    if trim:
        names["trim"] = fresh("trim_run")
    if variant == "trimmed":
        for role in ("counts", "cut_node", "cut_edge", "cut_index", "nodes", "edges"):
            names[role] = fresh(role)
    helpers = tuple(r for r in ("modules", "functions", "trim", "counts", "cut_node", "cut_edge",
                                "cut_index") if r in names)
    keywords = (NODES, EDGES) if trim or variant == "trimmed" else ()
    lines = [signature_line(plan, first, keywords=keywords)]
    if trim:
        lines += trim_branch(plan, names["trim"])
    cut = _cutter(names) if variant == "trimmed" else None
    if variant == "trimmed":
        inputs = "".join(f", {n}" for n in plan.inputs.names)
        lines.append(f"    {names['nodes']}, {names['edges']} = {names['counts']}({NODES}, "
                     f"{EDGES}{inputs})")
    line_to_step: dict[int, int] = {}
    indent = "    "
    for step in plan.steps:
        read = None
        if cut is not None:
            assert found is not None
            cuts = found.steps[step.index].cuts
            read = lambda i, j, cuts=cuts: cut(cuts[i][j])  # noqa: E731
        lines.append(indent + call_line(step, target(step, variant, names), read))
        line_to_step[len(lines) + 1] = step.index  # + 1: the factory's def line
        if variant == "summary":
            lines.append(indent + f"{names['record']}({step.index}, {', '.join(step.header.outs)})")
        if variant != "script" and step.release:
            lines.append(indent + f"del {', '.join(step.release)}")
    returned = list(plan.outputs)
    if cut is not None:
        assert found is not None
        returned = [cut(c) for c in found.outputs]
    lines.append(indent + f"return {', '.join(returned)}")
    factory = [f"def make({', '.join(names[r] for r in helpers)}):"]
    factory += ["    " + line for line in lines]
    factory.append("    return forward")
    made = "\n".join(factory) + "\n"
    return _Text("\n".join(lines) + "\n", line_to_step, names, made, helpers,
                 tuple(made.splitlines(True)))


def _cutter(names: Mapping[str, str]) -> Callable[[Cut], str]:
    """Source for a read as the cut table cuts it: the name, or the name in its cut."""
    def cut(c: Cut) -> str:
        where = f"{c.level}, {c.rows})"
        if c.kind is None:
            return c.name
        if c.kind == "node":
            return f"{names['cut_node']}({c.name}, {names['nodes']}, {where}"
        if c.kind == "edge":
            return f"{names['cut_edge']}({c.name}, {names['edges']}, {where}"
        return f"{names['cut_index']}({c.name}, {names['edges']}, {names['nodes']}, {where}"
    return cut


def trim_branch(plan: Plan, runner: str) -> list[str]:
    """The lines that open the eager forward: hand a call with counts to the trimmed one.

    Args:
        plan: A model's plan.
        runner: A local name that no value of the plan uses.

    Returns:
        The lines, indented for the body of ``forward``.

    Example:
        >>> import torch
        >>> from graphseq import Sequential
        >>> plan = Sequential("x", [(torch.nn.ReLU(), "x -> x")]).plan
        >>> print(trim_branch(plan, "trimmed")[0])
            if num_sampled_nodes_per_hop is not None or num_sampled_edges_per_hop is not None:

    A call without the keywords pays two ``is not None`` tests. Under ``torch.fx`` tracing the
    keywords are proxies, which are not ``None``: the runner then traces the untrimmed body.
    """
    names = plan.inputs.names
    args = f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"
    return [
        f"    if {NODES} is not None or {EDGES} is not None:",
        # ``runner`` is bound in the forward's closure (see :func:`trimmed_runner`).
        f"        return {runner}(self, {args}, {NODES}, {EDGES})",
    ]


def trimmed_runner(code: Code, modules: Mapping[str, Any], functions: Mapping[str, Any]
                   ) -> tuple[Callable[..., Any], Callable[[Callable[..., Any]], None]]:
    """What the eager forward's trimming branch calls, and how to give it that forward.

    The runner analyses the plan with its children and the model's kinds on each call
    (:func:`graphseq._analysis.analyze` is cached, and follows marks and training modes), and
    runs the ``trimmed`` variant made for that analysis: generated and compiled on first use,
    then kept by cut table. ``torch.compile`` takes the lookup as a constant. Under ``torch.fx``
    tracing (counts are proxies) it runs the untrimmed forward.

    Args:
        code: The eager forward's code (the trimmed forwards' lines are registered on it, for
            the step notes).
        modules: The module dict the eager forward holds.
        functions: Its function steps.

    Returns:
        ``(runner, bind)``: call ``bind(forward)`` once the eager forward exists.

    Example:
        >>> import torch
        >>> from torch_geometric.nn import SAGEConv
        >>> from graphseq import Sequential
        >>> model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x")])
        >>> run, _ = trimmed_runner(generate(model.plan), model._modules, {})
        >>> run(model, (torch.ones(3, 4), torch.tensor([[1, 2], [0, 0]])), [1, 2], [2]).shape
        torch.Size([3, 4])
    """
    # Each analysis seen gets an entry: its trimmed forward, or why it cannot be trimmed. The
    # lookup returns the entry's index, an int that torch.compile takes as a constant.
    plan: Plan = code.plan
    entries: list[Callable[..., Any] | str] = []
    index: dict[Any, int] = {}
    plain: list[Callable[..., Any]] = []

    def lookup(model: Any) -> int:
        children = {s.name: modules[s.name] if s.kind == "module" else functions[s.name]
                    for s in plan.steps}
        found = analyze(plan, children, model.__dict__.get(KINDS_KEY, ()))
        key = found.table if found.error is None else str(found.error)
        at = index.get(key)
        if at is None:
            entry: Callable[..., Any] | str
            if found.error is not None:
                entry = f"cannot trim this model exactly: {found.error}"
            else:
                from ._cuts import counter

                made = generate(plan, "trimmed", found)
                entry = compile_forward(made, modules=modules, functions=functions,
                                        counts=counter(found))
                code.trimmed[made.filename] = made.line_to_step
            at = index[key] = len(entries)
            entries.append(entry)
        return at

    lookup._dynamo_marked_constant = True  # type: ignore[attr-defined]  # assume_constant_result

    def runner(model: Any, args: tuple[Any, ...], nodes: Any, edges: Any) -> Any:
        if not isinstance(nodes, list | tuple | None) or not isinstance(edges, list | tuple | None):
            from torch.fx import Proxy

            if isinstance(nodes, Proxy) or isinstance(edges, Proxy):  # symbolic tracing
                return plain[0](model, *args)
        entry = entries[lookup(model)]
        if isinstance(entry, str):
            raise TrimError(entry)
        return entry(model, *args, **{NODES: nodes, EDGES: edges})

    return runner, plain.append


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
    bind = None
    if "trim" in code.names and "trim" not in values:
        values["trim"], bind = trimmed_runner(code, values.get("modules") or {},
                                              values.get("functions") or {})
    scope: dict[str, Any] = {}
    exec(_compiled(code.factory, code.filename), code.globals, scope)  # source from the plan
    fn: types.FunctionType = scope["make"](*(values.get(r) for r in code.helpers))
    if bind is not None:
        bind(fn)
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
        >>> from graphseq._spec import make_spec
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
        >>> from graphseq._spec import make_spec
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
    steps, filename, line_to_step, trimmed = (plan.steps, code.filename, code.line_to_step,
                                              code.trimmed)

    def add_step_note(error: BaseException) -> None:
        line, lines = None, line_to_step
        tb = error.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name == filename:
                line, lines = tb.tb_lineno, line_to_step
            elif name in trimmed:  # a trimmed call: its forward's steps are the same
                line, lines = tb.tb_lineno, trimmed[name]
            tb = tb.tb_next
        index = None if line is None else lines.get(line)
        if index is not None:
            step = steps[index]
            error.add_note(f"graphseq: raised in {step.where}{during}: {step.header_text}")

    return add_step_note
