"""module_from_template renders a Jinja2 file into an in-memory module, writing nothing."""

from __future__ import annotations

import inspect
import os
import sys
import uuid
from pathlib import Path

import pytest

from graphseq import module_from_template


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")}


def test_template_becomes_a_cached_module_and_no_file_is_written(tmp_path, monkeypatch):
    template = tmp_path / "tpl" / "adder.jinja"
    template.parent.mkdir()
    template.write_text(
        "def add(a, b):\n    return a + b + {{ offset }}\n"
        "{% for name in names %}\n{{ name }} = {{ loop.index }}\n{% endfor %}\n"
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.chdir(scratch)
    name = f"graphseq_test_{uuid.uuid4().hex}"
    before = _files(tmp_path)
    try:
        module = module_from_template(name, str(template), "seq", offset=10, names=["a", "b"])
        assert module.add(1, 2) == 13 and (module.a, module.b) == (1, 2)
        assert sys.modules[name] is module
        again = module_from_template(name, str(template), "sequential", offset=99, names=[])
        assert again is module  # cached by name, not rendered again
        assert "return a + b + 10" in inspect.getsource(module.add)
    finally:
        sys.modules.pop(name, None)
    assert _files(tmp_path) == before
    assert os.listdir(scratch) == []


def test_template_errors_leave_nothing_registered(tmp_path):
    template = tmp_path / "broken.jinja"
    template.write_text("def broken(:\n    pass\n")
    name = f"graphseq_test_{uuid.uuid4().hex}"
    with pytest.raises(SyntaxError):
        module_from_template(name, str(template), "sequential")
    assert name not in sys.modules


def test_undefined_template_variables_render_empty_as_in_the_reference(tmp_path):
    template = tmp_path / "optional.jinja"
    template.write_text("value = [{{ missing }}]\n")
    name = f"graphseq_test_{uuid.uuid4().hex}"
    try:
        assert module_from_template(name, str(template), "x").value == []
    finally:
        sys.modules.pop(name, None)
