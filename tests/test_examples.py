"""Every script in ``examples/`` runs, with few epochs, and reports a sensible metric."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# script -> extra arguments that keep the run short
RUNS = {
    "karate_node_classification.py": ["--epochs", "20"],
    "graph_classification_jk.py": ["--epochs", "2", "--graphs", "120"],
    "hetero_graph_level.py": ["--epochs", "5", "--graphs", "120"],
    "hetero_to_hetero.py": ["--epochs", "5"],
    "train_from_config.py": ["--epochs", "20"],
}
OWNED_ELSEWHERE = {"ddp_train.py", "large_graph.py"}  # each has its own test
HELPERS = {"ddp_setup.py"}  # imported by those two, run with them


def test_every_example_is_run_here() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - OWNED_ELSEWHERE - HELPERS
    assert scripts == set(RUNS)


def metric(stdout: str, name: str) -> float:
    found = re.findall(rf"^{name}: ([\d.]+)$", stdout, flags=re.MULTILINE)
    assert found, f"no '{name}:' line in:\n{stdout}"
    return float(found[-1])


@pytest.mark.parametrize("script", sorted(RUNS))
def test_example_runs_and_learns(script: str, tmp_path: Path) -> None:
    draws = "--draw" in (EXAMPLES / script).read_text() and shutil.which("dot") is not None
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *RUNS[script], *(["--draw", "m.svg"] * draws)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("Sequential(")  # each prints its graphseq model first
    assert metric(done.stdout, "final loss") < metric(done.stdout, "first loss")
    assert 0.0 <= metric(done.stdout, "test accuracy") <= 1.0
    if draws:
        assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")
    if script == "hetero_to_hetero.py":
        assert "PyG's to_hetero with this checkpoint: same outputs" in done.stdout
    if script == "train_from_config.py":
        assert "round trip through to_config(): same outputs" in done.stdout
