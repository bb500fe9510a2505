"""graphseq.save / graphseq.load against torch.save / torch.load: file size and time.

Run: python bench/bench_saving.py [--rounds 7] [--quick]

For three hand-built models (a small GCN, a 3-layer GraphSAGE with BatchNorm, and a wide
GraphSAGE with an MLP head of about 25 million parameters), it writes each model three ways
into a temporary folder:

* ``graphseq.save(model, path)``: one safetensors file with the config (fsynced, renamed);
* ``torch.save(model, path)``: the pickled model, read back with ``weights_only=False``;
* ``torch.save(model.state_dict(), path)``: the weights alone, read back with
  ``weights_only=True``; a model then needs its code: "state_dict + build" also times
  building the model (``graphseq.from_config``, as the code would) and ``load_state_dict``.

It prints each file's size and the median time of each save and load over ``--rounds``,
with the ratios graphseq / pickled model and graphseq / state_dict (above 1: graphseq is
larger or slower). Files are read back from the page cache (they were just written).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import GCNConv, SAGEConv

import graphseq


def models(quick: bool) -> dict[str, graphseq.Sequential]:
    """The models, by name, each with its weights moved from their initial values."""
    torch.manual_seed(0)
    wide = 512 if quick else 2048
    out = {
        "GCN 34-16-4": graphseq.Sequential("x, edge_index", [
            (GCNConv(34, 16), "x, edge_index -> x"), nn.ReLU(),
            (GCNConv(16, 4), "x, edge_index -> x"),
        ]),
        "SAGE 3x256 + BatchNorm": graphseq.Sequential("x, edge_index", [
            (SAGEConv(128, 256), "x, edge_index -> x"), nn.BatchNorm1d(256), nn.ReLU(),
            (SAGEConv(256, 256), "x, edge_index -> x"), nn.BatchNorm1d(256), nn.ReLU(),
            (SAGEConv(256, 40), "x, edge_index -> x"),
        ]),
        f"SAGE {wide} wide + MLP": graphseq.Sequential("x, edge_index", [
            (SAGEConv(wide, wide), "x, edge_index -> x"), nn.ReLU(),
            (SAGEConv(wide, wide), "x, edge_index -> x"), nn.ReLU(),
            nn.Linear(wide, wide), nn.ReLU(), nn.Linear(wide, wide), nn.ReLU(),
            nn.Linear(wide, 10),
        ]),
    }
    with torch.no_grad():
        for model in out.values():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
    return out


def timed(action: Callable[[], Any], rounds: int) -> float:
    """The median seconds of ``action`` over ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: graphseq.Sequential, folder: Path, rounds: int) -> dict[str, float]:
    """Sizes (bytes) and median times (s) of each way to save and load ``model``."""
    ours, pickled, weights = (folder / "m.safetensors", folder / "m.pt", folder / "w.pt")
    config = model.to_config()

    def build_and_load() -> nn.Module:
        again = graphseq.from_config(config)
        again.load_state_dict(torch.load(weights, weights_only=True))
        return again

    figures = {
        "save graphseq": timed(lambda: graphseq.save(model, ours), rounds),
        "save pickled": timed(lambda: torch.save(model, pickled), rounds),
        "save state_dict": timed(lambda: torch.save(model.state_dict(), weights), rounds),
        "load graphseq": timed(lambda: graphseq.load(ours), rounds),
        "load pickled": timed(lambda: torch.load(pickled, weights_only=False), rounds),
        "load state_dict": timed(lambda: torch.load(weights, weights_only=True), rounds),
        "load state_dict + build": timed(build_and_load, rounds),
        "size graphseq": ours.stat().st_size,
        "size pickled": pickled.stat().st_size,
        "size state_dict": weights.stat().st_size,
    }
    again = graphseq.load(ours)  # the figures are of a load that gives the same weights
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 model.state_dict().values(), strict=True))
    return figures


def report(name: str, params: int, f: dict[str, float]) -> None:
    print(f"\n{name}: {params:,} parameters")
    print(f"  size   graphseq {f['size graphseq'] / 1e3:10.1f} kB   pickled "
          f"{f['size pickled'] / 1e3:10.1f} kB   state_dict {f['size state_dict'] / 1e3:10.1f} kB"
          f"   ratios {f['size graphseq'] / f['size pickled']:.3f}x, "
          f"{f['size graphseq'] / f['size state_dict']:.3f}x")
    for what in ("save", "load"):
        ms = {k: v * 1e3 for k, v in f.items() if k.startswith(what)}
        line = "   ".join(f"{k.removeprefix(what + ' ')} {v:9.2f} ms" for k, v in ms.items())
        print(f"  {what}   {line}")
        ours = ms[f"{what} graphseq"]
        ratios = ", ".join(f"/ {k.removeprefix(what + ' ')} {ours / v:.2f}x"
                           for k, v in ms.items() if k != f"{what} graphseq")
        print(f"         graphseq {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds, a smaller wide model")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    print(f"torch {torch.__version__}, graphseq {graphseq.__version__}, "
          f"{torch.get_num_threads()} threads, median of {rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models(args.quick).items():
            params = sum(p.numel() for p in model.parameters())
            report(name, params, measure(model, Path(tmp), rounds))


if __name__ == "__main__":
    main()
