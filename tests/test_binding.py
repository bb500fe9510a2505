"""Binding facts read from code objects agree with ``inspect.signature`` on real callables."""

from __future__ import annotations

import functools
import inspect
import types

import pytest
import torch
import torch_geometric.nn as pyg_nn

from graphseq import HeaderError, Sequential
from graphseq._binding import Params, params_of

FIELDS = ("slots", "var_positional", "keyword_names", "var_keyword", "required")


def facts(params: Params | None) -> tuple[object, ...] | None:
    return None if params is None else tuple(getattr(params, f) for f in FIELDS)


def forwards() -> list[tuple[str, types.FunctionType]]:
    """Every module class of torch.nn and torch_geometric.nn whose ``forward`` is plain."""
    found = {}
    for namespace in (torch.nn, pyg_nn, pyg_nn.conv, pyg_nn.pool, pyg_nn.aggr, pyg_nn.norm):
        for name in dir(namespace):
            cls = getattr(namespace, name)
            if inspect.isclass(cls) and issubclass(cls, torch.nn.Module):
                forward = cls.__dict__.get("forward", getattr(cls, "forward", None))
                if isinstance(forward, types.FunctionType):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = forward
    return sorted(found.items())


FORWARDS = forwards()


def test_many_real_forwards_are_compared():
    assert len(FORWARDS) > 150


@pytest.mark.parametrize(("name", "forward"), FORWARDS, ids=[n for n, _ in FORWARDS])
def test_a_class_forward_read_from_its_code_matches_inspect(name, forward):
    fast = Params.of_code(forward, skip_first=True)
    sig = inspect.signature(forward)
    expected = Params.of(sig.replace(parameters=list(sig.parameters.values())[1:]))
    if fast is None:  # inspect reads more than the code: the slow path is taken
        assert hasattr(forward, "__wrapped__") or forward.__code__.co_argcount == 0
        return
    assert facts(fast) == facts(expected)
    assert str(fast.sig) == str(expected.sig)


def f_plain(x, edge_index, edge_weight=None): ...
def f_posonly(x, /, k=1, *args, w, **kw): ...
def f_kwonly(x, *, a, b=2): ...
def f_varargs(*xs): ...
def f_all_defaults(x=1, y=2): ...
def f_nothing(): ...


@functools.wraps(f_plain)
def f_wrapped(*args, **kwargs): ...


def f_signature(*args): ...


f_signature.__signature__ = inspect.signature(f_kwonly)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fn",
    [f_plain, f_posonly, f_kwonly, f_varargs, f_all_defaults, f_nothing, f_wrapped, f_signature,
     lambda x, k=2: x, lambda *a, **k: a],
)
def test_a_function_read_from_its_code_matches_inspect(fn):
    fast = Params.of_code(fn)
    expected = Params.of(inspect.signature(fn))
    if fast is None:
        assert fn in (f_wrapped, f_signature)  # inspect follows these; so does params_of
        assert facts(params_of(fn)) == facts(expected)
        return
    assert facts(fast) == facts(expected)
    assert str(fast.sig) == str(expected.sig)


class StaticForward(torch.nn.Module):
    @staticmethod
    def forward(x, y):
        return x + y


class ArgsForward(torch.nn.Module):
    def forward(*args):  # ``self`` arrives in ``args``
        return args[1]


@pytest.mark.parametrize("module", [StaticForward(), ArgsForward(), torch.nn.ReLU(),
                                    pyg_nn.GCNConv(4, 4)])
def test_params_of_a_module_match_inspect_of_its_bound_forward(module):
    assert facts(params_of(module)) == facts(Params.of(inspect.signature(module.forward)))


def test_a_binding_error_still_shows_the_full_signature():
    with pytest.raises(HeaderError) as info:
        Sequential("x, edge_index",
                   [(pyg_nn.GCNConv(4, 4), "x, edge_index, edge_index, x, x -> y")])
    assert "GCNConv is called as GCNConv(x, edge_index, edge_weight=None)" in str(info.value)


def test_one_function_as_a_step_and_then_as_a_class_forward_binds_each_way():
    def fwd(self, a):
        return a

    step = Sequential("x", [(fwd, "x, x -> y")])  # called whole: self is the first x
    assert torch.equal(step(torch.ones(1)), torch.ones(1))

    class Module(torch.nn.Module):
        forward = fwd

    model = Sequential("x", [(Module(), "x -> y")])  # a bound forward: self is skipped
    assert torch.equal(model(torch.ones(1)), torch.ones(1))
