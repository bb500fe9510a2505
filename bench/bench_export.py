"""Eager vs the loaded ``.pt2`` vs onnxruntime (vs AOTInductor) on one node-level model.

A 3-layer SAGEConv model (64 -> 128 -> 128 -> 16 channels) over a random graph of 10,000 nodes
and 100,000 edges, exported once by ``model.export`` with every size dynamic, then each runner
is timed on the same inputs in interleaved rounds under ``torch.no_grad()``. It prints each
runner's best mean time and its ratio to eager, all from this one run, and checks first that
every runner gives eager's outputs.

    python bench/bench_export.py            # eager, .pt2, ONNX
    python bench/bench_export.py --aot      # and an AOTInductor package (compiles with gcc)
    python bench/bench_export.py --threads 1  # every runner on one thread
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch_geometric.nn import SAGEConv

from graphseq import Sequential
from graphseq.export import bind_inputs

NODES, EDGES = 10_000, 100_000
CHANNELS, HIDDEN, OUT = 64, 128, 16


def model() -> Sequential:
    """The benchmarked model: three SAGEConv layers with ReLU between them."""
    torch.manual_seed(0)
    return Sequential("x, edge_index", [
        (SAGEConv(CHANNELS, HIDDEN), "x, edge_index -> x"),
        torch.nn.ReLU(),
        (SAGEConv(HIDDEN, HIDDEN), "x, edge_index -> x"),
        torch.nn.ReLU(),
        (SAGEConv(HIDDEN, OUT), "x, edge_index -> x"),
    ]).eval()


def graph(nodes: int, edges: int, seed: int) -> dict[str, torch.Tensor]:
    with torch.device("cpu"):  # the same graph on every device
        gen = torch.Generator().manual_seed(seed)
        made = {
            "x": torch.randn(nodes, CHANNELS, generator=gen),
            "edge_index": torch.randint(0, nodes, (2, edges), generator=gen),
        }
    return {k: v.to(torch.get_default_device()) for k, v in made.items()}


def cpu_name() -> str:
    """The CPU's model name, where Linux tells it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sync() -> None:
    """Wait for the GPU's queued work (timings on CUDA), nothing on the CPU."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(runners: dict[str, Callable[[], Any]], rounds: int, calls: int) -> dict[str, float]:
    """Best mean seconds per call of each runner, over interleaved rounds."""
    best = {name: float("inf") for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            sync()
            start = time.perf_counter()
            for _ in range(calls):
                run()
            sync()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aot", action="store_true", help="also time an AOTInductor package")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch and onnxruntime (default: their own defaults)")
    parser.add_argument("--device", default="cpu",
                        help="eager and .pt2 on this device; onnxruntime runs on the CPU only")
    args = parser.parse_args()
    on_cpu = args.device == "cpu"
    if not on_cpu:  # (on the CPU: no device mode in every call)
        torch.set_default_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    import numpy as np
    import onnxruntime

    net = model()
    example = graph(2_000, 20_000, seed=0)  # export traces a smaller graph; sizes are dynamic
    inputs = graph(NODES, EDGES, seed=1)
    positional = bind_inputs(net, **inputs).args
    feed = {k: np.asarray(v) for k, v in inputs.items()} if on_cpu else {}
    setup: dict[str, float] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = {"pt2": Path(tmp, "model.pt2"), "onnx": Path(tmp, "model.onnx")}
        if not on_cpu:  # this onnxruntime has the CPU provider only
            del paths["onnx"]
        for name, path in paths.items():
            start = time.perf_counter()
            net.export(path, **example)
            setup[f"export .{name}"] = time.perf_counter() - start
            sizes[name] = path.stat().st_size
        loaded = torch.export.load(paths["pt2"]).module()
        runners: dict[str, Callable[[], Any]] = {
            "eager": lambda: net(**inputs),
            "loaded .pt2": lambda: loaded(*positional),
        }
        if on_cpu:
            options = onnxruntime.SessionOptions()
            if args.threads:
                options.intra_op_num_threads = args.threads
            session = onnxruntime.InferenceSession(
                str(paths["onnx"]), options, providers=["CPUExecutionProvider"]
            )
            runners["onnxruntime"] = lambda: session.run(None, feed)
        if args.aot:
            from torch._inductor import aoti_load_package

            path = Path(tmp, "model_aot.pt2")
            start = time.perf_counter()
            net.export(path, aot=True, **example)
            setup["export aot=True (compile)"] = time.perf_counter() - start
            sizes["aot"] = path.stat().st_size
            compiled = aoti_load_package(str(path))
            runners["AOTInductor"] = lambda: compiled(*positional)

        with torch.no_grad():
            want = net(**inputs)
            for name, run in list(runners.items())[1:]:
                got = run()
                got = torch.as_tensor(got[0] if isinstance(got, list | tuple) else got,
                                      device=want.device)
                diff = float((got - want).abs().max())
                assert diff < 1e-3, f"{name} differs from eager by {diff}"
                print(f"{name:<12} matches eager (largest difference {diff:.1e})")
            for run in runners.values():  # warm up
                run()
            best = timed(runners, args.rounds, args.calls)

    print()
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, onnxruntime threads {args.threads or 'default'}, "
          f"load average {os.getloadavg()[0]:.1f} (other work shares the CPUs when it is above "
          f"0); Python {platform.python_version()}, torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if not on_cpu else ""))
    print(f"model: 3 x SAGEConv ({CHANNELS}->{HIDDEN}->{HIDDEN}->{OUT}) on {NODES:,} nodes, "
          f"{EDGES:,} edges; best mean of {args.rounds} interleaved rounds x {args.calls} calls")
    for name, seconds in setup.items():
        print(f"  {name}: {seconds:.1f} s")
    print("  file sizes: " + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sizes.items()))
    print()
    print("| runner | time per forward | vs eager |")
    print("|---|---|---|")
    eager = best["eager"]
    for name, seconds in best.items():
        print(f"| {name} | {seconds * 1e3:.1f} ms | {seconds / eager:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
