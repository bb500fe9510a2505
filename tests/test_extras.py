"""A feature whose optional dependency is missing names the extra that installs it."""

from __future__ import annotations

import sys

import pytest
import torch

import graphseq
from graphseq._extras import need
from graphseq.cli import main


def test_need_names_the_extra_and_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # what Python does for a missing package
    with pytest.raises(ModuleNotFoundError) as info:
        need("pyg", "tqdm", "graphseq demo")
    message = str(info.value)
    assert "graphseq demo needs 'tqdm'" in message
    assert "pip install 'graphseq[pyg]'" in message
    assert info.value.name == "tqdm"


def test_demo_without_the_pyg_extra_says_which_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path / "demo")]) == 1
    err = capsys.readouterr().err
    assert "'graphseq[pyg]'" in err and "tqdm" in err
    assert not (tmp_path / "demo").exists()  # nothing was written


def test_onnx_export_without_the_export_extra_says_which_extra(monkeypatch, tmp_path):
    model = graphseq.Sequential("x", [(torch.nn.Linear(3, 2), "x -> y")])
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ModuleNotFoundError, match=r"graphseq\[export\]"):
        model.export(tmp_path / "m.onnx", torch.randn(5, 3))
    assert not (tmp_path / "m.onnx").exists()
