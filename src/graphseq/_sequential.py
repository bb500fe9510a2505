"""The ``nn.Module``: children, the spec, the plan and the generated forward. Nothing else.

A model's state is one frozen :class:`_State` (spec, plan, children, generated class),
swapped as a whole by :meth:`Sequential._install`, the one commit path: a new module dict
(copy on write) and a new per-instance class whose ``forward`` is bound to it. A thread
calling the model holds one ``forward`` for the whole call, so it sees the old model or the
new one, never a mix. Edits and derived models (slices, submodels, clones) are worked out on
records by :mod:`graphseq._surgery`; this module resolves the step key, then installs the
checked result. Edits check the change at once but generate code lazily, on the next use, so
that many edits cost one build.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

import torch

from . import _surgery as surgery
from ._binding import plain_signature
from ._codegen import Variant, compile_forward, compile_stub, generate, note_adder
from ._parsing import InputArgs
from ._plan import Plan, StepDecl, build_plan
from ._signature import Child, Signature, caller_namespace
from ._spec import ModelSpec, make_spec


@dataclass(frozen=True, slots=True)
class _State:
    """One version of a model: its records, its children and the class that runs them."""

    spec: ModelSpec
    plan: Plan | None  # None: an edit was checked without a plan; built on first use
    modules: dict[str, Any]  # the module dict (``_modules``) the forward holds; copy on write
    functions: dict[str, Callable[..., Any]]  # the function steps, by name
    cls: type  # the per-instance class whose ``forward`` runs this version (or its stub)
    tail: surgery.Tail | None = None  # what checking an append needs, once worked out

    @property
    def source(self) -> str | None:
        """The generated forward's source; ``None`` while a stub stands in for it."""
        source: str | None = self.cls.__dict__["_graphseq_source"]
        return source


class Sequential(torch.nn.Module):
    """A GNN declared as input args plus ``(module, 'args -> outs')`` steps.

    Each instance gets its own generated ``forward`` (``model.code`` shows it), checked
    when the model is built.

    Args:
        input_args: The model's inputs, such as ``'x, edge_index'`` or
            ``'x: Tensor, edge_weight: OptTensor = None'``.
        modules: A list of steps, or a dict of named steps. A step is a module or function,
            or a ``(module, 'args -> outs')`` pair.
        outputs: The values to return (``'x1, x'`` or a list of names); by default what the
            last step writes.

    Raises:
        HeaderError: The model cannot be built; the message names the step and the fault.

    Example:
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

    __jit_ignored_attributes__ = ["_state", "_lock"]
    __jit_unused_properties__ = ["code", "plan", "signature", "headers"]
    _graphseq_forward: Callable[..., Any]  # set on each model's own class
    _state: _State  # in the instance dict, set only by _install
    _lock: threading.RLock

    def __init__(
        self,
        input_args: str,
        modules: Any,
        outputs: str | Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        spec, plan, fns = make_spec(
            input_args, modules, outputs, caller_namespace(), taken=_taken(type(self))
        )
        _warn_dead(plan)
        self._commit(spec, fns, plan)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the generated forward; a subclass's ``super().forward(...)`` lands here.

        A plain model's own class overrides this with the generated function itself, which
        has the model's real parameter names.

        Args:
            *args: The model's inputs, in the order of its input args.
            **kwargs: Inputs by name, and ``num_sampled_nodes_per_hop`` /
                ``num_sampled_edges_per_hop`` for a trimmed call (see ``docs/scale.md``).

        Returns:
            The model's outputs: one value, or a tuple when several are named.

        Example:
            >>> class Doubled(Sequential):
            ...     def forward(self, x):
            ...         return super().forward(x) * 2
            >>> Doubled('x', [(torch.nn.Identity(), 'x -> x')])(torch.ones(1))
            tensor([2.])
        """
        return type(self)._graphseq_forward(self, *args, **kwargs)

    # State: one record, one swap per edit --------------------------------------------------

    def _commit(self, spec: ModelSpec, fns: list[Callable[..., Any]], plan: Plan) -> None:
        """Hold ``fns`` as the steps of ``spec`` (checked as ``plan``) and install them."""
        old = self.__dict__.get("_state")
        old_names = {d.name for d in old.spec.steps} if old is not None else set()
        modules: dict[str, Any] = {}
        functions: dict[str, Callable[..., Any]] = {}
        _sort_children(spec.steps, fns, modules, functions)
        for name, child in self._modules.items():  # a subclass's own children
            if name not in old_names and name not in modules:
                modules[name] = child
        self._install(self._state_for(spec, plan, modules, functions))

    def _state_for(self, spec: ModelSpec, plan: Plan | None, modules: dict[str, Any],
                   functions: dict[str, Callable[..., Any]], variant: Variant = "eager",
                   tail: surgery.Tail | None = None) -> _State:
        """A state whose class runs ``plan``; without a plan, a stub that builds it first."""
        base = _user_class(type(self))
        if plan is None:
            forward = compile_stub(spec, _refresh)
            source = note = None
        else:
            code = generate(plan, variant)
            forward = compile_forward(code, modules=modules, functions=functions)
            source, note = code.source, note_adder(plan, code)
        forward.__qualname__ = f"{base.__qualname__}.forward"
        attrs: dict[str, Any] = {
            "_graphseq_forward": forward,
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "__doc__": base.__doc__,
            "_graphseq_source": source,
            "_graphseq_note": note,
        }
        if getattr(base, "forward", None) is Sequential.forward:  # else the subclass's stays
            attrs["forward"] = forward
        cls = type(base.__name__, (base,), attrs)
        return _State(spec, plan, modules, functions, cls, tail)

    def _install(self, state: _State) -> None:
        """The one commit path: hold ``state``'s children and switch to its class."""
        attrs = self.__dict__
        if "_lock" not in attrs:
            attrs["_lock"] = threading.RLock()
        old: _State | None = attrs.get("_state")
        if old is not None:
            for name in old.functions.keys() - state.functions.keys():
                if name in attrs and not isinstance(attrs[name], torch.nn.Module):
                    del attrs[name]
        attrs.update(state.functions)  # a function step is an attribute too (TorchScript)
        attrs["_modules"] = state.modules
        attrs["_state"] = state
        self.__class__ = state.cls  # the one switch callers see

    def _ensure_plan(self) -> Plan:
        """The plan, built now if edits left it for later."""
        plan = self._state.plan
        if plan is not None:
            return plan
        with self._lock:
            state = self._state
            if state.plan is None:
                spec = state.spec
                plan = build_plan(spec.inputs, spec.steps, spec.outputs, spec.signature,
                                  spec.type_names)
                state = dataclasses.replace(state, plan=plan)
                self._install(state)  # the same version, now with its plan
            assert state.plan is not None
            return state.plan

    def _refresh(self) -> Callable[..., Any]:
        """Generate and install the real forward if edits left a stub; return it."""
        with self._lock:
            if self._state.source is None:
                plan = self._ensure_plan()
                state = self._state
                self._install(self._state_for(state.spec, plan, state.modules, state.functions,
                                              tail=state.tail))
            forward: Callable[..., Any] = self._state.cls.__dict__["_graphseq_forward"]
            return forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The step notes are added here, outside any frame torch.compile compiles: a `try`
        # in the generated forward would stop dynamo from resuming after a child's graph
        # break (see graphseq._codegen). torch.compile(model) gives up on this frame at such a
        # break, runs it eagerly and compiles the forward frame below it, which has no `try`.
        # The body is torch.nn.Module.__call__'s own (`_wrapped_call_impl`: a compiled call
        # from `Module.compile()`, else `_call_impl`, which runs the hooks), inlined so a call
        # costs one Python frame less, as torch.nn.Sequential's does (docs/speed.md).
        try:
            compiled = self._compiled_call_impl
            if compiled is not None:
                return compiled(*args, **kwargs)
            return self._call_impl(*args, **kwargs)
        except Exception as error:
            _explain_failure(self, error, args, kwargs)
            raise

    @property
    def code(self) -> str:
        """The Python source of this model's ``forward``."""
        self._refresh()
        source = self._state.source
        assert source is not None
        return source

    def __prepare_scriptable__(self) -> Sequential:
        """Hand TorchScript a shallow twin whose forward uses plain ``self.name`` calls."""
        plan = self._ensure_plan()
        twin: Sequential = object.__new__(_user_class(type(self)))
        twin.__dict__.update(self.__dict__)
        state = self._state
        twin._install(twin._state_for(state.spec, plan, dict(state.modules), state.functions,
                                      "script"))
        return twin

    def _replicate_for_data_parallel(self) -> Sequential:
        # DataParallel copies the module dict, then sets each replica's children into it.
        replica: Sequential = super()._replicate_for_data_parallel()
        state = self._state
        replica._install(replica._state_for(state.spec, self._ensure_plan(), replica._modules,
                                            state.functions))
        return replica

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        attrs = dict(self.__dict__)
        attrs.pop("_lock", None)
        state: _State = attrs.pop("_state")
        return (_restore, (_user_class(type(self)), attrs, state.spec, state.plan))

    def __deepcopy__(self, memo: dict[int, Any]) -> Sequential:
        # The spec and plan are frozen records: the copy shares them (and so what the tools
        # recorded for the plan), and copies everything else.
        attrs = dict(self.__dict__)
        attrs.pop("_lock", None)
        state: _State = attrs.pop("_state")
        twin = _restore(_user_class(type(self)), copy.deepcopy(attrs, memo), state.spec,
                        state.plan)
        memo[id(self)] = twin
        return twin

    # Introspection ------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        """The checked dataflow this model was generated from."""
        return self._ensure_plan()

    @property
    def signature(self) -> Signature:
        """The model's inputs and return type."""
        return self._state.spec.signature

    @property
    def headers(self) -> list[Child]:
        """Each step's name, the names it reads and the names it writes."""
        steps = self._ensure_plan().steps
        return [Child(s.name, list(s.header.reads), list(s.header.outs)) for s in steps]

    def reset_parameters(self) -> None:
        """Reset the parameters of every child that can."""
        for child in self._fns():
            reset = getattr(child, "reset_parameters", None)
            if callable(reset):
                reset()

    def __len__(self) -> int:
        return len(self._state.spec.steps)

    def _names(self) -> list[str]:
        return [d.name for d in self._state.spec.steps]

    def _fns(self) -> list[Callable[..., Any]]:
        """The steps' callables, in step order (what :mod:`graphseq._surgery` edits)."""
        return [self._child(name) for name in self._names()]

    def _child(self, name: str) -> Callable[..., Any]:
        state = self._state
        if name in state.modules:
            child: Callable[..., Any] = state.modules[name]
            return child
        return state.functions[name]

    def children_by_name(self) -> dict[str, Callable[..., Any]]:
        """Each step's name and callable, in step order (modules and functions alike).

        Returns:
            A new dict.

        Example:
            >>> model = Sequential('x', [(torch.nn.ReLU(), 'x -> y')])
            >>> model.children_by_name()
            {'module_0': ReLU()}
        """
        with self._lock:
            return {name: self._child(name) for name in self._names()}

    def _index(self, key: int | str) -> int:
        """The index of the step ``key`` names (an index or a step name)."""
        return surgery.step_index(self._names(), key)

    @overload
    def __getitem__(self, idx: int | str) -> Callable[..., Any]: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    def __getitem__(self, idx: int | str | slice) -> Any:
        if isinstance(idx, slice):
            return self._slice(idx)
        with self._lock:  # the name and the child of one version
            return self._child(self._names()[self._index(idx)])

    def _slice(self, idx: slice) -> Sequential:
        return self._derived(surgery.slice_model(*self._records(), idx))

    def _records(self) -> tuple[ModelSpec, Plan, list[Callable[..., Any]]]:
        """One version's spec, plan and step callables, read together: an edit in another
        thread waits (derived models pair each step with its own child)."""
        with self._lock:
            plan = self._ensure_plan()
            return self._state.spec, plan, self._fns()

    def _derived(self, edit: surgery.Edit) -> Sequential:
        """A new model of this model's class holding ``edit``."""
        cls: type[Sequential] = _user_class(type(self))
        model = cls.__new__(cls)
        torch.nn.Module.__init__(model)
        with self._lock:  # one version's steps told apart from the model's own state
            _carry_own_state(self, model)
        _warn_dead(edit.plan)
        model._commit(edit.spec, edit.fns, edit.plan)
        return model

    def __repr__(self) -> str:
        rows = [
            f"  ({s.index}) - {self._child(s.name)}: {s.header}"
            for s in self._ensure_plan().steps
        ]
        return f"{type(self).__name__}(\n" + "\n".join(rows) + "\n)"

    # Tools on top of the plan (summary.py, viz.py, config.py) ---------------------------------

    def call_on(self, data: Any, **inputs: Any) -> Any:
        """Call the model on a PyG ``Data``, ``HeteroData`` or dict, reading each input by name.

        Inputs given by keyword win; an input that ``data`` lacks takes its default, or the
        call is a ``TypeError`` naming it and what ``data`` has.

        Args:
            data: A ``Data``, ``HeteroData`` (``x_dict`` and the like are collected), or a dict.
            **inputs: Inputs given directly, by name.

        Returns:
            What ``forward`` returns.

        Example:
            >>> import graphseq, torch
            >>> from torch_geometric.data import Data
            >>> from torch_geometric.nn import GCNConv
            >>> model = graphseq.Sequential('x, edge_index', [
            ...     (GCNConv(3, 2), 'x, edge_index -> x')])
            >>> data = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1], [1, 2]]))
            >>> model.call_on(data).shape
            torch.Size([4, 2])
        """
        from ._calling import inputs_from

        return self(**inputs_from(self.signature, data, inputs))

    def summary(self, *example_args: Any, **example_kwargs: Any) -> str:
        """A table of the steps; with example inputs, their output shapes and dtypes too.

        The model runs once on the examples, in eval mode and under ``torch.no_grad()``;
        each value is freed after its last use, as in ``forward``, and only its shape kept.

        Args:
            *example_args: Example inputs, as for ``model(...)``.
            **example_kwargs: Example keyword inputs.

        Returns:
            The table.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
            >>> print(model.summary(torch.randn(3, 4)).splitlines()[0])
            Inputs: x [3, 4] float32
        """
        from .summary import run, table

        plan = self._ensure_plan()
        children = self.children_by_name()
        values = None
        if example_args or example_kwargs:
            values = run(plan, children, example_args, example_kwargs)
        return table(plan, children, values)

    def recorded_shapes(self) -> Mapping[tuple[int, str], str]:
        """What the last :meth:`summary` with example inputs saw, by ``(producer, name)``.

        Empty if there was none, or if the model was edited since. The record is kept by
        :mod:`graphseq.summary` for this plan: a ``copy.deepcopy`` shares it, a pickle does not.

        Returns:
            Value descriptions such as ``'[3, 2] float32'``; inputs have producer ``-1``.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 2), 'x -> y')])
            >>> _ = model.summary(torch.randn(3, 4))
            >>> model.recorded_shapes()[(0, 'y')]
            '[3, 2] float32'
        """
        from .summary import recorded

        plan = self._state.plan  # no plan yet: edited since any summary
        return recorded(plan) if plan is not None else {}

    def to_dot(self, direction: str = "TB") -> str:
        """Graphviz DOT source of the dataflow, top to bottom (or ``direction='LR'``).

        Args:
            direction: ``'TB'`` (top to bottom) or ``'LR'`` (left to right).

        Returns:
            The DOT text; after ``summary(...)`` with example inputs, edges carry shapes.

        Example:
            >>> Sequential('x', [(torch.nn.ReLU(), 'x -> y')]).to_dot().startswith('digraph')
            True
        """
        from .viz import to_dot

        plan = self._ensure_plan()
        return to_dot(plan, self.children_by_name(), self.recorded_shapes(), direction)

    def to_mermaid(self, direction: str = "TB") -> str:
        """A Mermaid flowchart of the dataflow, ready to paste into Markdown.

        Args:
            direction: ``'TB'`` (top to bottom) or ``'LR'`` (left to right).

        Returns:
            The flowchart text, for a ```` ```mermaid ```` block.

        Example:
            >>> Sequential('x', [(torch.nn.ReLU(), 'x -> y')]).to_mermaid().split()[0]
            'flowchart'
        """
        from .viz import to_mermaid

        plan = self._ensure_plan()
        return to_mermaid(plan, self.children_by_name(), self.recorded_shapes(), direction)

    def draw(self, path: str | os.PathLike[str]) -> Path:
        """Render the diagram to SVG or PNG (by suffix) with Graphviz's ``dot``.

        Args:
            path: The file to write, ending in ``.svg`` or ``.png``.

        Returns:
            The path written.

        Raises:
            ValueError: ``path`` has another suffix.
            graphseq.viz.GraphvizNotFoundError: Graphviz's ``dot`` is not installed; the
                message says how to install it.
        """
        from .viz import draw

        return draw(self.to_dot(), path)

    def to_config(self) -> dict[str, Any]:
        """The model as a config dict that ``graphseq.from_config`` builds back.

        Returns:
            The config in normal form: ``inputs``, ``outputs`` when explicit, ``steps``.

        Raises:
            ValueError: A step was not made from the registry, so it cannot be described.
        """
        from .config.write import to_config

        return to_config(self)

    def inference(
        self,
        *inputs: Any,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
        embedding_device: torch.device | str = "cpu",
        progress_bar: bool = False,
        **keyword_inputs: Any,
    ) -> Any:
        """Layer-wise inference over all nodes: what ``forward`` returns, in bounded memory.

        Each level of the model runs over batches of ``batch_size`` target nodes with their
        full in-neighbourhoods, cut from the graph's edges sorted by target; only the values
        that later levels read are kept, for all nodes, on ``embedding_device``. It runs in
        eval mode under ``torch.no_grad()`` and restores the training mode after. A step that
        cannot run this way is refused before any work (see ``docs/scale.md``).

        Args:
            *inputs: The model's inputs for the whole graph, as for ``model(...)``.
            batch_size: Target nodes per batch.
            device: Where the steps run; by default where the model's parameters are.
            embedding_device: Where the values kept for all nodes are held.
            progress_bar: Show a tqdm bar counting levels x batches.
            **keyword_inputs: Inputs by name.

        Returns:
            What ``forward`` returns, for all nodes.

        Raises:
            graphseq.inference.InferenceError: A step cannot run layer-wise (a graph-level
                step, a step not known to be row-wise), or the inputs do not fit the graph.

        Example:
            >>> from torch_geometric.nn import SAGEConv
            >>> model = Sequential('x, edge_index', [(SAGEConv(4, 8), 'x, edge_index -> x'),
            ...                                      torch.nn.ReLU(),
            ...                                      (SAGEConv(8, 2), 'x, edge_index -> x')])
            >>> x, edge_index = torch.randn(6, 4), torch.tensor([[0, 1, 2, 4], [1, 2, 3, 5]])
            >>> out = model.inference(x, edge_index, batch_size=4)
            >>> torch.allclose(out, model(x, edge_index), atol=1e-6)
            True
        """
        from .inference import infer

        return infer(self, inputs, keyword_inputs, batch_size=batch_size, device=device,
                     embedding_device=embedding_device, progress_bar=progress_bar)

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
        """Add a step at the end; the model is checked, or left unchanged.

        Args:
            module: The step's module or function.
            header: Its header; by default it rebinds what the step before wrote.

        Returns:
            The model.

        Raises:
            HeaderError: The step does not fit; the model is unchanged.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> h')])
            >>> len(model.append(torch.nn.ReLU()))
            2
        """
        return self.insert(len(self), module, header)

    def insert(
        self, index: int, module: Callable[..., Any], header: str | None = None
    ) -> Sequential:
        """Add a step before ``index``; the model is checked, or left unchanged.

        Args:
            index: Where the step goes (negative counts from the end).
            module: The step's module or function.
            header: Its header; by default it rebinds what the step before wrote.

        Returns:
            The model.

        Raises:
            HeaderError: The step does not fit; the model is unchanged.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> h')])
            >>> model.insert(0, torch.nn.Dropout(0.1), 'x -> x')[0]
            Dropout(p=0.1, inplace=False)
        """
        item = module if header is None else (module, header)
        size = len(self)
        at = surgery.position(size, index)
        if at >= size:
            return self._append_items([item])
        return self._insert_items(at, [item])

    def extend(self, steps: Iterable[Any]) -> Sequential:
        """Append several ``module`` or ``(module, header)`` items at once.

        Args:
            steps: The items.

        Returns:
            The model.

        Raises:
            HeaderError: An item does not fit; the model is unchanged.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> h')])
            >>> len(model.extend([torch.nn.ReLU(), torch.nn.Identity()]))
            3
        """
        return self._append_items(list(steps))

    def _append_items(self, items: list[Any]) -> Sequential:
        """Check items at the end against the model's tail alone; build lazily.

        Falls back to a full check where the new steps could leave others dead (so that the
        warning comes at once).
        """
        with self._lock:
            spec = self._state.spec
            appended = surgery.append(spec, self._current_tail(), items, _taken(type(self)),
                                      owner=self)
            if appended is None:
                return self._insert_items(len(spec.steps), items)
            spec, decls, fns, tail = appended
            state = self._state
            modules, functions = dict(state.modules), dict(state.functions)
            _sort_children(decls, fns, modules, functions)  # copies: no pass over old steps
            if state.source is None:  # a stub already stands in: it reads the new state
                self._install(_State(spec, None, modules, functions, state.cls, tail))
            else:
                self._install(self._state_for(spec, None, modules, functions, tail=tail))
        return self

    def _current_tail(self) -> surgery.Tail:
        state = self._state
        if state.tail is not None:
            return state.tail
        tail = surgery.tail_of(self._ensure_plan())
        self._install(dataclasses.replace(self._state, tail=tail))  # under the lock
        return tail

    def _insert_items(self, index: int, items: list[Any]) -> Sequential:
        """Add ``items`` before step ``index``; check the whole model, then swap."""
        with self._lock:
            spec = self._state.spec
            self._commit_edit(surgery.insert(spec, self._fns(), index, items, _taken(type(self)),
                                             owner=self))
        return self

    def _commit_edit(self, edit: surgery.Edit) -> None:
        """Commit a checked edit (warning of steps whose results reach no output)."""
        _warn_dead(edit.plan, stacklevel=4)
        self._commit(edit.spec, edit.fns, edit.plan)

    # Surgery: graphseq._surgery works on the records, checked like the constructor ---------

    def replace(
        self, key: int | str, module: Callable[..., Any], header: str | None = None
    ) -> Sequential:
        """Put ``module`` in place of the step ``key`` names, keeping its name and header.

        Args:
            key: The step's name or index.
            module: The new module or function.
            header: A new header; by default the step's own (``None`` stays headerless).

        Returns:
            The model.

        Raises:
            HeaderError: The new child cannot take the header's arguments (or the new header
                does not fit); the model is unchanged.
            KeyError: No step has that name.
            IndexError: The index is out of range.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> x'), torch.nn.ReLU()])
            >>> model.replace('module_1', torch.nn.ELU())[1]
            ELU(alpha=1.0)
        """
        with self._lock:
            spec = self._state.spec
            edit = surgery.replace(spec, self._fns(), self._index(key), module, header,
                                   _taken(type(self)), owner=self)
            self._commit_edit(edit)
        return self

    def remove(self, key: int | str) -> Sequential:
        """Remove the step ``key`` names; refused while a later step reads what only it writes.

        Args:
            key: The step's name or index.

        Returns:
            The model.

        Raises:
            HeaderError: A later step or an output needs what only this step writes, or it
                is the last step; the model is unchanged.
            KeyError: No step has that name.
            IndexError: The index is out of range.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> x'),
            ...                          (torch.nn.Dropout(0.5), 'x -> x')])
            >>> len(model.remove('module_1'))
            1
        """
        with self._lock:
            spec = self._state.spec
            self._commit_edit(surgery.remove(spec, self._fns(), self._index(key)))
        return self

    def __delitem__(self, key: int | str) -> None:
        """``del model[key]``: :meth:`remove`."""
        self.remove(key)

    def submodel(
        self, outputs: str | Iterable[str], inputs: str | Iterable[str] | None = None
    ) -> Sequential:
        """A new model over the same children, holding only the steps ``outputs`` need.

        A name bound more than once means its last binding. By default the new model's
        inputs are this model's inputs that those steps read; given ``inputs``, it starts
        from those values instead (where the kept steps read them).

        Args:
            outputs: The values to return: ``'x1, x'`` or a list of names.
            inputs: The values to start from: ``'h, edge_index'`` or a list of names.

        Returns:
            A new model of this model's class, sharing its children.

        Raises:
            HeaderError: An output is not defined, cannot be computed from ``inputs`` (the
                missing names are listed), or needs no step.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> h'),
            ...                          (torch.nn.Linear(4, 2), 'h -> y')])
            >>> model.submodel('h').plan.outputs, model.submodel('y', inputs='h').plan.inputs.names
            (('h',), ('h',))
        """
        return self._derived(surgery.submodel(*self._records(), outputs, inputs))

    def clone(self, fn: Callable[[str, Any], Any]) -> Sequential:
        """A new model with the same headers and names, whose children are ``fn(name, child)``.

        Returning ``child`` shares it. This is Keras's ``clone_model(clone_function=...)``:
        swap every ``ReLU`` for ``ELU``, wrap each conv layer, or copy everything.

        Args:
            fn: Called once per step with its name and child; returns the new child, or
                ``(child, header)`` to give the step a new header.

        Returns:
            A new model of this model's class.

        Raises:
            HeaderError: A new child cannot take its step's arguments, or a new header does
                not fit the model.

        Example:
            >>> model = Sequential('x', [(torch.nn.Linear(4, 4), 'x -> x'), torch.nn.ReLU()])
            >>> elu = model.clone(lambda name, child: torch.nn.ELU()
            ...                   if isinstance(child, torch.nn.ReLU) else child)
            >>> elu[1], elu[0] is model[0]
            (ELU(alpha=1.0), True)
        """
        spec, _, fns = self._records()
        return self._derived(surgery.clone(spec, fns, fn, _taken(type(self))))


def _sort_children(decls: Iterable[StepDecl], fns: Iterable[Callable[..., Any]],
                   modules: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> None:
    """Put each step's callable into ``modules`` or ``functions`` by name."""
    for decl, fn in zip(decls, fns, strict=True):
        if isinstance(fn, torch.nn.Module):
            modules[decl.name] = fn
        else:
            functions[decl.name] = fn


def _carry_own_state(model: Sequential, derived: Sequential) -> None:
    """Give ``derived`` what a subclass's ``__init__`` set on ``model`` beside the steps.

    A derived model is made without calling ``__init__``; it shares the attributes,
    parameters, buffers and children that are not steps, and is in the same mode (train or
    eval), so that it runs like the original.
    """
    derived.training = model.training
    steps = set(model._names())
    for key, value in model.__dict__.items():
        if key not in _TAKEN and key not in steps:
            derived.__dict__[key] = value
    derived._parameters.update(model._parameters)
    derived._buffers.update(model._buffers)
    derived._non_persistent_buffers_set.update(model._non_persistent_buffers_set)
    derived._modules.update((k, v) for k, v in model._modules.items() if k not in steps)


def _warn_dead(plan: Plan, stacklevel: int = 3) -> None:
    if plan.dead:
        names = ", ".join(f"{i} ({plan.steps[i].name!r})" for i in plan.dead)
        warnings.warn(
            f"graphseq: the results of step(s) {names} reach no output of the model.",
            UserWarning,
            stacklevel=stacklevel,
        )


def _refresh(model: Sequential) -> Callable[..., Any]:
    return model._refresh()


def _explain_failure(
    model: Sequential, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Note the failing step on ``error`` (the forward installed now ran, or built, it)."""
    note: Callable[[BaseException], None] | None = getattr(type(model), "_graphseq_note", None)
    if note is not None:
        note(error)
    if isinstance(error, TypeError):
        _explain_call(model, error, args, kwargs)


def _explain_call(
    model: Sequential, error: TypeError, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Add the model's signature to a ``TypeError`` caused by how ``forward`` was called."""
    sig = inspect.signature(model.forward)
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        inputs = [p for p in sig.parameters.values() if p.kind != p.KEYWORD_ONLY]
        shown = plain_signature(sig.replace(parameters=inputs))  # not the trimming keywords
        error.add_note(f"graphseq: this model is called as forward{shown}")


def _user_class(cls: type) -> type:
    """The class the user instantiated, behind the generated per-instance class."""
    while "_graphseq_source" in cls.__dict__:
        cls = cls.__bases__[0]
    return cls


def _restore(cls: type[Sequential], attrs: dict[str, Any], spec: ModelSpec | None = None,
             plan: Plan | None = None) -> Sequential:
    """Unpickle: put the attributes back and install a forward (generated on first use).

    A pickle from before the state record holds ``_spec`` and ``_plan`` among the attributes.
    """
    if spec is None:
        spec, plan = attrs.pop("_spec"), attrs.pop("_plan", None)
        attrs.pop("_shapes", None)
    model = cls.__new__(cls)
    torch.nn.Module.__setstate__(model, attrs)
    functions = {d.name: attrs[d.name] for d in spec.steps if d.kind == "function"}
    model._install(model._state_for(spec, plan, model._modules, functions))
    return model


def build_model(
    input_args: str | InputArgs,
    modules: Any,
    outputs: str | Iterable[str] | None = None,
    namespace: Mapping[str, Any] | None = None,
    cls: type[Sequential] = Sequential,
) -> Sequential:
    """Build a model whose type names resolve in ``namespace`` only, not the caller's globals.

    Configs use it, so what they build does not depend on who calls them.

    Args:
        input_args: The model's input args (text or records).
        modules: A list or dict of steps.
        outputs: The output names, or ``None``.
        namespace: Where type names are looked up first.
        cls: The class to build.

    Returns:
        The model.

    Raises:
        HeaderError: The model cannot be built.

    Example:
        >>> build_model('x', [(torch.nn.ReLU(), 'x -> y')]).plan.outputs
        ('y',)
    """
    model = cls.__new__(cls)
    torch.nn.Module.__init__(model)
    spec, plan, fns = make_spec(input_args, modules, outputs, namespace or {}, taken=_taken(cls))
    _warn_dead(plan)
    model._commit(spec, fns, plan)
    return model


_TAKEN = (
    frozenset(dir(Sequential))
    | frozenset(vars(torch.nn.Module()))
    | {"_state", "_lock"}
)


@lru_cache(maxsize=64)
def _taken_by_class(cls: type) -> frozenset[str]:
    return _TAKEN | frozenset(dir(cls))


def _taken(cls: type) -> frozenset[str]:
    """Names a step cannot have: attributes of the model's class (and of any subclass)."""
    return _taken_by_class(_user_class(cls))
