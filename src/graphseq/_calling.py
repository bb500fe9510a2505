"""Calling a model on a PyG ``Data`` or ``HeteroData``: each input is read by its name."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ._signature import Signature


def inputs_from(signature: Signature, data: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The model's inputs by name, from ``overrides`` first, then ``data``, then the defaults.

    Args:
        signature: The model's signature.
        data: A ``Data``, ``HeteroData`` or mapping.
        overrides: Inputs given by keyword.

    Returns:
        Keyword arguments for the model's ``forward``.

    Example:
        >>> import graphseq, torch
        >>> model = graphseq.Sequential('x, k: int = 2', [(torch.mul, 'x, k -> y')])
        >>> sorted(inputs_from(model.signature, {'x': torch.ones(1)}, {}))
        ['x']
    """
    unknown = [name for name in overrides if name not in signature.param_dict]
    if unknown:
        raise TypeError(
            f"call_on() got {unknown[0]!r}, which is not one of the model's inputs "
            f"({', '.join(signature.param_dict)})."
        )
    found: dict[str, Any] = {}
    missing = []
    for name, param in signature.param_dict.items():
        if name in overrides:
            found[name] = overrides[name]
        elif (value := _read(data, name)) is not _MISSING:
            found[name] = value
        elif param.default is inspect.Parameter.empty:
            missing.append(name)
    if missing:
        keys = _keys(data)
        has = f" (it has {', '.join(keys)})" if keys else ""
        raise TypeError(
            f"call_on(): the model's input {missing[0]!r} is not an attribute of the "
            f"{type(data).__name__}{has}. Pass it by name: "
            f"model.call_on(data, {missing[0]}=...)."
        )
    return found


_MISSING = object()


def _read(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name, _MISSING)
    keys = getattr(data, "keys", None)
    if callable(keys) and name in keys():  # a Data's stored attributes (x, edge_index, ...)
        return data[name]
    if isinstance(getattr(type(data), name, None), property):  # num_nodes, batch, ...
        value = getattr(data, name)
        return _MISSING if value is None else value  # Data.edge_attr is None when absent
    collect = getattr(data, "collect", None)  # HeteroData: x_dict, edge_index_dict, ...
    if name.endswith("_dict") and callable(collect):
        found = collect(name.removesuffix("_dict"))
        if found:
            return found
    return _MISSING


def _keys(data: Any) -> list[str]:
    keys = data.keys() if callable(getattr(data, "keys", None)) else vars(data)
    return sorted(str(k) for k in keys)
