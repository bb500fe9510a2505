"""Parser and surgery figures for issue 16: build time by number of inputs (item 20), and
derived models made while another thread edits (item 3).

Run: ``PYTHONPATH=src python bench/bench_parser.py [inputs|threads]``. Prints ratios measured
in the same run; the machine is shared, so re-run when ``uptime`` is low.
"""

from __future__ import annotations

import sys
import threading
import time

import torch

import graphseq


def build_seconds(n: int) -> float:
    """CPU seconds to build a model with ``n`` typed input args (best of 3, after a warm-up).

    CPU time (``time.process_time``), not wall time: the machine is shared.
    """
    graphseq.Sequential("x", [(torch.nn.Identity(), "x -> y")])  # warm-up: imports, caches
    best = float("inf")
    for rep in range(3):
        args = ", ".join(f"x{i}: Tensor" for i in range(n)) + f", k{rep}: int = {rep}"
        start = time.process_time()  # a new text each time: no cache hit
        graphseq.Sequential(args, [(torch.nn.Identity(), "x0 -> y")])
        best = min(best, time.process_time() - start)
    return best


def inputs() -> None:
    figures = {n: build_seconds(n) for n in (1000, 2000, 4000)}
    for n, seconds in figures.items():
        print(f"{n:5d} inputs: {seconds:.3f} s  ({seconds / figures[1000]:.2f}x the 1,000 time)")


def threads(seconds: float = 4.0) -> None:
    """One thread removes and inserts step 'b'; another takes submodels, slices and clones.

    Threads switch every microsecond (``sys.setswitchinterval``), so races show in seconds.
    """
    sys.setswitchinterval(1e-6)
    a, b, c = torch.nn.Identity(), torch.nn.Identity(), torch.nn.ReLU()
    model = graphseq.Sequential("x", {"a": (a, "x -> h"), "b": (b, "h -> h"),
                                      "c": (c, "h -> y")})
    stop = time.perf_counter() + seconds
    wrong = extra = errors = taken = 0
    kinds: dict[str, int] = {}

    edits = [0]

    def edit() -> None:
        while time.perf_counter() < stop:
            model.remove(1)
            model.insert(1, b, "h -> h")
            edits[0] += 2

    editor = threading.Thread(target=edit)
    editor.start()
    while time.perf_counter() < stop:
        try:
            turn = taken + errors
            if turn % 3 == 0:
                sub = model.submodel("y")
            elif turn % 3 == 1:
                sub = model["a":"c"]
            else:
                sub = model.clone(lambda name, child: child)
        except Exception as error:  # noqa: BLE001  (counted)
            errors += 1
            kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
            continue
        taken += 1
        if sub["c"] is not c:
            wrong += 1
        if set(sub._modules) != {s.name for s in sub.plan.steps}:
            extra += 1  # a step of another version carried over as a child
    editor.join()
    print(f"{taken} derived models (submodel, slice, clone) in {seconds:.0f} s while another "
          f"thread made {edits[0]} edits: {wrong} paired step 'c' with the wrong child; "
          f"{extra} held a child that is not one of its steps; {errors} raised {kinds}")


if __name__ == "__main__":
    which = sys.argv[1:] or ["inputs", "threads"]
    if "inputs" in which:
        inputs()
    if "threads" in which:
        threads()
