"""Every python block in the README runs, in order, in one namespace, as a reader would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_readme_has_python_examples():
    assert len(python_blocks(README.read_text())) >= 5


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(README.read_text())):
        code = compile(block, f"README.md python block {number}", "exec")
        exec(code, namespace)  # the README's own examples, as a reader would run them
