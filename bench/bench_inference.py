"""Layer-wise inference over all nodes: graphseq's model.inference against PyG's.

Run: python bench/bench_inference.py [--quick] [--skip-full] [--threads 1] [--repeat 1]

On a synthetic graph made in memory (1,000,000 nodes and 10,000,000 edges by default; --quick:
50,000 and 500,000) with 64 features, three SAGE layers of 64 channels, the same weights:

graphseq chain   model.inference(x, edge_index, batch_size=B) on conv, ReLU, conv, ReLU, conv
BasicGNN         GraphSAGE.inference(NeighborLoader(num_neighbors=[-1], batch_size=B)) (pyg-lib)
BasicGNN cache   the same with cache=True (the loader's batches are cut once and kept)
full forward     model(x, edge_index) under no_grad: the whole graph at once
sampled          NeighborLoader(num_neighbors=[15, 10, 5]) over B seeds at a time, trimmed
                 graphseq forward, seed rows kept (inexact); timed on --sampled-batches batches
                 and extrapolated to all nodes
graphseq GAT     model.inference on three GATConv layers (BasicGNN GAT's own), against
BasicGNN GAT     GAT.inference and the full forward: GATConv takes (x, x[:targets]) in graphseq
full GAT         (docs/scale.md, "Targets only"), so it computes its targets' rows only
graphseq JK      model.inference on the jumping-knowledge model (JK cat over the three layers,
                 then a linear head), which GraphSAGE.inference refuses (jk must be None/'last')
cutting          the batches alone: graphseq's CSR cut against NeighborLoader([-1])
budget           in one process, address space limited (RLIMIT_AS) to what is mapped once the
                 graph and model exist plus --budget-mb: model.inference, then the full forward;
                 says which of them fits

Each contender runs in a fresh process that makes the same graph from a fixed seed, so that
its peak memory (ru_maxrss above the RSS once the graph and model exist) is its own. Each
process also writes its output rows for 2,000 fixed nodes, and the parent compares them: the
exact contenders must agree with each other (and the JK model with its full forward on the
--quick graph). Ratios are of times measured in this run; the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("graphseq", "basicgnn", "basicgnn_cache", "full", "sampled", "graphseq_jk", "full_jk",
              "graphseq_gat", "basicgnn_gat", "full_gat", "cut_graphseq", "cut_neighborloader",
              "budget")
NEED_PYG_LIB = ("basicgnn", "basicgnn_cache", "basicgnn_gat", "sampled", "cut_neighborloader")
PROBE = 2_000  # rows compared between contenders


def make_graph(nodes: int, edges: int, features: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(nodes, features, generator=gen)
    edge_index = torch.randint(0, nodes, (2, edges), generator=gen)
    return x, edge_index


def chain_of(reference: nn.Module) -> nn.Module:
    """graphseq's chain of a 3-layer BasicGNN's own layers, ReLU between (BasicGNN's default)."""
    import graphseq

    c = reference.convs
    return graphseq.Sequential("x, edge_index", [
        (c[0], "x, edge_index -> x"), nn.ReLU(),
        (c[1], "x, edge_index -> x"), nn.ReLU(),
        (c[2], "x, edge_index -> x"),
    ]).eval()


def make_models(features: int, hidden: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """GraphSAGE, and graphseq's chain and JK models with GraphSAGE's own layers."""
    from torch_geometric.nn import GraphSAGE, JumpingKnowledge

    import graphseq

    torch.manual_seed(0)
    reference = GraphSAGE(features, hidden, num_layers=3).eval()
    chain = chain_of(reference)
    c = reference.convs
    jk = graphseq.Sequential("x, edge_index", [
        (c[0], "x, edge_index -> x1"), (nn.ReLU(), "x1 -> x1"),
        (c[1], "x1, edge_index -> x2"), (nn.ReLU(), "x2 -> x2"),
        (c[2], "x2, edge_index -> x3"), (nn.ReLU(), "x3 -> x3"),
        (JumpingKnowledge("cat"), "[x1, x2, x3] -> h"),
        (nn.Linear(3 * hidden, hidden), "h -> out"),
    ]).eval()
    return reference, chain, jk


def make_gat(features: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    """BasicGNN's GAT, and graphseq's chain with its layers."""
    from torch_geometric.nn import GAT

    torch.manual_seed(0)
    reference = GAT(features, hidden, num_layers=3).eval()
    return reference, chain_of(reference)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    """Run one contender; print a JSON line with its time, peak memory and probe file."""
    torch.set_num_threads(args.threads)
    x, edge_index = make_graph(args.nodes, args.edges, args.features)
    reference, chain, jk = make_models(args.features, args.hidden)
    probe = torch.randperm(args.nodes, generator=torch.Generator().manual_seed(1))[:PROBE]
    name = args.worker
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    data = Data(x=x, edge_index=edge_index)
    base = rss_mb()
    extra: dict[str, float] = {}
    out: Tensor | None = None
    start = time.perf_counter()
    if name == "graphseq":
        out = chain.inference(x, edge_index, batch_size=args.batch_size)
    elif name == "graphseq_jk":
        out = jk.inference(x, edge_index, batch_size=args.batch_size)
    elif name.endswith("_gat"):
        gat, gat_chain = make_gat(args.features, args.hidden)
        start = time.perf_counter()
        if name == "graphseq_gat":
            out = gat_chain.inference(x, edge_index, batch_size=args.batch_size)
        elif name == "basicgnn_gat":
            loader = NeighborLoader(data, num_neighbors=[-1], batch_size=args.batch_size,
                                    shuffle=False)
            out = gat.inference(loader)
        else:
            with torch.no_grad():
                out = gat_chain(x, edge_index)
    elif name == "basicgnn":
        loader = NeighborLoader(data, num_neighbors=[-1], batch_size=args.batch_size,
                                shuffle=False)
        out = reference.inference(loader)
    elif name == "basicgnn_cache":
        loader = NeighborLoader(data, num_neighbors=[-1], batch_size=args.batch_size,
                                shuffle=False)
        out = reference.inference(loader, cache=True)
    elif name == "budget":
        extra.update(budget(args, chain, x, edge_index))
    elif name == "full":
        with torch.no_grad():
            out = chain(x, edge_index)
    elif name == "full_jk":
        with torch.no_grad():
            out = jk(x, edge_index)
    elif name == "sampled":
        loader = NeighborLoader(data, num_neighbors=[15, 10, 5], batch_size=args.batch_size,
                                shuffle=False)
        done = 0
        rows = []
        with torch.no_grad():
            for i, b in enumerate(loader):
                if i == args.sampled_batches:
                    break
                y = chain(b.x, b.edge_index, num_sampled_nodes_per_hop=b.num_sampled_nodes,
                          num_sampled_edges_per_hop=b.num_sampled_edges)
                rows.append(y[: b.batch_size])
                done += b.batch_size
        elapsed = time.perf_counter() - start
        extra["measured_nodes"] = done
        extra["measured_s"] = elapsed
        head = torch.cat(rows)
        out = torch.full((args.nodes, head.size(1)), float("nan"))
        out[: head.size(0)] = head
        start = time.perf_counter() - elapsed * args.nodes / done  # extrapolated to all nodes
    elif name == "cut_graphseq":
        from graphseq.inference import Graph

        graph = Graph(edge_index, args.nodes)
        for batch in graph.batches(args.batch_size, torch.device("cpu")):
            graph.neighbourhood(batch)
    elif name == "cut_neighborloader":
        loader = NeighborLoader(data, num_neighbors=[-1], batch_size=args.batch_size,
                                shuffle=False)
        for _ in loader:
            pass
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    path = ""
    if out is not None:
        path = os.path.join(args.out_dir, f"{name}.pt")
        torch.save(out[probe].clone(), path)
    print(json.dumps({"name": name, "seconds": elapsed, "peak_mb": peak, "base_mb": base,
                      "probe": path, **extra}), flush=True)


def budget(args: argparse.Namespace, chain: nn.Module, x: Tensor,
           edge_index: Tensor) -> dict[str, float]:
    """Whether inference, then the full forward, fit in --budget-mb more address space."""
    chain.inference(x[:100], edge_index[:, :10] % 100, batch_size=50)  # load lazy imports
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
    limit = size * 1024 + args.budget_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    fits = {}
    for what in ("inference", "forward"):
        try:
            with torch.no_grad():
                if what == "inference":
                    chain.inference(x, edge_index, batch_size=args.batch_size)
                else:
                    chain(x, edge_index)
            fits[f"{what}_fits"] = 1.0
        except (MemoryError, RuntimeError):
            fits[f"{what}_fits"] = 0.0
    return fits


def run(args: argparse.Namespace, name: str, out_dir: str) -> dict[str, float | str] | None:
    command = [sys.executable, __file__, "--worker", name, "--out-dir", out_dir,
               "--nodes", str(args.nodes), "--edges", str(args.edges),
               "--features", str(args.features), "--hidden", str(args.hidden),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads),
               "--sampled-batches", str(args.sampled_batches), "--budget-mb", str(args.budget_mb)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"{name}: failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 nodes, 500,000 edges")
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sampled-batches", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over the contenders, in turn; the fastest time is kept")
    parser.add_argument("--budget-mb", type=int, default=1024,
                        help="address space allowed above the graph and model, for 'budget'")
    parser.add_argument("--skip-full", action="store_true",
                        help="leave out the full-graph forwards (the most memory)")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, default=None)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick and args.nodes == 1_000_000:
        args.nodes, args.edges = 50_000, 500_000
    if args.worker:
        worker(args)
        return
    from torch_geometric.typing import WITH_PYG_LIB

    names = list(args.only or CONTENDERS)
    if args.skip_full:
        names = [n for n in names if not n.startswith("full")]
    if not WITH_PYG_LIB:
        print("pyg-lib is not installed: leaving out BasicGNN.inference, sampled inference "
              "and NeighborLoader cutting, which need NeighborLoader")
        names = [n for n in names if n not in NEED_PYG_LIB]
    print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges, {args.features} features; "
          f"3 SAGE layers of {args.hidden}; batch size {args.batch_size}; "
          f"{args.threads} torch thread(s)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, torch {torch.__version__}; load "
          f"{os.getloadavg()[0]:.1f}")
    results: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory() as out_dir:
        for name in [n for _ in range(args.repeat) for n in names]:  # rounds, alternating
            result = run(args, name, out_dir)
            if result is not None:
                this, peak = float(result["seconds"]), float(result["peak_mb"])
                if name in results:  # keep the fastest round's time, the largest peak
                    result["peak_mb"] = max(float(result["peak_mb"]),
                                            float(results[name]["peak_mb"]))
                    result["seconds"] = min(float(result["seconds"]),
                                            float(results[name]["seconds"]))
                results[name] = result
                print(f"  {name}: {this:.2f} s, peak {peak:.0f} MB above the graph; load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
                if name == "budget":
                    print(f"  within {args.budget_mb} MB more address space: inference "
                          f"{'fits' if result['inference_fits'] else 'does not fit'}, the full "
                          f"forward {'fits' if result['forward_fits'] else 'does not fit'}",
                          flush=True)
        probes = {n: torch.load(str(r["probe"])) for n, r in results.items() if r["probe"]}
    report(results, probes)
    print(f"load after: {os.getloadavg()[0]:.1f}")


def report(results: dict[str, dict[str, float | str]], probes: dict[str, Tensor]) -> None:
    labels = {
        "graphseq": "graphseq model.inference, chain",
        "basicgnn": "GraphSAGE.inference (NeighborLoader [-1])",
        "basicgnn_cache": "GraphSAGE.inference (NeighborLoader [-1], cache=True)",
        "full": "full-graph forward, chain",
        "sampled": "sampled per-node inference [15, 10, 5] (extrapolated)",
        "graphseq_jk": "graphseq model.inference, JK cat",
        "full_jk": "full-graph forward, JK cat",
        "graphseq_gat": "graphseq model.inference, 3 GATConv",
        "basicgnn_gat": "GAT.inference (NeighborLoader [-1])",
        "full_gat": "full-graph forward, 3 GATConv",
        "cut_graphseq": "cutting batches: graphseq CSR",
        "cut_neighborloader": "cutting batches: NeighborLoader [-1]",
    }
    print("\n| contender | time (s) | peak memory above the graph (MB) "
          "| time / BasicGNN's inference (GraphSAGE, or GAT for the GAT rows) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        if name == "budget":
            continue
        base = results.get("basicgnn_gat" if name.endswith("_gat") else "basicgnn")
        ratio = (f"{float(r['seconds']) / float(base['seconds']):.2f}x" if base is not None
                 else "-")
        print(f"| {labels[name]} | {float(r['seconds']):.2f} | {float(r['peak_mb']):.0f} | "
              f"{ratio} |")
    pairs = [("graphseq", "basicgnn"), ("basicgnn_cache", "basicgnn"), ("graphseq", "full"),
             ("basicgnn", "full"), ("graphseq_jk", "full_jk"), ("sampled", "graphseq"),
             ("graphseq_gat", "basicgnn_gat"), ("graphseq_gat", "full_gat")]
    print("\nlargest difference on the probe rows:")
    for a, b in pairs:
        if a in probes and b in probes:
            diff = (probes[a] - probes[b]).abs()
            diff = diff[~diff.isnan()]
            print(f"  {a} vs {b}: {float(diff.max()) if diff.numel() else float('nan'):.2e}")


if __name__ == "__main__":
    main()
