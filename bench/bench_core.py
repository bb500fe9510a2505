"""Build and eager-forward time: graphseq vs torch_geometric.nn.Sequential vs hand-written.

Run: python bench/bench_core.py [--quick]

(a) the reference's 5-step GCN docstring example on a 4-node graph;
(b) a chain of 20 ``Identity`` children, which shows the container's own cost, then split
into the container's call and the forward's body, against ``torch.nn.Sequential``.
All four contenders share the same child objects and run in the same process, interleaved.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import graphseq


def _gcn_children() -> list[nn.Module]:
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    return [GCNConv(16, 64), nn.ReLU(inplace=True), GCNConv(64, 64), nn.ReLU(inplace=True),
            nn.Linear(64, 7)]


def _gcn_steps(children: list[nn.Module]) -> list[Any]:
    conv1, relu1, conv2, relu2, lin = children
    return [(conv1, "x, edge_index -> x"), relu1, (conv2, "x, edge_index -> x"), relu2, lin]


class HandGCN(nn.Module):
    def __init__(self, children: list[nn.Module]) -> None:
        super().__init__()
        self.conv1, self.relu1, self.conv2, self.relu2, self.lin = children

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x, edge_index)
        x = self.relu1(x)
        x = self.conv2(x, edge_index)
        x = self.relu2(x)
        return self.lin(x)


class HandChain(nn.Module):
    def __init__(self, children: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(children)
        for i, child in enumerate(children):
            setattr(self, f"m{i}", child)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.m0(x)
        x = self.m1(x)
        x = self.m2(x)
        x = self.m3(x)
        x = self.m4(x)
        x = self.m5(x)
        x = self.m6(x)
        x = self.m7(x)
        x = self.m8(x)
        x = self.m9(x)
        x = self.m10(x)
        x = self.m11(x)
        x = self.m12(x)
        x = self.m13(x)
        x = self.m14(x)
        x = self.m15(x)
        x = self.m16(x)
        x = self.m17(x)
        x = self.m18(x)
        return self.m19(x)


def _sync() -> None:
    """Wait for the GPU's queued work (timings on CUDA), nothing on the CPU."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _cell_chain(children: list[nn.Module]) -> Callable[[torch.Tensor], torch.Tensor]:
    """(b)'s body with each child in its own closure cell: what a forward without the dict costs."""
    (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9,
     m10, m11, m12, m13, m14, m15, m16, m17, m18, m19) = children

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = m0(x)
        x = m1(x)
        x = m2(x)
        x = m3(x)
        x = m4(x)
        x = m5(x)
        x = m6(x)
        x = m7(x)
        x = m8(x)
        x = m9(x)
        x = m10(x)
        x = m11(x)
        x = m12(x)
        x = m13(x)
        x = m14(x)
        x = m15(x)
        x = m16(x)
        x = m17(x)
        x = m18(x)
        x = m19(x)
        return x

    return forward


def container_cost(model: nn.Module, flat: nn.Sequential, children: list[nn.Module],
                   x: torch.Tensor, number: int, repeat: int) -> None:
    """Split (b)'s forward against torch.nn.Sequential's into the call and the body."""
    cells = _cell_chain(children)
    ours, theirs = model.forward, flat.forward
    cases: dict[str, Callable[[], Any]] = {
        "graphseq model(x)": lambda: model(x),
        "torch.nn.Sequential model(x)": lambda: flat(x),
        "graphseq forward body": lambda: ours(x),
        "torch.nn.Sequential forward body": lambda: theirs(x),
        "body with closure cells": lambda: cells(x),
    }
    best: dict[str, float] = {}
    with torch.no_grad():
        for _ in range(repeat * 2):  # interleaved
            for label, fn in cases.items():
                t = _per_call(fn, number, 1)
                best[label] = min(best.get(label, t), t)
    us = {k: v * 1e6 for k, v in best.items()}
    call_ours = us["graphseq model(x)"] - us["graphseq forward body"]
    call_theirs = us["torch.nn.Sequential model(x)"] - us["torch.nn.Sequential forward body"]
    print("\n(b) where graphseq's time goes against torch.nn.Sequential (best mean, us)")
    for label, value in us.items():
        print(f"  {label:<34}{value:9.2f}")
    print(f"  container call (model(x) - body): graphseq {call_ours:.2f}, "
          f"torch.nn.Sequential {call_theirs:.2f}")
    print(f"  whole call: {us['graphseq model(x)'] / us['torch.nn.Sequential model(x)']:.3f}x; "
          f"body: {us['graphseq forward body'] / us['torch.nn.Sequential forward body']:.3f}x "
          f"({(us['graphseq forward body'] - us['torch.nn.Sequential forward body']) * 50:.0f} "
          f"ns per step); closure cells: "
          f"{us['body with closure cells'] / us['torch.nn.Sequential forward body']:.3f}x")


def _per_call(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Best of ``repeat`` means over ``number`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        _sync()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        _sync()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def _build_time(build: Callable[[], Any], n: int, setup: Callable[[], Any] | None = None) -> float:
    """Median time of one build, in seconds (``setup`` runs before each, untimed)."""
    times = []
    for _ in range(n):
        if setup is not None:
            setup()
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(label: str, value: float | None, base: float | None, unit: float, fmt: str) -> str:
    if value is None:
        return f"  {label:<28}{'n/a':>12}"
    ratio = "" if base is None else f"{value / base:8.3f}x"
    return f"  {label:<28}{value / unit:>12{fmt}}{ratio}"


def internal(name: str) -> Any:
    """graphseq's internal module ``name`` (``_name``; plain ``name`` before the rename)."""
    import importlib

    try:
        return importlib.import_module(f"graphseq._{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"graphseq.{name}")


def clear_graphseq_caches() -> None:
    """Forget every parsed header, checked dataflow, generated and compiled source."""
    binding, cache, parsing = internal("binding"), internal("cache"), internal("parsing")

    for fn in (parsing.parse_header, parsing.parse_input_args, parsing.parse_outputs,
               parsing.check_type):
        fn.cache_clear()
    parsing.Header.passthrough.cache_clear()  # type: ignore[attr-defined]
    cache.clear_all()
    params = binding._PARAMS  # one table, or one per kind of callable
    for table in params if isinstance(params, tuple) else (params,):
        table.clear()


_FIRST_BUILD = """
import sys, tempfile, time
tempfile.tempdir = sys.argv[2]
import torch
from torch import nn
import graphseq
from torch_geometric.nn import GCNConv, Sequential as Reference
make = graphseq.Sequential if sys.argv[1] == "graphseq" else Reference
steps = [(GCNConv(16, 64), "x, edge_index -> x"), nn.ReLU(inplace=True),
         (GCNConv(64, 64), "x, edge_index -> x"), nn.ReLU(inplace=True), nn.Linear(64, 7)]
start = time.perf_counter()
make("x, edge_index", steps)
print(time.perf_counter() - start)
"""


def first_build(which: str, scratch: str, runs: int) -> float:
    """Median time of the very first build in a fresh process (imports not counted)."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _FIRST_BUILD, which, scratch],
                             check=True, capture_output=True, text=True, cwd=scratch)
        times.append(float(out.stdout.split()[-1]))
    return statistics.median(times)


def run_case(
    name: str,
    builders: dict[str, Callable[[], Any] | None],
    inputs: tuple[Any, ...],
    builds: dict[str, int],
    number: int,
    repeat: int,
) -> dict[str, dict[str, float | None]]:
    from torch_geometric.nn import Sequential as Reference

    assert Reference is not None
    build_t: dict[str, float | None] = {}
    for label, build in builders.items():
        build_t[label] = None if build is None else _build_time(build, builds[label])
    ours = builders["graphseq Sequential"]
    assert ours is not None
    cold_t = _build_time(ours, builds["graphseq Sequential"], setup=clear_graphseq_caches)
    models = {k: (b() if b is not None else None) for k, b in builders.items()}
    for model in models.values():
        if model is not None:
            model.eval()
    fwd_t: dict[str, float | None] = dict.fromkeys(models)
    with torch.no_grad():
        reference_out = models["torch_geometric Sequential"](*inputs)
        for model in models.values():
            if model is not None:
                torch.testing.assert_close(model(*inputs), reference_out)
        for _ in range(repeat):  # interleave so drift hits all contenders alike
            for label, model in models.items():
                if model is None:
                    continue
                t = _per_call(lambda m=model: m(*inputs), number, 1)
                prev = fwd_t[label]
                fwd_t[label] = t if prev is None else min(prev, t)

    print(f"\n{name}")
    ref_build, ref_fwd = build_t["torch_geometric Sequential"], fwd_t["torch_geometric Sequential"]
    print(f"  {'build (median)':<28}{'ms':>12}{'vs ref':>9}{'speed-up':>10}")
    for label in builders:
        line = _row(label, build_t[label], ref_build, 1e-3, ".3f")
        value = build_t[label]
        if value is not None and ref_build is not None:
            line += f"{ref_build / value:9.0f}x"
        print(line)
    assert ref_build is not None
    print(_row("graphseq, caches cleared", cold_t, ref_build, 1e-3, ".3f")
          + f"{ref_build / cold_t:9.0f}x")
    print(f"  {'eager forward (best mean)':<28}{'us':>12}{'vs ref':>9}{'vs hand':>9}")
    hand = fwd_t["hand-written nn.Module"]
    for label in builders:
        value = fwd_t[label]
        line = _row(label, value, ref_fwd, 1e-6, ".2f")
        if value is not None and hand is not None:
            line += f"{value / hand:8.2f}x"
        print(line)
    return {"build": build_t, "forward": fwd_t}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--device", default="cpu", help="where the models and inputs live")
    opts = parser.parse_args()
    if opts.device != "cpu":  # children and inputs are made after this
        torch.set_default_device(opts.device)  # (on the CPU: no device mode in every call)
    from torch_geometric.nn import Sequential as Reference

    scale = 0.1 if opts.quick else 1.0
    number, repeat = max(20, int(2000 * scale)), 7
    print(f"graphseq {graphseq.__version__}, torch {torch.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpu, threads={torch.get_num_threads()}, device={opts.device}")

    # The reference writes two temp files per build: keep them out of the real temp folder.
    with tempfile.TemporaryDirectory() as scratch:
        tempfile.tempdir = scratch
        try:
            gcn = _gcn_children()
            x = torch.randn(4, 16)
            edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
            run_case(
                "(a) 5-step GCN, 4-node graph",
                {
                    "graphseq Sequential": lambda: graphseq.Sequential(
                        "x, edge_index", _gcn_steps(gcn)),
                    "torch_geometric Sequential": lambda: Reference(
                        "x, edge_index", _gcn_steps(gcn)),
                    "hand-written nn.Module": lambda: HandGCN(gcn),
                    "torch.nn.Sequential": None,  # cannot pass edge_index
                },
                (x, edge_index),
                {"graphseq Sequential": int(1000 * scale) or 50,
                 "torch_geometric Sequential": int(100 * scale) or 10,
                 "hand-written nn.Module": int(1000 * scale) or 50},
                number,
                repeat,
            )
            runs = 3 if opts.quick else 7
            ours, theirs = first_build("graphseq", scratch, runs), first_build("pyg", scratch, runs)
            print("\n(a) first build in a fresh process (median of", runs, "processes)")
            print(_row("graphseq Sequential", ours, theirs, 1e-3, ".3f")
                  + f"{theirs / ours:9.0f}x")
            print(_row("torch_geometric Sequential", theirs, theirs, 1e-3, ".3f"))
            chain = [nn.Identity() for _ in range(20)]
            run_case(
                "(b) chain of 20 Identity children",
                {
                    "graphseq Sequential": lambda: graphseq.Sequential(
                        "x", [(chain[0], "x -> x"), *chain[1:]]),
                    "torch_geometric Sequential": lambda: Reference(
                        "x", [(chain[0], "x -> x"), *chain[1:]]),
                    "hand-written nn.Module": lambda: HandChain(chain),
                    "torch.nn.Sequential": lambda: nn.Sequential(*chain),
                },
                (torch.randn(4, 16),),
                {"graphseq Sequential": int(1000 * scale) or 50,
                 "torch_geometric Sequential": int(100 * scale) or 10,
                 "hand-written nn.Module": int(1000 * scale) or 50,
                 "torch.nn.Sequential": int(1000 * scale) or 50},
                number,
                repeat,
            )
            container_cost(graphseq.Sequential("x", [(chain[0], "x -> x"), *chain[1:]]),
                           nn.Sequential(*chain), chain, torch.randn(4, 16), number, repeat)
        finally:
            tempfile.tempdir = None
            gc.collect()


if __name__ == "__main__":
    main()
