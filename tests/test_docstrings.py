"""The examples in the core modules' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

CORE = ["parsing", "signature", "sequential"]


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples_pass(name: str):
    module = importlib.import_module(f"graphseq.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
