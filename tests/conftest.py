"""Shared fixtures: the ``device`` every device-aware test runs on; PyG's class left as found."""

from __future__ import annotations

import warnings

import pytest
import torch

# PyG calls the deprecated ``torch.jit.script`` while it is imported, and torch attributes the
# warning to itself, not to torch_geometric, so pyproject's filter misses it. Import PyG once
# here, with that one warning silenced, before ``filterwarnings = error`` applies.
with warnings.catch_warnings():
    # (a DeprecationWarning in torch 2.13, a FutureWarning from 2.14)
    warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
    warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
    import torch_geometric.nn  # noqa: F401

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available on this machine"
        ),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each test that takes ``device`` runs on the CPU, and on CUDA when a GPU is present."""
    return torch.device(request.param)



_REFERENCE = torch_geometric.nn.Sequential  # a class from PyG 2.6; 2.5's makes a class per call
_REFERENCE_FORWARD = getattr(_REFERENCE, "forward", None)


@pytest.fixture(autouse=True)
def _reference_forward_of_its_own():
    """Each test starts with PyG's own ``Sequential.forward`` on PyG's class.

    PyG assigns every generated ``forward`` to its ``Sequential`` class, and a model whose
    generated module fails to import (the caller is no module: a docs page run with ``exec``)
    silently keeps that class attribute, so it ran the last model another test had built.
    """
    yield
    if isinstance(_REFERENCE, type):
        _REFERENCE.forward = _REFERENCE_FORWARD
