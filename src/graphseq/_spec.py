"""The spec stage: what the user passed, normalised into records and checked.

A module list or dict becomes named :class:`~graphseq._plan.StepDecl` records (the one
``module_{i}`` namer, the step-name rules, class-instead-of-instance checks, parsed
headers), input args become a resolved signature, outputs a tuple of names: together a
:class:`ModelSpec`. :func:`check` then builds the :class:`~graphseq._plan.Plan` and checks
each step's binding, reporting the first fault in step order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ._binding import check_binding, params_of
from ._cache import SizedCache
from ._errors import HeaderError, Location, step_label
from ._parsing import (
    InputArgs,
    Names,
    fold,
    names_of_list,
    parse_header,
    parse_input_args,
    parse_outputs,
)
from ._plan import Kind, Plan, StepDecl, build_plan, pickle_names, resolved_headers, unpickle_names
from ._signature import Signature, resolve_signature

Item = tuple[str | None, Any]
"""One user item before checking: a name (``None``: give it one) and what was written."""


@dataclass(frozen=True)
class ModelSpec:
    """A model as declared: inputs with resolved types, named steps, and chosen outputs.

    Attributes:
        inputs: The parsed input args.
        signature: The inputs with their types resolved.
        steps: The declared steps, named, in order.
        outputs: The chosen outputs; ``None`` for the last step's.
        type_names: The types the input args name, by name.
    """

    inputs: InputArgs
    signature: Signature
    steps: tuple[StepDecl, ...]
    outputs: tuple[str, ...] | None = None
    type_names: Mapping[str, Any] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.inputs, self.signature, self.steps, self.outputs)
        return (_unpickle_spec, (*fields, pickle_names(self.type_names)))


def _unpickle_spec(
    inputs: InputArgs,
    signature: Signature,
    steps: tuple[StepDecl, ...],
    outputs: tuple[str, ...] | None,
    names: dict[str, Any],
) -> ModelSpec:
    return ModelSpec(inputs, signature, steps, outputs, unpickle_names(names))


def make_inputs(
    input_args: str | InputArgs, namespace: Mapping[str, Any]
) -> tuple[InputArgs, Signature, dict[str, Any]]:
    """Parse input args (or take parsed ones) and resolve their types in ``namespace``.

    Args:
        input_args: ``'x: Tensor, edge_index'`` or an :class:`InputArgs` record.
        namespace: Where type names are looked up first.

    Returns:
        The records, the resolved signature, and the type names it used.

    Raises:
        HeaderError: Bad syntax or an unknown type (location ``inputs``).

    Example:
        >>> make_inputs('x, k: int = 2', {})[1].param_dict['k'].default
        2
    """
    if isinstance(input_args, str):
        inputs = parse_input_args(input_args)
    elif isinstance(input_args, InputArgs):
        inputs = input_args
    else:
        raise HeaderError(
            f"Input args must be a str (got {type(input_args).__name__}).",
            location=Location("inputs"),
        )
    signature, names = resolve_signature(inputs, namespace)
    return inputs, signature, names


def make_outputs(
    outputs: str | Iterable[str] | None, part: Literal["outputs", "inputs"] = "outputs"
) -> Names | None:
    """Parse the model's outputs: a str ``'x1, x'``, a list of names, or ``None``.

    Args:
        outputs: What the user passed.
        part: What the names are (``"inputs"`` for the values a submodel starts from).

    Returns:
        The names (with the text they were read from), or ``None`` for "the last step's
        outputs".

    Raises:
        HeaderError: Not names, a list item that is not one name, a name twice, or an
            arrow (location ``outputs``).

    Example:
        >>> make_outputs(['x1', 'x'])
        ('x1', 'x')
    """
    if outputs is None:
        return None
    if isinstance(outputs, str):
        return parse_outputs(outputs, part)
    items = list(outputs)
    bad = [o for o in items if not isinstance(o, str)]
    if bad:
        raise HeaderError(
            f"{part.capitalize()} must be names (str); got {type(bad[0]).__name__} "
            f"{bad[0]!r:.60}.",
            location=Location(part),
        )
    return names_of_list(items, part)


def default_name(index: int, used: Container[str]) -> str:
    """The one default step namer: ``module_{index}``, or the next free ``module_{n}``.

    Args:
        index: The step's position.
        used: Names already taken.

    Returns:
        A free name.

    Example:
        >>> default_name(1, {'module_1'})
        'module_2'
    """
    n = index
    while f"module_{n}" in used:
        n += 1
    return f"module_{n}"


def check_step_name(name: Any, index: int, taken: Container[str]) -> str:
    """``name`` if ``nn.Module.add_module`` would accept it and it shadows nothing.

    Any non-empty str without ``.`` works (``'0'``, ``'conv-1'``, ``'act 1'``); a name that
    is an identifier is NFKC-normalised, as Python does for attributes.

    Args:
        name: The user's step name.
        index: The step's position (for the message).
        taken: Attribute names of the model, which a step must not shadow.

    Returns:
        The name to use.

    Raises:
        HeaderError: The name is not a str, is empty, holds ``.``, or is taken.

    Example:
        >>> check_step_name('conv-1', 0, ())
        'conv-1'
    """
    if not isinstance(name, str):
        raise HeaderError(
            f"has a name that is not a str ({type(name).__name__}).",
            where=step_label(index, name),
            location=Location("step", index, None, "name"),
        )
    if name.isidentifier() and name.isascii() and name not in taken:
        return name  # the common case, checked cheaply
    at = Location("step", index, name, "name")
    where = step_label(index, name)
    normal = fold(name)
    if normal.isidentifier():
        name = normal
    problem = None
    if not name:
        problem = "is named '', and a step name cannot be empty."
    elif "." in name:
        problem = f"is named {name!r}, and a step name cannot contain '.'."
    if problem:
        raise HeaderError(
            problem,
            hint="step names are what torch.nn.Module.add_module accepts, such as 'conv1' or '0'.",
            where=where,
            location=at,
        )
    if name in taken:
        raise HeaderError(
            f"is named {name!r}, which would shadow an attribute of the model.",
            hint="pick another name, such as 'conv1' or 'lin'.",
            where=where,
            location=at,
        )
    return name


def normalize_modules(modules: Any) -> list[Item]:
    """A list or dict of steps as ``(name or None, item)`` pairs, in order.

    Args:
        modules: A list or tuple of items, or a mapping of names to items.

    Returns:
        The pairs; unnamed (list) items get ``None``.

    Raises:
        HeaderError: Not a list or dict, or empty (location ``modules``).

    Example:
        >>> normalize_modules({'a': print})
        [('a', <built-in function print>)]
    """
    if isinstance(modules, Mapping):
        items: list[Item] = list(modules.items())
    elif isinstance(modules, list | tuple):
        items = [(None, m) for m in modules]
    else:
        raise HeaderError(
            f"Sequential expects a list or dict of modules (got {type(modules).__name__}).",
            location=Location("modules"),
        )
    if not items:
        raise HeaderError(
            "Sequential expects a non-empty list of modules.", location=Location("modules")
        )
    return items


def split_item(item: Any, index: int, name: str) -> tuple[Callable[..., Any], str | None]:
    """A step item as ``(callable, header text or None)``.

    Args:
        item: ``module``, ``(module,)`` or ``(module, 'args -> outs')``.
        index: The step's position (for messages).
        name: The step's name (for messages).

    Returns:
        The callable and its header text.

    Raises:
        HeaderError: A malformed tuple, something not callable, a class where an instance
            belongs, or a header that is not a str.

    Example:
        >>> split_item((torch.nn.ReLU(), 'x -> x'), 0, 'act')
        (ReLU(), 'x -> x')
    """
    text: Any = None
    if isinstance(item, tuple | list):
        if len(item) == 1:
            item = item[0]
        elif len(item) == 2:
            item, text = item
        else:
            raise HeaderError(
                f"is a tuple of {len(item)} items; expected (module, header) or (module,).",
                location=Location("step", index, name, "module"),
            )
    if isinstance(item, type) and issubclass(item, torch.nn.Module):
        call = f"{item.__name__}()" if _makes_without_args(item) else f"{item.__name__}(...)"
        raise HeaderError(
            f"is not a module instance: `{item.__name__}` is a class; did you mean `{call}`?",
            hint=f"pass an instance, such as ({call}, 'x -> x').",
            location=Location("step", index, name, "module"),
        )
    if not callable(item):
        raise HeaderError(
            f"is not callable (got {type(item).__name__}: {item!r:.60}).",
            location=Location("step", index, name, "module"),
        )
    if text is not None and not isinstance(text, str):
        raise HeaderError(
            f"has a header that is not a str (got {type(text).__name__}: {text!r:.60}).",
            location=Location("step", index, name, "header"),
        )
    return item, text


def _makes_without_args(cls: type) -> bool:
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


def _holds(fn: Callable[..., Any], owner: object) -> bool:
    """Whether ``fn`` is ``owner``, a method of it, or a module holding it."""
    if fn is owner or getattr(fn, "__self__", None) is owner:
        return True
    return isinstance(fn, torch.nn.Module) and any(m is owner for m in fn.modules())


def kind_of(fn: Callable[..., Any]) -> Kind:
    """``"module"`` for an ``nn.Module``, else ``"function"``.

    Args:
        fn: A step's callable.

    Returns:
        ``"module"`` or ``"function"``.

    Example:
        >>> kind_of(torch.nn.ReLU()), kind_of(torch.cat)
        ('module', 'function')
    """
    return "module" if isinstance(fn, torch.nn.Module) else "function"


@dataclass(frozen=True)
class Made:
    """Steps made from user items: declarations, their callables, and the first header fault."""

    decls: list[StepDecl]
    fns: list[Callable[..., Any]]
    fault: HeaderError | None = None  # the first header that does not parse


def make_steps(items: Sequence[Item], taken: Container[str], start: int = 0,
               used: Iterable[str] = (), owner: object = None) -> Made:
    """Turn ``(name or None, item)`` pairs into step declarations and callables.

    Items and names are checked at once (the first bad one raises); header syntax errors
    are kept in :attr:`Made.fault`, to be reported in step order by :func:`check`.

    Args:
        items: The pairs.
        taken: Names a step must not have (the model's attributes).
        start: The index of the first item in the model.
        used: Names of steps already in the model (for default names).
        owner: The model being edited, which no step may be or hold.

    Returns:
        A :class:`Made`.

    Raises:
        HeaderError: A malformed item, a bad name, or the model itself as a step.

    Example:
        >>> made = make_steps([(None, (torch.nn.ReLU(), 'x -> x'))], ())
        >>> made.decls[0].name, made.decls[0].text
        ('module_0', 'x -> x')
    """
    names = set(used)
    pairs = []
    for offset, (name, item) in enumerate(items):
        index = start + offset
        if name is None:
            name = default_name(index, names)
        name = check_step_name(name, index, taken)
        pair = split_item(item, index, name)
        if owner is not None and _holds(pair[0], owner):
            raise HeaderError(
                "is the model itself, or holds it: a model cannot be a step of itself.",
                hint="pass another model, or a copy (copy.deepcopy(model)).",
                location=Location("step", index, name, "module"),
            )
        pairs.append((name, pair))
        names.add(name)
    decls: list[StepDecl] = []
    fns: list[Callable[..., Any]] = []
    for offset, (name, (fn, text)) in enumerate(pairs):
        header = None
        if text is not None:
            try:
                header = parse_header(text)
            except HeaderError as error:
                fault = error.at(Location("step", start + offset, name, "header"))
                return Made(decls, fns, fault)
        decls.append(StepDecl(name, header, text, kind_of(fn)))
        fns.append(fn)
    return Made(decls, fns)


_BOUND: SizedCache[bool] = SizedCache(max_weight=50_000)  # plans whose callables bind, by facts


def check(spec: ModelSpec, fns: Sequence[Callable[..., Any]],
          fault: HeaderError | None = None) -> Plan:
    """Build ``spec``'s plan and check each step's binding; the first fault in step order.

    Args:
        spec: The declared model (its steps end before ``fault``, if any).
        fns: The steps' callables, one per declaration.
        fault: A header error at the step after the last declaration, raised if nothing
            before it is wrong.

    Returns:
        The plan.

    Raises:
        HeaderError: The first fault: a name used twice, an undefined name, a step that
            cannot take its arguments, a bad header, or an undefined output.

    Example:
        >>> inputs, signature, names = make_inputs('x', {})
        >>> made = make_steps([(None, (torch.nn.ReLU(), 'x -> y'))], ())
        >>> check(ModelSpec(inputs, signature, tuple(made.decls)), made.fns).outputs
        ('y',)
    """
    outputs = None if fault is not None else spec.outputs
    plan: Plan | None = None
    error: HeaderError | None = None
    try:
        if spec.steps or fault is None:
            plan = build_plan(spec.inputs, spec.steps, outputs, spec.signature, spec.type_names)
    except HeaderError as flow:
        error = flow
    stop = len(spec.steps)
    if error is not None and error.location is not None and error.location.part == "step":
        if error.location.field == "name":  # a name used twice: no binding to check first
            raise error
        stop = error.location.index or 0
    params = [params_of(fn) for fn in fns[:stop]]
    bound = (plan.key, *params) if plan is not None and error is None else None
    if bound is None or _BOUND.get(bound) is None:
        steps = plan.steps if plan is not None else None
        headers = [s.header for s in steps] if steps is not None else resolved_headers(spec.steps)
        for i, (decl, header) in enumerate(zip(spec.steps[:stop], headers, strict=False)):
            check_binding(fns[i], params[i], header, decl.text,
                          Location("step", i, decl.name, "header"))
        if bound is not None:
            _BOUND.put(bound, True, len(params))
    if error is not None:
        raise error
    if fault is not None:
        raise fault
    assert plan is not None
    return plan


def make_spec(
    input_args: str | InputArgs,
    modules: Any,
    outputs: str | Iterable[str] | None = None,
    namespace: Mapping[str, Any] | None = None,
    taken: Container[str] = (),
) -> tuple[ModelSpec, Plan, list[Callable[..., Any]]]:
    """Normalise, parse, resolve and check a whole model.

    Args:
        input_args: The model's input args.
        modules: A list or dict of steps.
        outputs: The output names, or ``None`` for the last step's.
        namespace: Where type names are looked up first.
        taken: Names a step must not have.

    Returns:
        The spec, its checked plan, and the steps' callables.

    Raises:
        HeaderError: The first fault found.

    Example:
        >>> spec, plan, fns = make_spec('x', [(torch.nn.ReLU(), 'x -> y')])
        >>> [d.name for d in spec.steps], plan.outputs
        (['module_0'], ('y',))
    """
    inputs, signature, names = make_inputs(input_args, namespace or {})
    made = make_steps(normalize_modules(modules), taken)
    chosen = make_outputs(outputs)
    spec = ModelSpec(inputs, signature, tuple(made.decls), chosen, names)
    plan = check(spec, made.fns, made.fault)
    return spec, plan, made.fns
