"""Shared fixtures: the ``device`` every device-aware test runs on, fresh ``random`` state."""

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


@pytest.fixture(autouse=True)
def _unseeded_random():
    """Each test starts from fresh ``random`` state, whatever an earlier test seeded.

    PyG's ``Sequential`` names its generated module with ``random.randrange`` and returns any
    module of that name already loaded, so after ``random.seed(0)`` in one test (a docs page,
    an example, Hypothesis) a reference model built in another can get an earlier model's
    ``forward``. Tests that need a seed set their own.
    """
    import random

    random.seed()
    yield
