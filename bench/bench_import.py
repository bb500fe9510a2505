"""Import time: ``import graphseq`` against ``import torch``, and ``graphseq --help``'s wall time.

Run: python bench/bench_import.py [--rounds 3]

Each figure is taken in a fresh process; the contenders alternate, and each one's best of the
rounds is kept (the machine is shared: the best is the least disturbed). The import times are
measured inside the process (``time.perf_counter`` around the import statement). ``--help`` is
the whole process, from start to exit, against a process that only imports torch. "After
torch" is ``import graphseq`` in a process that has already imported torch (graphseq's own
modules alone, the least noisy figure). Also lists what ``import graphseq`` adds to
``sys.modules`` beyond ``import torch`` that is heavy (torch._dynamo, torch_geometric, yaml...).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch._dynamo", "torch._inductor", "torch_geometric", "yaml", "onnx", "onnxruntime",
         "onnxscript", "safetensors", "torch.onnx", "sympy")

_IMPORT = """
import sys, time
start = time.perf_counter()
import {name}
print(time.perf_counter() - start)
"""

_AFTER_TORCH = """
import time
import torch
start = time.perf_counter()
import graphseq
print(time.perf_counter() - start)
"""

_ADDED = """
import sys
import torch
before = set(sys.modules)
import graphseq
print(" ".join(sorted(m for m in {heavy!r} if m in sys.modules and m not in before)))
"""


def _env(src: Path = ROOT / "src") -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


def import_time(name: str, src: Path = ROOT / "src") -> float:
    out = subprocess.run([sys.executable, "-c", _IMPORT.format(name=name)], check=True,
                         capture_output=True, text=True, env=_env(src))
    return float(out.stdout.split()[-1])


def after_torch_time() -> float:
    out = subprocess.run([sys.executable, "-c", _AFTER_TORCH], check=True,
                         capture_output=True, text=True, env=_env())
    return float(out.stdout.split()[-1])


def process_time(*argv: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], check=True, capture_output=True, env=_env())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout's src folder, timed alike (import graphseq)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpu; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print("Timings are noisy: this machine is shared with other jobs while it runs.")
    best = {"import torch": float("inf"), "import graphseq": float("inf"),
            "python -c 'import torch' (process)": float("inf"),
            "graphseq --help (process)": float("inf"),
            "import graphseq after torch": float("inf")}
    for _ in range(args.rounds):
        best["import torch"] = min(best["import torch"], import_time("torch"))
        best["import graphseq"] = min(best["import graphseq"], import_time("graphseq"))
        for label, argv in (("python -c 'import torch' (process)", ("-c", "import torch")),
                            ("graphseq --help (process)", ("-m", "graphseq", "--help"))):
            best[label] = min(best[label], process_time(*argv))
        best["import graphseq after torch"] = min(best["import graphseq after torch"],
                                                  after_torch_time())
        if args.before is not None:
            label = f"import graphseq from {args.before}"
            best[label] = min(best.get(label, float("inf")), import_time("graphseq", args.before))
    torch_t = best["import torch"]
    torch_process = best["python -c 'import torch' (process)"]
    print(f"\nbest of {args.rounds} fresh processes, alternating")
    for label, value in best.items():
        extra = ""
        if label == "import graphseq" or label.endswith(str(args.before)):
            extra = f"{value - torch_t:+8.3f} s vs import torch"
        elif label == "graphseq --help (process)":
            extra = f"{value - torch_process:+8.3f} s vs the import torch process"
        print(f"  {label:<44}{value:8.3f} s  {extra}")
    added = subprocess.run([sys.executable, "-c", _ADDED.format(heavy=HEAVY)], check=True,
                           capture_output=True, text=True, env=_env()).stdout.split()
    print(f"  heavy modules import graphseq adds beyond import torch: {', '.join(added) or 'none'}")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
