"""Typed graphs at scale: graphseq.to_hetero against a hand-written hierarchical_sage model.

Run: PYTHONPATH=/work/pyglib python bench/bench_hetero.py [--quick] [--no-compile]

A synthetic typed graph made in memory (3 node types, 5 edge types; 1,000,000 nodes and
10,000,000 edges, --quick: 20,000 and 200,000), sampled by NeighborLoader (pyg-lib) with
fan-out [10, 10] around paper seeds. Two models with the same weights: graphseq.to_hetero of a
2-layer SAGE model, and a hand-written model in the style of PyG's
examples/hetero/hierarchical_sage.py (HeteroConv, and trim_to_layer before each layer). The
paper head (a Linear on the seed rows) is the same module outside both, since to_hetero would
run it for every type. Time per training step (forward, head, loss, backward), trimmed
(NeighborLoader's num_sampled_*_dict) and untrimmed, eager and compiled (torch.compile
dynamic=True); contenders interleaved, their order turned each round; each batch's best of
--repeat rounds, averaged over the batches. Ratios: graphseq / hand-written, and untrimmed /
trimmed for each.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no compile workers while timing
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch  # noqa: E402
import torch_geometric  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch_geometric.nn import HeteroConv, SAGEConv  # noqa: E402
from torch_geometric.utils import trim_to_layer  # noqa: E402

import graphseq  # noqa: E402
from graphseq.hetero import key_name  # noqa: E402

NODES = {"paper": 0.5, "author": 0.35, "venue": 0.15}  # share of the nodes
EDGES = {("author", "writes", "paper"): 0.3, ("paper", "rev_writes", "author"): 0.3,
         ("paper", "cites", "paper"): 0.3, ("paper", "in", "venue"): 0.05,
         ("venue", "has", "paper"): 0.05}  # share of the edges
FEATURES = {"paper": 64, "author": 32, "venue": 16}
Batch = dict[str, Any]  # x, edge_index, nodes, edges (per hop, by type), seeds, y


def make_graph(nodes: int, edges: int, seed: int = 0) -> Any:
    """A random typed graph, made in memory: the types' shares of ``nodes`` and ``edges``."""
    from torch_geometric.data import HeteroData

    gen = torch.Generator().manual_seed(seed)
    data = HeteroData()
    sizes = {t: int(share * nodes) for t, share in NODES.items()}
    for t, n in sizes.items():
        data[t].x = torch.randn(n, FEATURES[t], generator=gen)
    data["paper"].y = torch.randint(0, 16, (sizes["paper"],), generator=gen)
    for (src, rel, dst), share in EDGES.items():
        m = int(share * edges)
        data[src, rel, dst].edge_index = torch.stack([
            torch.randint(sizes[src], (m,), generator=gen),
            torch.randint(sizes[dst], (m,), generator=gen)])
    return data


def sample(data: Any, seeds: int, count: int) -> tuple[list[Batch], float]:
    """``count`` NeighborLoader batches of ``seeds`` papers, fan-out [10, 10]; and seconds."""
    from torch_geometric.loader import NeighborLoader

    start = time.perf_counter()
    loader = NeighborLoader(data, num_neighbors=[10, 10], batch_size=seeds, shuffle=True,
                            input_nodes=("paper", torch.arange(data["paper"].num_nodes)))
    batches = []
    for sampled, _ in zip(loader, range(count), strict=False):
        batches.append({
            "x": sampled.x_dict, "edge_index": sampled.edge_index_dict,
            "nodes": {t: list(c) for t, c in sampled.num_sampled_nodes_dict.items()},
            "edges": {et: list(c) for et, c in sampled.num_sampled_edges_dict.items()},
            "seeds": sampled["paper"].batch_size, "y": sampled["paper"].y[:seeds]})
    return batches, time.perf_counter() - start


class HierarchicalSage(nn.Module):
    """hierarchical_sage.py's model without its head: HeteroConv, trim_to_layer before each."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv((-1, -1), hidden) for et in EDGES}, aggr="sum")
            for _ in range(layers))

    def forward(self, x_dict: Any, edge_index_dict: Any, num_sampled_nodes_dict: Any = None,
                num_sampled_edges_dict: Any = None) -> dict[str, Tensor]:
        for i, conv in enumerate(self.convs):
            if num_sampled_nodes_dict is not None:
                x_dict, edge_index_dict, _ = trim_to_layer(
                    layer=i, num_sampled_nodes_per_hop=num_sampled_nodes_dict,
                    num_sampled_edges_per_hop=num_sampled_edges_dict, x=x_dict,
                    edge_index=edge_index_dict)
            x_dict = conv(x_dict, edge_index_dict)
            x_dict = {key: x.relu() for key, x in x_dict.items()}
        return x_dict


def typed_sage(hidden: int) -> graphseq.Sequential:
    """The same model, declared once and made typed by graphseq.to_hetero."""
    model = graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act1": nn.ReLU(),
        "conv2": (SAGEConv((-1, -1), hidden), "x, edge_index -> x"),
        "act2": nn.ReLU(),
    })
    return graphseq.to_hetero(model, (list(NODES), list(EDGES)), aggr="sum")


def paired(hidden: int, b: Batch) -> tuple[graphseq.Sequential, HierarchicalSage]:
    """Both models, with graphseq's weights copied into the hand-written one."""
    torch.manual_seed(0)
    ours, hand = typed_sage(hidden), HierarchicalSage(hidden, 2)
    with torch.no_grad():
        ours(b["x"], b["edge_index"])
        hand(b["x"], b["edge_index"])
    for i, conv in enumerate(hand.convs):
        typed = getattr(ours, f"conv{i + 1}")
        for et in EDGES:
            hetero_conv: Any = conv
            hetero_conv.convs[et].load_state_dict(getattr(typed, key_name(et)).state_dict())
    return ours, hand


def call(model: Callable[..., Any], b: Batch, trimmed: bool, ours: bool) -> dict[str, Tensor]:
    if not trimmed:
        return model(b["x"], b["edge_index"])
    if ours:
        out = model(b["x"], b["edge_index"], num_sampled_nodes_per_hop=b["nodes"],
                    num_sampled_edges_per_hop=b["edges"])
        return out
    return model(b["x"], b["edge_index"], b["nodes"], b["edges"])


def train_step(model: Callable[..., Any], head: nn.Module, b: Batch, trimmed: bool,
               ours: bool) -> Tensor:
    out = head(call(model, b, trimmed, ours)["paper"][: b["seeds"]])
    loss = nn.functional.cross_entropy(out, b["y"])
    loss.backward()
    return out.detach()


def check(ours: nn.Module, hand: nn.Module, head: nn.Module, b: Batch) -> None:
    """Same seed outputs four ways: each model trimmed and untrimmed."""
    outs = [train_step(m, head, b, t, m is ours) for m in (ours, hand) for t in (True, False)]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-4, atol=1e-4)
    for m in (ours, hand, head):
        m.zero_grad(set_to_none=True)


LABELS = {  # label: (model key, trimmed)
    "graphseq, trimmed": ("ours", True), "hand-written, trimmed": ("hand", True),
    "graphseq, untrimmed": ("ours", False), "hand-written, untrimmed": ("hand", False),
}


def timed_rounds(models: dict[str, Callable[..., Any]], head: nn.Module, batches: list[Batch],
                 repeat: int) -> dict[str, float]:
    """ms per training step for each label: each batch's best of ``repeat``, averaged."""
    for key, trimmed in LABELS.values():  # warm up on every batch (compiles, untimed)
        for b in batches:
            train_step(models[key], head, b, trimmed, key == "ours")
    best = {label: [float("inf")] * len(batches) for label in LABELS}
    labels = list(LABELS)
    for round_ in range(repeat):
        turned = labels[round_ % len(labels):] + labels[:round_ % len(labels)]
        for i, b in enumerate(batches):
            for label in turned:
                key, trimmed = LABELS[label]
                start = time.perf_counter()
                train_step(models[key], head, b, trimmed, key == "ours")
                best[label][i] = min(best[label][i], time.perf_counter() - start)
    return {label: statistics.mean(v) * 1e3 for label, v in best.items()}


def report(mode: str, ms: dict[str, float]) -> None:
    print(f"\n  training step, {mode:<9}{'ms':>12}{'vs hand-written':>17}"
          f"{'untrimmed/trimmed':>19}")
    for label, value in ms.items():
        who, how = label.split(", ")
        other = ms[f"{'hand-written' if who == 'graphseq' else 'graphseq'}, {how}"]
        ratio = f"{value / other:.3f}x" if who == "graphseq" else ""
        speedup = f"{ms[f'{who}, untrimmed'] / value:.2f}x" if how == "trimmed" else ""
        print(f"  {label:<28}{value:9.1f}{ratio:>17}{speedup:>19}")
    gain = {w: ms[f"{w}, untrimmed"] / ms[f"{w}, trimmed"] for w in ("graphseq", "hand-written")}
    pays = gain["graphseq"] / gain["hand-written"]
    print(f"  trimming's gain, graphseq / hand-written: {pays:.3f} (at least 1: trimming pays "
          "at least as much)")


def describe(batches: list[Batch], took: float) -> None:
    nodes = statistics.mean(sum(v.size(0) for v in b["x"].values()) for b in batches)
    edges = statistics.mean(sum(e.size(1) for e in b["edge_index"].values()) for b in batches)
    print(f"{len(batches)} NeighborLoader batches (fan-out [10, 10], {batches[0]['seeds']} paper "
          f"seeds): {nodes:,.0f} nodes and {edges:,.0f} edges on average; sampled in {took:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 nodes, 200,000 edges")
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--no-compile", action="store_true", help="eager only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.edges, args.seeds, args.batches, args.repeat = 20_000, 200_000, 128, 3, 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"graphseq {graphseq.__version__}, torch {torch.__version__}, torch_geometric "
          f"{torch_geometric.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cpu, threads={torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    data = make_graph(args.nodes, args.edges)
    print(f"graph: {data.num_nodes:,} nodes ({len(NODES)} types), {data.num_edges:,} edges "
          f"({len(EDGES)} types), made in {time.perf_counter() - start:.1f} s")
    batches, took = sample(data, args.seeds, args.batches)
    describe(batches, took)
    ours, hand = paired(args.hidden, batches[0])
    head = nn.Linear(args.hidden, 16)
    check(ours, hand, head, batches[0])
    models: dict[str, Callable[..., Any]] = {"ours": ours, "hand": hand}
    report("eager", timed_rounds(models, head, batches, args.repeat))
    if not args.no_compile:
        compiled = {k: torch.compile(m, dynamic=True) for k, m in models.items()}
        start = time.perf_counter()
        ms = timed_rounds(compiled, head, batches, args.repeat)
        report("compiled", ms)
        print(f"  (compiled rounds, with compiling, took {time.perf_counter() - start:.0f} s)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
