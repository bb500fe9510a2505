"""Describing hand-built modules: recover a module's constructor arguments, then prove them.

``GCNConv(34, 16)`` made by hand carries no record of how it was made. :func:`recover` reads
the arguments back from the module's attributes (``in_channels``, ``cached``, ``bias``...),
guided by the class's ``__init__`` signature, and then *verifies* them: it builds the class
again from what it found and compares the two modules

* by ``repr`` and by every public plain attribute (numbers, strings, flags), recursively;
* by ``state_dict``: the same keys, shapes and dtypes;
* by output: a probe input is run through a copy of each after the weights are copied.

Only a description that passes all three is returned. Anything else raises
:class:`Unrecoverable`, saying what is missing: an argument that is a module or a tensor, one
stored under no attribute of its name, or the comparison that failed. Nothing is guessed:
a wrong description is never written.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch

from .. import registry
from .records import show

__all__ = ["Unrecoverable", "recover"]

_PLAIN = (bool, int, float, str, type(None))
_PASSED_ON = ("aggr", "flow", "node_dim", "decomposed_layers")
"""MessagePassing's own arguments, which PyG's layers pass on through ``**kwargs``."""
_SKIPPED = {"device", "dtype"}  # a factory keyword, not part of a layer's architecture
_PROBE_NODES = 7


class Unrecoverable(ValueError):
    """A module whose constructor arguments cannot be recovered and verified; says why."""


def recover(module: torch.nn.Module) -> tuple[str, list[Any], dict[str, Any]]:
    """How to make ``module`` again, as ``(registered name, args, kwargs)``, verified.

    Args:
        module: A module built by hand, such as ``GCNConv(34, 16)``.

    Returns:
        The registered name of its class, and plain-data positional and keyword arguments
        (keywords only where they differ from the default).

    Raises:
        Unrecoverable: An argument cannot be read back, or the module rebuilt from what was
            read back differs from ``module``; the message says which and how.

    Example:
        >>> from torch_geometric.nn import GCNConv
        >>> from graphseq.config.recover import recover
        >>> recover(GCNConv(34, 16, cached=True))
        ('GCNConv', [34, 16], {'cached': True})
    """
    cls = type(module)
    name = registry.name_of(cls)
    if name is None:
        raise Unrecoverable(
            f"its class {cls.__module__}.{cls.__qualname__} is not in graphseq.registry; "
            f"register it (graphseq.registry.register({cls.__name__!r}, {cls.__name__})) or "
            "make it with graphseq.registry.build"
        )
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        raise Unrecoverable(f"{name}'s constructor has no readable signature") from None
    named = [p for p in signature.parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not named and signature.parameters:
        raise Unrecoverable(
            f"{name}'s constructor takes only *args and **kwargs, so its arguments cannot be "
            "read back by name; make it with graphseq.registry.build"
        )
    args, kwargs = _read_arguments(module, name, signature)
    candidate = _rebuild(cls, name, args, kwargs)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        for key in _PASSED_ON:  # aggr='max' given to GCNConv lands in MessagePassing
            mine, theirs = getattr(module, key, None), getattr(candidate, key, None)
            if _plain(mine) and mine != theirs:
                kwargs[key] = _as_data(mine)
        if kwargs.keys() & _PASSED_ON:
            candidate = _rebuild(cls, name, args, kwargs)
    kwargs, candidate = _fewest(cls, args, kwargs, candidate)
    _verify(module, candidate, name, _tuples(module, signature))
    return name, args, kwargs


def _fewest(
    cls: type, args: list[Any], kwargs: dict[str, Any], candidate: torch.nn.Module
) -> tuple[dict[str, Any], torch.nn.Module]:
    """Leave out each keyword whose default builds the same module (``add_self_loops=True``
    where the default ``None`` means ``True``); the result is verified afterwards."""
    for key in list(kwargs):
        trial = {k: v for k, v in kwargs.items() if k != key}
        try:
            other = cls(*copy.deepcopy(args), **copy.deepcopy(trial))
        except Exception:  # the keyword is needed
            continue
        if repr(other) == repr(candidate) and all(
            _same(a, b) for _, a, b in _attribute_pairs(candidate, other)
        ) and _shapes(other) == _shapes(candidate):
            kwargs, candidate = trial, other
    return kwargs, candidate


def _shapes(module: torch.nn.Module) -> list[tuple[str, Any, Any]]:
    return [
        (k, None if torch.nn.parameter.is_lazy(v) else v.shape, v.dtype)
        for k, v in module.state_dict(keep_vars=True).items()
    ]


def _tuples(module: torch.nn.Module, signature: inspect.Signature) -> list[str]:
    """The arguments the module holds as tuples (a config writes them as lists)."""
    return [
        f"{p.name}={getattr(module, p.name)!r}" for p in signature.parameters.values()
        if isinstance(getattr(module, p.name, None), tuple)
    ]


def _read_arguments(
    module: torch.nn.Module, name: str, signature: inspect.Signature
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as the module's attributes hold them: required ones positional."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in _SKIPPED:
            positional = positional and param.kind is not param.VAR_POSITIONAL
            continue
        value = _argument(module, name, param)
        required = param.default is param.empty
        if required and positional and param.kind is not param.KEYWORD_ONLY:
            args.append(value)
            continue
        positional = False
        if required or not _same(value, param.default):
            kwargs[param.name] = value
    return args, kwargs


def _argument(module: torch.nn.Module, name: str, param: inspect.Parameter) -> Any:
    """One argument's value, read from the attribute of its name."""
    missing = object()
    value = getattr(module, param.name, missing)
    default = param.default
    if value is missing:
        if default is param.empty:
            raise Unrecoverable(
                f"{name}'s argument {param.name!r} has no default and is stored under no "
                f"attribute {param.name!r}, so it cannot be read back"
            )
        return _as_data(default) if _plain(default) else default
    if isinstance(default, bool) and (value is None or isinstance(value, torch.Tensor)):
        return value is not None  # bias=True is kept as a parameter, bias=False as None
    if isinstance(value, torch.Size):
        value = list(value)
    if not _plain(value) and default is not param.empty and _plain(default):
        # The attribute is what the argument made (act='relu' kept as ReLU()): try the
        # default; the rebuilt module is compared module by module, so a wrong try is refused.
        return _as_data(default)
    if not _plain(value):
        what = "a module" if isinstance(value, torch.nn.Module) else type(value).__name__
        raise Unrecoverable(
            f"{name}'s argument {param.name!r} is {what} ({show(value, 40)}), not plain data "
            "a config can hold"
        )
    return _as_data(value)


def _rebuild(cls: type, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return cls(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except Exception as error:  # a constructor may raise anything
        raise Unrecoverable(
            f"{_call(name, args, kwargs)}, as read back, cannot be built: "
            f"{type(error).__name__}: {show(str(error), 120)}"
        ) from None


def _verify(
    module: torch.nn.Module, candidate: torch.nn.Module, name: str, tuples: list[str]
) -> None:
    """Refuse ``candidate`` unless it matches ``module`` in structure, weights and output."""
    if _is_lazy(candidate) and not _is_lazy(module):
        # SAGEConv(-1, 16) after its first call: loading the weights initializes the rebuilt
        # one as the first call did the original (PyG's lazy Linear sets in_channels).
        candidate = copy.deepcopy(candidate)
        try:
            candidate.load_state_dict(module.state_dict())
        except Exception as error:
            raise Unrecoverable(
                f"rebuilt, it is lazy and does not take the weights: {type(error).__name__}"
            ) from None
    if repr(candidate) != repr(module):
        hint = ""
        if tuples:
            hint = (f"; a config holds lists, not tuples, and {name} keeps what it is given "
                    f"({', '.join(tuples)}): build it with lists to describe it")
        raise Unrecoverable(
            f"rebuilt from the arguments read back, it shows {show(repr(candidate), 80)}, "
            f"not {show(repr(module), 80)}{hint}"
        )
    for path, mine, theirs in _attribute_pairs(module, candidate):
        if not _same(mine, theirs):
            found = "missing" if theirs is _MISSING else show(theirs, 40)
            if path.endswith("(its class)"):
                raise Unrecoverable(
                    f"rebuilt, its {path[:-12] or 'module'} is a {theirs}, not a {mine}: the "
                    "argument that chose it is not kept in a form a config can hold"
                )
            raise Unrecoverable(
                f"rebuilt, its attribute {path} is {found}, not {show(mine, 40)}; it is set "
                "from no argument of that name"
            )
    mine_state, their_state = module.state_dict(), candidate.state_dict()
    if list(mine_state) != list(their_state):
        extra = sorted(set(mine_state) ^ set(their_state))[:3]
        raise Unrecoverable(f"rebuilt, its state_dict keys differ ({', '.join(extra)})")
    if _is_lazy(module):
        return  # not initialized: no shapes or weights yet, so nothing more to compare
    for key, tensor in mine_state.items():
        other = their_state[key]
        if tensor.shape != other.shape or tensor.dtype != other.dtype:
            raise Unrecoverable(
                f"rebuilt, its {key!r} is {tuple(other.shape)} {other.dtype}, not "
                f"{tuple(tensor.shape)} {tensor.dtype} (a dtype or device given at "
                "construction is not part of a config: convert the model after building; "
                "graphseq.save keeps a converted model's dtype)"
            )
    _compare_outputs(module, candidate, name)


def _attribute_pairs(a: torch.nn.Module, b: torch.nn.Module) -> Iterator[tuple[str, Any, Any]]:
    """The public plain attributes of ``a`` and its submodules, with ``b``'s at each path."""
    pairs = zip(a.named_modules(remove_duplicate=False), b.named_modules(remove_duplicate=False),
                strict=False)
    for (path, mine), (_, theirs) in pairs:
        if type(mine) is not type(theirs):
            yield f"{path} (its class)", type(mine).__name__, type(theirs).__name__
            continue
        for key, value in vars(mine).items():
            if key.startswith("_") or key == "training" or not _plain(value):
                continue
            yield f"{path}.{key}" if path else key, value, vars(theirs).get(key, _MISSING)


_MISSING = object()


def _compare_outputs(module: torch.nn.Module, candidate: torch.nn.Module, name: str) -> None:
    """Run a probe through copies of both, with ``module``'s weights in both: same output."""
    mine, theirs = copy.deepcopy(module).eval(), copy.deepcopy(candidate).eval()
    theirs.load_state_dict(mine.state_dict())
    with torch.no_grad(), torch.random.fork_rng():  # the caller's random state is kept
        probe, want = _first_probe(mine)
        if probe is None:
            raise Unrecoverable(
                f"no probe input runs {name}, so the arguments read back cannot be checked "
                "on an output"
            )
        torch.manual_seed(1)
        try:
            got = theirs(*probe)
        except Exception as error:
            raise Unrecoverable(
                f"rebuilt, it fails on a probe the original runs: {type(error).__name__}"
            ) from None
    if not _equal(want, got):
        raise Unrecoverable("rebuilt with the same weights, it gives another output on a probe")


def _first_probe(module: torch.nn.Module) -> tuple[tuple[Any, ...] | None, Any]:
    """The first probe input ``module`` runs (seeded), and its output."""
    for make in _probes(module):
        torch.manual_seed(0)
        try:
            probe = make()
            torch.manual_seed(1)
            return probe, module(*probe)
        except Exception:  # this probe does not fit the module: try the next
            continue
    return None, None


def _probes(module: torch.nn.Module) -> Iterator[Callable[[], tuple[Any, ...]]]:
    """Probe inputs to try, from the sizes the module's attributes name."""
    try:
        params = [
            p for p in inspect.signature(module.forward).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    sizes: list[int] = []
    for part in module.modules():  # the layer's own sizes first, then its children's
        for key in ("in_channels", "in_features", "num_features", "embed_dim", "d_model",
                    "input_size", "in1_features", "channels", "hidden_channels",
                    "num_channels"):
            value = getattr(part, key, None)
            if isinstance(value, tuple | list) and value and isinstance(value[0], int):
                value = value[0]
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                sizes.append(value)
    shape = getattr(module, "normalized_shape", None)
    trailing = tuple(shape) if isinstance(shape, tuple | list) else ()
    sizes += [6, 4]
    graph = "edge_index" in [p.name for p in params]
    count = max(1, len(params))
    num_embeddings = getattr(module, "num_embeddings", None)
    if isinstance(num_embeddings, int):
        yield lambda: (torch.arange(5) % num_embeddings,) * count
    dense = "adj" in [p.name for p in params]
    for size in dict.fromkeys(sizes):
        if graph:
            yield partial(_graph_probe, module, size, params)
        if dense:  # PyG's dense layers: x [batch, nodes, channels], adj [batch, nodes, nodes]
            yield partial(_dense_probe, size, params)
        if trailing:
            yield partial(_repeat, (3, *trailing), count)
        for rank in ((5, size), (2, size, 6), (2, size, 6, 6), (2, size, 4, 4, 4), (2, 3, size)):
            yield partial(_repeat, rank, count)


def _repeat(shape: tuple[int, ...], count: int) -> tuple[torch.Tensor, ...]:
    """One random tensor, passed as each of ``count`` inputs."""
    return (torch.randn(*shape),) * count


def _dense_probe(size: int, params: list[inspect.Parameter]) -> tuple[Any, ...]:
    x = torch.randn(2, _PROBE_NODES, size)
    adj = (torch.rand(2, _PROBE_NODES, _PROBE_NODES) > 0.5).float()
    return tuple(adj if p.name == "adj" else x for p in params)


def _graph_probe(module: Any, size: int, params: list[inspect.Parameter]) -> tuple[Any, ...]:
    """``x`` (a pair for bipartite channels) and a small ring with chords for a PyG layer."""
    n = _PROBE_NODES
    src = torch.arange(n)
    edge_index = torch.stack([torch.cat([src, src]), torch.cat([(src + 1) % n, (src + 3) % n])])
    channels = getattr(module, "in_channels", size)
    if isinstance(channels, tuple | list) and all(isinstance(c, int) and c > 0 for c in channels):
        x: Any = (torch.randn(n, channels[0]), torch.randn(n, channels[1]))
    else:
        x = torch.randn(n, channels if isinstance(channels, int) and channels > 0 else size)
    out: list[Any] = []
    for param in params:
        out.append(edge_index if param.name == "edge_index" else x)
    return tuple(out)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            torch.equal(a, b) or torch.allclose(a, b, rtol=1e-6, atol=1e-7, equal_nan=True)
        )
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and (a is b or a == b)


def _is_lazy(module: torch.nn.Module) -> bool:
    return any(torch.nn.parameter.is_lazy(p) for p in module.parameters()) or any(
        torch.nn.parameter.is_lazy(b) for b in module.buffers()
    )


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return not isinstance(value, float) or value == value  # NaN is not config data
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _as_data(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_as_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as config data: ``1`` is not ``True``, a tuple is its list."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b) if _plain(a) and _plain(b) else a is b


def _call(name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
