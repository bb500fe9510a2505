"""The ``nn.Module``: children, the plan, and the generated forward. Nothing else."""

from __future__ import annotations

import inspect
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

import torch

from .codegen import Variant, compile_forward, generate
from .parsing import InputArgs
from .plan import Entry, Plan, build_plan, plain_signature, slice_plan
from .signature import Child, Signature, caller_namespace


class Sequential(torch.nn.Module):
    """A GNN declared as input args plus ``(module, 'args -> outs')`` steps.

    Each instance gets its own generated ``forward`` (``model.code`` shows it), checked
    when the model is built.

    >>> from torch.nn import Linear, ReLU
    >>> from torch_geometric.nn import GCNConv
    >>> model = Sequential('x, edge_index', [
    ...     (GCNConv(16, 64), 'x, edge_index -> x'),
    ...     ReLU(inplace=True),
    ...     (Linear(64, 7), 'x -> x'),
    ... ])
    >>> model(torch.randn(4, 16), torch.tensor([[0, 1, 2], [1, 2, 3]])).shape
    torch.Size([4, 7])
    """

    __jit_ignored_attributes__ = ["_plan", "_shapes"]
    __jit_unused_properties__ = ["code", "plan", "signature", "headers"]

    def __init__(
        self,
        input_args: str,
        modules: Any,
        outputs: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        if outputs is not None and not isinstance(outputs, str):
            outputs = tuple(outputs)
        taken = _taken(type(self))
        self._adopt(*build_plan(input_args, modules, outputs, caller_namespace(), taken=taken))

    def _adopt(self, plan: Plan, entries: list[Entry]) -> None:
        """Hold ``entries`` as children (modules registered, functions as attributes)."""
        old: Plan | None = self.__dict__.get("_plan")
        if old is not None:
            for step in old.steps:
                self._modules.pop(step.name, None)
                self.__dict__.pop(step.name, None)
        for entry in entries:
            if isinstance(entry.fn, torch.nn.Module):
                self._modules[entry.name] = entry.fn
            else:
                self.__dict__[entry.name] = entry.fn
        self._plan = plan
        self._install()

    # The generated forward ----------------------------------------------------------------

    def _install(self, variant: Variant = "eager") -> None:
        """Give this instance a class of its own whose ``forward`` is generated from the plan."""
        code = generate(self._plan, variant)
        base = _user_class(type(self))
        forward = compile_forward(code)
        forward.__qualname__ = f"{base.__qualname__}.forward"
        cls = type(
            base.__name__,
            (base,),
            {
                "forward": forward,
                "__module__": base.__module__,
                "__qualname__": base.__qualname__,
                "__doc__": base.__doc__,
                "_graphseq_source": code.source,
            },
        )
        self.__class__ = cls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TypeError as error:
            _explain_call(self, error, args, kwargs)
            raise

    @property
    def code(self) -> str:
        """The Python source of this model's ``forward``."""
        source: str = type(self).__dict__["_graphseq_source"]
        return source

    def __prepare_scriptable__(self) -> Sequential:
        """Hand TorchScript a shallow twin whose forward uses plain ``self.name`` calls."""
        twin: Sequential = object.__new__(_user_class(type(self)))
        twin.__dict__.update(self.__dict__)
        twin.__dict__["_modules"] = dict(self._modules)
        twin._install("script")
        return twin

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        return (_restore, (_user_class(type(self)), state))

    # Introspection ------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        """The checked dataflow this model was generated from."""
        return self._plan

    @property
    def signature(self) -> Signature:
        """The model's inputs and return type."""
        return self._plan.signature

    @property
    def headers(self) -> list[Child]:
        """Each step's name, the names it reads and the names it writes."""
        return self._plan.children

    def reset_parameters(self) -> None:
        """Reset the parameters of every child that can."""
        for child in self._children_in_order():
            reset = getattr(child, "reset_parameters", None)
            if callable(reset):
                reset()

    def __len__(self) -> int:
        return len(self._plan.steps)

    def _children_in_order(self) -> Iterator[Callable[..., Any]]:
        for step in self._plan.steps:
            yield self._child(step.name)

    def _child(self, name: str) -> Callable[..., Any]:
        return self._modules[name] if name in self._modules else self.__dict__[name]  # type: ignore[return-value]

    @overload
    def __getitem__(self, idx: int | str) -> Callable[..., Any]: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    def __getitem__(self, idx: int | str | slice) -> Any:
        if isinstance(idx, slice):
            inputs, entries = slice_plan(self._plan, idx, self._child)
            cls = _user_class(type(self))
            return build_model(inputs, entries, None, self._plan.type_names, cls)
        if isinstance(idx, str):
            idx = unicodedata.normalize("NFKC", idx)  # as Python reads attribute names
            for step in self._plan.steps:
                if step.name == idx:
                    return self._child(idx)
            raise KeyError(f"no step named {idx!r}; steps: {[s.name for s in self._plan.steps]}")
        steps = self._plan.steps
        if not -len(steps) <= idx < len(steps):
            raise IndexError(f"step index {idx} is out of range for {len(steps)} steps")
        return self._child(steps[idx].name)

    def __repr__(self) -> str:
        rows = [
            f"  ({s.index}) - {self._child(s.name)}: {s.header}" for s in self._plan.steps
        ]
        return f"{type(self).__name__}(\n" + "\n".join(rows) + "\n)"

    # Tools on top of the plan (summary.py, viz.py, config.py) ---------------------------------

    def summary(self, *example_args: Any, **example_kwargs: Any) -> str:
        """A table of the steps; with example inputs, their output shapes and dtypes too."""
        from .summary import summarize

        return summarize(self, *example_args, **example_kwargs)

    def to_dot(self) -> str:
        """Graphviz DOT source of the dataflow."""
        from .viz import to_dot

        return to_dot(self)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart of the dataflow, ready to paste into Markdown."""
        from .viz import to_mermaid

        return to_mermaid(self)

    def draw(self, path: str | os.PathLike[str]) -> Path:
        """Render the diagram to SVG or PNG (by suffix) with Graphviz's ``dot``."""
        from .viz import draw

        return draw(self, path)

    def to_config(self) -> dict[str, Any]:
        """The model as a config dict that ``graphseq.from_config`` builds back."""
        from .config import to_config

        return to_config(self)

    def export(
        self,
        path: str | os.PathLike[str],
        *example_args: Any,
        dynamic_shapes: Any = None,
        aot: bool = False,
        **example_kwargs: Any,
    ) -> Path:
        """Export to ``.pt2`` (``torch.export``) or ``.onnx``, sized for any graph.

        Args:
            path: the file to write; ``.pt2`` or ``.onnx``.
            *example_args: example inputs, as for ``model(...)``.
            dynamic_shapes: torch's format; default: every tensor dim ``Dim.AUTO``, ints dynamic.
            aot: compile the ``.pt2`` with AOTInductor.
            **example_kwargs: example keyword inputs.

        Returns:
            The path written.

        Raises:
            ValueError: another suffix; see :func:`graphseq.export.export` for the rest.

        Example:
            >>> import tempfile
            >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> x')])
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     model.export(f'{tmp}/model.pt2', torch.randn(5, 4)).name
            'model.pt2'
        """
        from .export import export

        return export(
            self, path, *example_args, dynamic_shapes=dynamic_shapes, aot=aot, **example_kwargs
        )

    # Editing ------------------------------------------------------------------------------

    def append(self, module: Callable[..., Any], header: str | None = None) -> Sequential:
        """Add a step at the end; the model is checked and regenerated, or left unchanged."""
        return self.insert(len(self), module, header)

    def insert(
        self, index: int, module: Callable[..., Any], header: str | None = None
    ) -> Sequential:
        """Add a step before ``index``; the model is checked and regenerated, or left unchanged."""
        items = self._items()
        items.insert(index if index >= 0 else len(items) + index, (None, module, header))
        self._rebuild(items)
        return self

    def extend(self, steps: Iterable[Any]) -> Sequential:
        """Append several ``module`` or ``(module, header)`` items at once."""
        # Each item goes to the checker as written, so a malformed one is reported as such.
        self._rebuild(self._items() + [(None, item, None) for item in steps])
        return self

    def _items(self) -> list[tuple[str | None, Any, str | None]]:
        return [(s.name, self._child(s.name), s.text) for s in self._plan.steps]

    def _rebuild(self, items: list[tuple[str | None, Any, str | None]]) -> None:
        used = {name for name, _, _ in items if name is not None}
        named: dict[str, Any] = {}
        for i, (name, module, header) in enumerate(items):
            if name is None:
                name = _free_name(i, used)
                used.add(name)
            named[name] = module if header is None else (module, header)
        plan = self._plan
        outputs = plan.outputs if plan.explicit_outputs else None
        taken = _taken(type(self))
        self._adopt(*build_plan(plan.inputs, named, outputs, plan.type_names, taken=taken))


def _explain_call(
    model: Sequential, error: TypeError, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Add the model's signature to a ``TypeError`` caused by how ``forward`` was called."""
    sig = inspect.signature(model.forward)
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        error.add_note(f"graphseq: this model is called as forward{plain_signature(sig)}")


def _free_name(index: int, used: set[str]) -> str:
    name = f"module_{index}"
    n = index
    while name in used:
        n += 1
        name = f"module_{n}"
    return name


def _user_class(cls: type) -> type:
    """The class the user instantiated, behind the generated per-instance class."""
    while "_graphseq_source" in cls.__dict__:
        cls = cls.__bases__[0]
    return cls


def _restore(cls: type[Sequential], state: dict[str, Any]) -> Sequential:
    """Unpickle: put the state back and generate the forward again."""
    model = cls.__new__(cls)
    torch.nn.Module.__setstate__(model, state)
    model._install()
    return model


def build_model(
    input_args: str | InputArgs,
    modules: Any,
    outputs: str | tuple[str, ...] | None = None,
    namespace: Mapping[str, Any] | None = None,
    cls: type[Sequential] = Sequential,
) -> Sequential:
    """Build a model whose type names resolve in ``namespace`` only, not the caller's globals.

    Configs and slices use it, so what they build does not depend on who calls them.
    """
    model = cls.__new__(cls)
    torch.nn.Module.__init__(model)
    model._adopt(*build_plan(input_args, modules, outputs, namespace or {}, taken=_taken(cls)))
    return model


_TAKEN = frozenset(dir(Sequential)) | frozenset(vars(torch.nn.Module())) | {"_plan", "_shapes"}


@lru_cache(maxsize=64)
def _taken_by_class(cls: type) -> frozenset[str]:
    return _TAKEN | frozenset(dir(cls))


def _taken(cls: type) -> frozenset[str]:
    """Names a step cannot have: attributes of the model's class (and of any subclass)."""
    return _taken_by_class(_user_class(cls))
