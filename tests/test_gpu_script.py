"""bench/gpu.sh, the GPU check, runs: its dry run takes the same steps on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_every_step_and_writes_one_file(tmp_path: Path):
    out = tmp_path / "figures.txt"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--dry-run", "--out", str(out)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    text = out.read_text(encoding="utf-8")
    assert done.returncode == 0, text[-3000:]
    assert text.startswith("# graphseq GPU check") and "torch_geometric" in text.splitlines()[1]
    for name in ("CUDA tests", "bench_core --quick", "bench_scale --quick", "bench_export"):
        assert f"-- {name}" in text and f"## {name}" in text
    assert "FAILED" not in text and text.rstrip().endswith("every step ran")
    assert "tests collected" in text  # the CUDA tests, found
    assert "chain of 20 Identity children" in text and "| onnxruntime |" in text  # figures
    assert "training step, eager" in text


def test_the_gpu_check_refuses_what_it_does_not_know(tmp_path: Path):
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--fast"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage" in done.stderr
    assert not list(tmp_path.iterdir())  # no file written
