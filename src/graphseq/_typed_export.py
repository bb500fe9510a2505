"""Export of typed models: their dicts by type become one named tensor each.

``torch.export`` traces a model with dict inputs, but a saved ``.pt2`` whose inputs (or
outputs) are dicts keyed by edge type cannot be called after ``torch.export.load``: the file
stores the tuple keys as lists, and torch's input check hashes them (``TypeError: unhashable
type: 'list'``). So a typed model is exported through :class:`TypedInputs`, whose inputs are
the leaves of its typed call, each named after its input and type (``x__paper``,
``edge_index__author__writes__paper``, :func:`graphseq.export.flat_inputs`), and whose
outputs are keyed by the types' names (``'author__writes__paper'``). Every tensor is then a
named input of the program, of the ONNX graph and of an AOTInductor package, with sizes of
its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from .hetero import Leaf, flat_leaves, key_name

if TYPE_CHECKING:
    from .export import ExampleInputs


def is_typed(inputs: ExampleInputs) -> bool:
    """Whether any of the bound inputs is a dict (by type): the call is a typed one."""
    return any(isinstance(v, Mapping) for v in inputs.values().values())


class TypedInputs(torch.nn.Module):
    """A typed model called with one named tensor per type: what export traces.

    Its ``forward`` takes the leaves by name (``x__paper=...``), puts the dicts back
    together, calls the model and returns its outputs with each dict keyed by the types'
    names. :func:`wrap` gives each wrapper a ``forward`` signature that names the leaves.
    """

    def __init__(self, model: torch.nn.Module, inputs: ExampleInputs) -> None:
        super().__init__()
        self.model = model
        self.leaves = flat_leaves(inputs.values())
        self.positional = inputs.names[:len(inputs.args)]

    def forward(self, *flat: Any, **named: Any) -> Any:
        """Call the model on the dicts that the named leaves make up.

        Args:
            *flat: the leaves, in order.
            **named: the leaves, by name.

        Returns:
            The model's outputs, dict keys made the types' names.
        """
        given = dict(zip((leaf.name for leaf in self.leaves), flat, strict=False))
        given.update(named)
        values: dict[str, Any] = {}
        for leaf in self.leaves:
            if leaf.key is None:
                values[leaf.input] = given[leaf.name]
            else:
                values.setdefault(leaf.input, {})[leaf.key] = given[leaf.name]
        args = [values[name] for name in self.positional]
        kwargs = {n: v for n, v in values.items() if n not in self.positional}
        return _named_keys(self.model(*args, **kwargs))


def _named_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key_name(k): _named_keys(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_named_keys(v) for v in value)
    return value


def wrap(model: torch.nn.Module, inputs: ExampleInputs) -> tuple[TypedInputs, dict[str, Any]]:
    """The module and the example inputs that export traces for a typed call.

    Args:
        model: the typed model.
        inputs: its bound example inputs (dicts by type).

    Returns:
        A :class:`TypedInputs` whose ``forward`` takes the leaves by name, and the leaves'
        example values by name.

    Example:
        >>> from graphseq import Sequential
        >>> from graphseq.export import bind_inputs
        >>> model = Sequential('x', [(torch.nn.Identity(), 'x -> x')])
        >>> module, flat = wrap(model, bind_inputs(model, {'a': torch.ones(2), 'b': torch.ones(3)}))
        >>> inspect.signature(module.forward), list(flat)
        (<Signature (x__a, x__b)>, ['x__a', 'x__b'])
    """
    leaves = flat_leaves(inputs.values())
    params = [inspect.Parameter(leaf.name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
              for leaf in leaves]

    def forward(self: TypedInputs, *flat: Any, **named: Any) -> Any:
        return TypedInputs.forward(self, *flat, **named)

    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params])
    forward.__doc__ = TypedInputs.forward.__doc__
    module = type("TypedInputs", (TypedInputs,), {"forward": forward, "__doc__": None})
    wrapper = module(model, inputs)
    return wrapper, {leaf.name: leaf.value for leaf in leaves}


def flat_dynamic_shapes(shapes: Mapping[str, Any], leaves: list[Leaf]) -> dict[str, Any]:
    """``dynamic_shapes`` by leaf name, from one keyed by leaf or by input (dicts by type).

    Args:
        shapes: torch's ``dynamic_shapes`` as a dict, by leaf name (``x__paper``) or by input
            name with a dict by type.
        leaves: the leaves of the typed call.

    Returns:
        ``dynamic_shapes`` keyed by leaf name (``None`` for a leaf not given: static).

    Raises:
        ValueError: a key is neither a leaf nor an input.

    Example:
        >>> leaves = flat_leaves({'x': {'a': torch.ones(2)}, 'n': 3})
        >>> flat_dynamic_shapes({'x': {'a': {0: 'N'}}, 'n': None}, leaves)
        {'x__a': {0: 'N'}, 'n': None}
    """
    by_name = {leaf.name: leaf for leaf in leaves}
    inputs = {leaf.input for leaf in leaves}
    unknown = [k for k in shapes if k not in by_name and k not in inputs]
    if unknown:
        raise ValueError(f"dynamic_shapes names {unknown[0]!r}, which is neither an input nor a "
                         f"typed input's part ({', '.join(by_name)})")
    flat = {}
    for leaf in leaves:
        if leaf.name in shapes:
            flat[leaf.name] = shapes[leaf.name]
        elif leaf.key is not None and isinstance(shapes.get(leaf.input), Mapping):
            flat[leaf.name] = shapes[leaf.input].get(leaf.key)
        else:
            flat[leaf.name] = shapes.get(leaf.input)
    return flat
