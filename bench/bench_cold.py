"""Cold builds against the first release: a new architecture with every graphseq cache cleared.

Run: python bench/bench_cold.py [--rounds 5] [--builds 1000] [--base fec4f4a]

The first release (0.1.0, the repository's first commit) had no caches, so each of its builds
was a cold build. This script extracts that commit's ``src`` with ``git archive`` into a
temporary folder, then alternates processes of the old and the current code, each timing
``--builds`` builds of bench_core's two cases after clearing graphseq's caches. It prints,
over the processes, the median of each one's median build and of its fastest 10% (the
figure least disturbed by other programs), and the ratio current / 0.1.0 (below 1 is faster).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_WORKER = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[3])
import torch
from torch import nn
import graphseq
from bench_core import _gcn_children, _gcn_steps
try:
    from bench_core import clear_graphseq_caches as clear, internal
    internal("cache")  # the first release has no caches to clear
except ImportError:
    def clear():
        pass
gcn = _gcn_children()
chain = [nn.Identity() for _ in range(20)]
cases = {
    "a": lambda: graphseq.Sequential("x, edge_index", _gcn_steps(gcn)),
    "b": lambda: graphseq.Sequential("x", [(chain[0], "x -> x"), *chain[1:]]),
}
for name, build in cases.items():
    times = []
    for _ in range(int(sys.argv[2])):
        clear()
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    times.sort()
    print(name, statistics.median(times), times[len(times) // 10])
"""


def _extract(commit: str, into: Path) -> Path:
    """``commit``'s ``src`` folder, extracted under ``into``."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _round(src: Path, builds: int) -> dict[str, tuple[float, float]]:
    """One process's median and 10th-percentile build time per case, in seconds."""
    out = subprocess.run([sys.executable, "-c", _WORKER, str(src), str(builds),
                          str(ROOT / "bench")], check=True, capture_output=True, text=True)
    rows = (line.split() for line in out.stdout.splitlines())
    return {name: (float(median), float(p10)) for name, median, p10 in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="processes per contender")
    parser.add_argument("--builds", type=int, default=1000, help="cold builds per process")
    parser.add_argument("--base", default="fec4f4a", help="the commit to compare against")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        old_src = _extract(opts.base, Path(scratch))
        results: dict[str, dict[str, list[tuple[float, float]]]] = {"0.1.0": {}, "current": {}}
        for _ in range(opts.rounds):  # alternate, so drift hits both alike
            for label, src in (("0.1.0", old_src), ("current", ROOT / "src")):
                for case, value in _round(src, opts.builds).items():
                    results[label].setdefault(case, []).append(value)
    names = {"a": "(a) 5-step GCN", "b": "(b) chain of 20 Identity"}
    print(f"cold build in ms, median over {opts.rounds} processes of {opts.builds} builds each")
    print(f"  {'case':<26}{'statistic':<12}{'0.1.0':>8}{'current':>9}{'current/0.1.0':>15}")
    for case, name in names.items():
        for i, statistic in enumerate(("median", "fastest 10%")):
            old = statistics.median(r[i] for r in results["0.1.0"][case])
            new = statistics.median(r[i] for r in results["current"][case])
            print(f"  {name if i == 0 else '':<26}{statistic:<12}{old * 1e3:>8.3f}"
                  f"{new * 1e3:>9.3f}{new / old:>14.2f}x")


if __name__ == "__main__":
    main()
