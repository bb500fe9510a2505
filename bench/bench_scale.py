"""Training at scale: graphseq vs PyG's GraphSAGE on neighbour-sampled, per-hop trimmed batches.

Run: python bench/bench_scale.py [--quick] [--section hook|speed|compile|all]

hook    What a call without the keywords pays: a forward with the trimming branch in its
        source against the same forward without it.
speed   Same weights, same batches (3 layers, fan-out [15, 10, 5]): time per training step
        (forward and backward) and per inference batch, graphseq against GraphSAGE and the
        hand-written module with the same layers (HandSAGE, trim_to_layer), trimmed and
        untrimmed, eager and compiled (torch.compile dynamic=True), with ratios; and a
        jumping-knowledge model, trimmed, against GraphSAGE(jk='cat'), which cannot be trimmed.
compile torch.compile (dynamic=True and the default) on 50 training batches of varying size
        for graphseq, a hand-written module and BasicGNN with the same layers: recompilations,
        graph breaks, time to the first batch, steady-state time per batch; trimmed and
        untrimmed; and the default with the batch's dimensions marked dynamic. Before that,
        graph breaks: a child that breaks the graph (GCNConv, a .item(), a branch on a value)
        followed by 5 x (Linear, ReLU), graphseq against a hand-written module with the same
        children: frames and ops captured (CompileCounter), and steady-state time per training
        step under torch.compile (inductor) and in eager mode.

Batches come from NeighborLoader when pyg-lib is installed, else from the hop-ordered sampler of
examples/large_graph.py (the same layout). Contenders run interleaved in one process.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")  # first-batch times compile

import torch  # noqa: E402
import torch._dynamo  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402
from torch_geometric.nn import GraphSAGE  # noqa: E402
from torch_geometric.utils import trim_to_layer  # noqa: E402

import graphseq  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Batch = tuple[Tensor, Tensor, list[int], list[int]]  # x, edge_index, nodes, edges per hop


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("large_graph", ROOT / "examples/large_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_batches(graph: dict[str, Tensor], num_nodes: int, fanout: list[int],
                   seed_counts: list[int], seed: int = 0) -> tuple[list[Batch], str]:
    """Hop-ordered batches of the given numbers of seeds, from random seed nodes."""
    with torch.device("cpu"):  # sampled on the CPU, then moved to --device
        batches, source = _sample(graph, num_nodes, fanout, seed_counts, seed)
    device = torch.get_default_device()
    return [(x.to(device), e.to(device), n, m) for x, e, n, m in batches], source


def _sample(graph: dict[str, Tensor], num_nodes: int, fanout: list[int],
            seed_counts: list[int], seed: int) -> tuple[list[Batch], str]:
    from torch_geometric.typing import WITH_PYG_LIB

    gen = torch.Generator().manual_seed(seed)
    seeds = [torch.randperm(num_nodes, generator=gen)[:n] for n in seed_counts]
    if WITH_PYG_LIB:
        from torch_geometric.data import Data
        from torch_geometric.loader import NeighborLoader

        data = Data(x=graph["x"], edge_index=graph["edge_index"], num_nodes=num_nodes)
        out = []
        for part in seeds:
            loader = NeighborLoader(data, num_neighbors=fanout, input_nodes=part,
                                    batch_size=part.numel())
            b = next(iter(loader))
            out.append((b.x, b.edge_index, b.num_sampled_nodes, b.num_sampled_edges))
        return out, "NeighborLoader (pyg-lib)"
    sampler = _example().HopSampler(graph["edge_index"], num_nodes, fanout)
    batches = []
    for part in seeds:
        n_id, edge_index, nodes, edges = sampler.sample(part, gen)
        batches.append((graph["x"][n_id], edge_index, nodes, edges))
    return batches, "examples/large_graph.py HopSampler (pyg-lib not installed)"


def chain_from(reference: GraphSAGE) -> graphseq.Sequential:
    """graphseq with GraphSAGE's own layers: conv, ReLU, conv, ReLU, conv."""
    c = reference.convs
    return graphseq.Sequential("x, edge_index", [
        (c[0], "x, edge_index -> x"), nn.ReLU(),
        (c[1], "x, edge_index -> x"), nn.ReLU(),
        (c[2], "x, edge_index -> x"),
    ])


def jk_from(reference: GraphSAGE) -> graphseq.Sequential:
    """graphseq with GraphSAGE(jk='cat')'s layers: JK over [x1, x2, x3], then the head."""
    c = reference.convs
    return graphseq.Sequential("x, edge_index", [
        (c[0], "x, edge_index -> x1"), (nn.ReLU(), "x1 -> x1"),
        (c[1], "x1, edge_index -> x2"), (nn.ReLU(), "x2 -> x2"),
        (c[2], "x2, edge_index -> x3"), (nn.ReLU(), "x3 -> x3"),
        (reference.jk, "[x1, x2, x3] -> h"),
        (reference.lin, "h -> out"),
    ])


class HandSAGE(nn.Module):
    """The hand-written module: three SAGE layers, trimmed with PyG's trim_to_layer."""

    def __init__(self, convs: nn.ModuleList) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = convs

    def forward(self, x: Tensor, edge_index: Tensor,
                num_sampled_nodes_per_hop: list[int] | None = None,
                num_sampled_edges_per_hop: list[int] | None = None) -> Tensor:
        n, e = num_sampled_nodes_per_hop, num_sampled_edges_per_hop
        x = self.conv1(x, edge_index).relu()
        if n is not None and e is not None:
            x, edge_index, _ = trim_to_layer(1, n, e, x, edge_index)
        x = self.conv2(x, edge_index).relu()
        if n is not None and e is not None:
            x, edge_index, _ = trim_to_layer(2, n, e, x, edge_index)
        return self.conv3(x, edge_index)


def call(model: Callable[..., Tensor], b: Batch, trimmed: bool) -> Tensor:
    if trimmed:
        return model(b[0], b[1], num_sampled_nodes_per_hop=b[2], num_sampled_edges_per_hop=b[3])
    return model(b[0], b[1])


def train_step(model: Callable[..., Tensor], b: Batch, trimmed: bool) -> None:
    out = call(model, b, trimmed)
    out[: b[2][0]].sum().backward()


def infer(model: Callable[..., Tensor], b: Batch, trimmed: bool) -> None:
    with torch.no_grad():
        call(model, b, trimmed)


def sync() -> None:
    """Wait for the GPU's queued work (timings on CUDA), nothing on the CPU."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


# speed --------------------------------------------------------------------------------------


def speed(args: argparse.Namespace, graph: dict[str, Tensor]) -> None:
    batches, source = sample_batches(graph, args.nodes, [15, 10, 5], [args.seeds] * args.batches)
    nodes = statistics.mean(b[0].size(0) for b in batches)
    edges = statistics.mean(b[1].size(1) for b in batches)
    print(f"\nspeed: {len(batches)} batches of {args.seeds} seeds, fan-out [15, 10, 5], "
          f"{nodes:,.0f} nodes and {edges:,.0f} edges on average; sampler: {source}")
    print(f"  layers SAGEConv {args.features} -> {args.hidden} -> {args.hidden} -> "
          f"{args.classes}; ms per batch: each batch's best of {args.repeat} rounds (the machine "
          "is shared, so the best is the least disturbed), averaged over the batches;\n"
          "  contenders interleaved, their order turned each round")

    torch.manual_seed(0)
    sage = GraphSAGE(args.features, args.hidden, num_layers=3, out_channels=args.classes)
    jk_sage = GraphSAGE(args.features, args.hidden, num_layers=3, out_channels=args.classes,
                        jk="cat")
    ours, ours_jk, hand = chain_from(sage), jk_from(jk_sage), HandSAGE(sage.convs)
    b = batches[0]
    torch.testing.assert_close(call(ours, b, True), call(sage, b, True))
    torch.testing.assert_close(call(hand, b, True), call(sage, b, True))
    seeds = b[2][0]
    torch.testing.assert_close(call(ours_jk, b, True)[:seeds], call(jk_sage, b, False)[:seeds])

    compiled = {}
    if not args.no_compile:
        for name, m in (("ours", ours), ("sage", sage), ("ours_jk", ours_jk),
                        ("jk_sage", jk_sage), ("hand", hand)):
            compiled[name] = torch.compile(m, dynamic=True)

    reference = {
        "graphseq, trimmed": "GraphSAGE, trimmed",
        "graphseq, untrimmed": "GraphSAGE, untrimmed",
        "hand-written, trimmed": "GraphSAGE, trimmed",
        "hand-written, untrimmed": "GraphSAGE, untrimmed",
        "graphseq JK, trimmed": "GraphSAGE(jk='cat'), untrimmed",
        "graphseq JK, untrimmed": "GraphSAGE(jk='cat'), untrimmed",
    }
    untrimmed = {
        "graphseq, trimmed": "graphseq, untrimmed",
        "GraphSAGE, trimmed": "GraphSAGE, untrimmed",
        "hand-written, trimmed": "hand-written, untrimmed",
        "graphseq JK, trimmed": "graphseq JK, untrimmed",
    }

    def contenders(mode: str) -> dict[str, tuple[Callable[..., Tensor], bool]]:
        pick = (lambda k, m: compiled[k]) if mode == "compiled" else (lambda k, m: m)
        return {
            "graphseq, trimmed": (pick("ours", ours), True),
            "GraphSAGE, trimmed": (pick("sage", sage), True),
            "graphseq, untrimmed": (pick("ours", ours), False),
            "GraphSAGE, untrimmed": (pick("sage", sage), False),
            "hand-written, trimmed": (pick("hand", hand), True),
            "hand-written, untrimmed": (pick("hand", hand), False),
            "graphseq JK, trimmed": (pick("ours_jk", ours_jk), True),
            "graphseq JK, untrimmed": (pick("ours_jk", ours_jk), False),
            "GraphSAGE(jk='cat'), untrimmed": (pick("jk_sage", jk_sage), False),
        }

    modes = ["eager"] + ([] if args.no_compile else ["compiled"])
    for mode in modes:
        for task, step in (("training step", train_step), ("inference", infer)):
            runs = contenders(mode)
            for fn, trimmed in runs.values():  # warm up (compiles here, untimed)
                for b in batches[:2]:
                    step(fn, b, trimmed)
            best = {k: [float("inf")] * len(batches) for k in runs}
            labels = list(runs)
            for round_ in range(args.repeat):
                for i, b in enumerate(batches):
                    for label in labels[round_ % len(labels):] + labels[:round_ % len(labels)]:
                        fn, trimmed = runs[label]
                        took = timed(lambda: step(fn, b, trimmed))  # noqa: B023
                        best[label][i] = min(best[label][i], took)
            ms = {k: statistics.mean(v) * 1e3 for k, v in best.items()}
            print(f"\n  {task}, {mode:<9}{'ms':>16}{'vs GraphSAGE':>14}{'untrimmed/trimmed':>19}")
            for label, value in ms.items():
                ratio = f"{value / ms[reference[label]]:.3f}x" if label in reference else ""
                speedup = f"{ms[untrimmed[label]] / value:.2f}x" if label in untrimmed else ""
                print(f"  {label:<32}{value:9.2f}{ratio:>14}{speedup:>19}")
            for model in (ours, sage, ours_jk, jk_sage, hand):
                model.zero_grad(set_to_none=True)


# hook ---------------------------------------------------------------------------------------


def hook_cost(args: argparse.Namespace) -> None:
    """The forward of a 20-Identity chain with and without the trimming branch in its source."""
    from graphseq import _cache as cache
    from graphseq import _codegen as codegen

    children = [nn.Identity() for _ in range(20)]
    x = torch.randn(4, 4)
    hooked = graphseq.Sequential("x", [(children[0], "x -> x"), *children[1:]])
    hooked(x)
    original = codegen.trimmable
    codegen.trimmable = lambda plan: False  # type: ignore[assignment]
    cache.clear_all()
    try:
        plain = graphseq.Sequential("x", [(children[0], "x -> x"), *children[1:]])
        plain(x)
    finally:
        codegen.trimmable = original
        cache.clear_all()
    assert "num_sampled_nodes_per_hop" in hooked.code and "num_sampled" not in plain.code
    best = {"without the branch": float("inf"), "with the branch": float("inf")}
    pairs = [("without the branch", plain), ("with the branch", hooked)]
    for round_ in range(args.hook_rounds):
        for label, model in pairs if round_ % 2 else pairs[::-1]:
            sync()
            start = time.perf_counter()
            for _ in range(2000):
                model(x)
            sync()
            best[label] = min(best[label], (time.perf_counter() - start) / 2000)
    print("\nhook: eager forward of a chain of 20 Identity children, best of "
          f"{args.hook_rounds} rounds of 2000 calls")
    base = best["without the branch"]
    for label, value in best.items():
        print(f"  {label:<32}{value * 1e6:9.3f} us{value / base:9.3f}x")


# compile ------------------------------------------------------------------------------------


class Item(nn.Module):
    """Breaks the graph with ``.item()``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * (1.0 / (1.0 + x.abs().max().item()))


class Branch(nn.Module):
    """Breaks the graph with a branch on a tensor's value."""

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:
            return x * 0.5
        return -x


class HandBreak(nn.Module):
    """Hand-written: ``first(*inputs)``, an optional ReLU + breaking child, 5 x (Linear, ReLU)."""

    def __init__(self, first: nn.Module, breaker: nn.Module | None, hidden: int) -> None:
        super().__init__()
        self.first, self.breaker, self.relu = first, breaker, nn.ReLU()
        self.l1, self.l2, self.l3, self.l4, self.l5 = (nn.Linear(hidden, hidden) for _ in range(5))
        self.r1, self.r2, self.r3, self.r4, self.r5 = (nn.ReLU() for _ in range(5))

    def forward(self, *inputs: Tensor) -> Tensor:
        x = self.first(*inputs)
        if self.breaker is not None:
            x = self.relu(x)
            x = self.breaker(x)
        x = self.r1(self.l1(x))
        x = self.r2(self.l2(x))
        x = self.r3(self.l3(x))
        x = self.r4(self.l4(x))
        return self.r5(self.l5(x))

    def graphseq(self, input_args: str) -> graphseq.Sequential:
        """graphseq over the same children."""
        middle = [] if self.breaker is None else [self.relu, self.breaker]
        tail = [m for i in range(1, 6) for m in (getattr(self, f"l{i}"), getattr(self, f"r{i}"))]
        return graphseq.Sequential(input_args, [(self.first, f"{input_args} -> x"), *middle,
                                                *tail])


def break_runs(args: argparse.Namespace, graph: dict[str, Tensor]) -> None:
    """Frames, ops and steady-state time of graphseq vs hand-written around a graph break."""
    from torch._dynamo.testing import CompileCounter
    from torch_geometric.nn import GCNConv

    nodes = min(args.nodes, 4_000)
    device = torch.get_default_device()
    x = graph["x"][:nodes].to(device)
    keep = (graph["edge_index"] < nodes).all(0)
    edge_index = graph["edge_index"][:, keep].to(device)
    hidden = args.hidden
    print(f"\ncompile, graph breaks: a breaking child, then 5 x (Linear {hidden}, ReLU); "
          f"{nodes:,} nodes, {edge_index.size(1):,} edges;\n  frames and ops from a "
          "CompileCounter backend; ms = median training step (forward and backward) of "
          f"{args.break_steps} after warm-up,\n  torch.compile (inductor) and eager, "
          "contenders interleaved")
    print(f"  {'':34}{'frames':>7}{'ops':>6}{'compiled ms':>13}{'vs hand':>9}"
          f"{'eager ms':>10}{'vs hand':>9}")
    cases: list[tuple[str, Callable[[], HandBreak], str, tuple[Tensor, ...]]] = [
        ("GCNConv", lambda: HandBreak(GCNConv(x.size(1), hidden), None, hidden),
         "x, edge_index", (x, edge_index)),
        (".item()", lambda: HandBreak(nn.Linear(x.size(1), hidden), Item(), hidden), "x", (x,)),
        ("branch on a value", lambda: HandBreak(nn.Linear(x.size(1), hidden), Branch(), hidden),
         "x", (x,)),
    ]
    for name, make, input_args, inputs in cases:
        torch.manual_seed(0)
        hand = make()
        models = {"graphseq": hand.graphseq(input_args), "hand-written": hand}
        counts = {}
        for label, model in models.items():
            torch._dynamo.reset()
            counter = CompileCounter()
            torch.compile(model, backend=counter)(*inputs)
            counts[label] = (counter.frame_count, counter.op_count)
        torch._dynamo.reset()
        runs = {}
        for label, model in models.items():
            runs[(label, "compiled")] = torch.compile(model)
            runs[(label, "eager")] = model

        def step(fn: Callable[..., Tensor], inputs: tuple[Tensor, ...] = inputs) -> None:
            fn(*inputs).sum().backward()

        for fn in runs.values():  # warm up: compiles here, untimed
            for _ in range(2):
                step(fn)
        times: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
        keys = list(runs)
        for i in range(args.break_steps):
            for key in keys[i % len(keys):] + keys[:i % len(keys)]:
                times[key].append(timed(lambda: step(runs[key])))  # noqa: B023
        ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"  {name}")
        for label in models:
            frames, ops = counts[label]
            c, e = ms[(label, "compiled")], ms[(label, "eager")]
            c_ratio = c / ms[("hand-written", "compiled")]
            e_ratio = e / ms[("hand-written", "eager")]
            print(f"    {label:<30}{frames:>7}{ops:>6}{c:>13.2f}{c_ratio:>8.3f}x{e:>10.2f}"
                  f"{e_ratio:>8.3f}x")
        for model in models.values():
            model.zero_grad(set_to_none=True)
    torch._dynamo.reset()



def compile_runs(args: argparse.Namespace, graph: dict[str, Tensor]) -> None:
    with torch.device("cpu"):
        gen = torch.Generator().manual_seed(1)
        counts = torch.randint(args.seeds // 4, args.seeds, (args.compile_batches,),
                               generator=gen)
    fanout = args.compile_fanout
    batches, source = sample_batches(graph, args.nodes, fanout, counts.tolist(), seed=1)
    sizes = [b[0].size(0) for b in batches]
    print(f"\ncompile: {len(batches)} training batches, {min(counts)}..{max(counts)} seeds, "
          f"fan-out {fanout}, {min(sizes):,}..{max(sizes):,} nodes; sampler: {source}")
    print("  recompiles = compiled graphs - 1 (torch._dynamo counters); first = seconds to the "
          "first batch (compile included);\n  steady = median ms per batch over the last "
          f"{len(batches) // 2} batches")
    print(f"  {'':36}{'graphs':>7}{'breaks':>7}{'first s':>9}{'steady ms':>11}")

    def models() -> dict[str, nn.Module]:
        torch.manual_seed(0)
        sage = GraphSAGE(args.features, args.hidden, num_layers=3, out_channels=args.classes)
        torch.manual_seed(0)
        hand = HandSAGE(GraphSAGE(args.features, args.hidden, num_layers=3,
                                  out_channels=args.classes).convs)
        torch.manual_seed(0)
        ours = chain_from(GraphSAGE(args.features, args.hidden, num_layers=3,
                                    out_channels=args.classes))
        return {"graphseq": ours, "hand-written": hand, "BasicGNN GraphSAGE": sage}

    # Each compile starts as in a fresh process: no dynamic-shape profile from earlier runs.
    torch._dynamo.config.automatic_dynamic_local_pgo = False
    warm = torch.compile(models()["hand-written"], dynamic=True)
    train_step(warm, batches[0], False)  # inductor's one-time start-up, not charged to anyone
    settings: list[tuple[str, bool | None, bool]] = [("dynamic=True", True, False),
                                                      ("default", None, False),
                                                      ("default, marked", None, True)]
    for trimmed in (False, True):
        for label, dynamic, mark in settings:
            print(f"  {'trimmed' if trimmed else 'untrimmed'}, {label}")
            for name, model in models().items():
                torch._dynamo.reset()
                counters.clear()
                fn = torch.compile(model, dynamic=dynamic)
                times = []
                for b in batches:
                    if mark:
                        torch._dynamo.mark_dynamic(b[0], 0)
                        torch._dynamo.mark_dynamic(b[1], 1)
                    times.append(timed(lambda: train_step(fn, b, trimmed)))  # noqa: B023
                graphs = counters["stats"]["unique_graphs"]
                breaks = sum(counters["graph_break"].values())
                steady = statistics.median(times[len(times) // 2:]) * 1e3
                print(f"    {name:<32}{graphs:>7}{breaks:>7}{times[0]:>9.1f}{steady:>11.2f}")
    torch._dynamo.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller graph, fewer rounds")
    parser.add_argument("--section", choices=["speed", "compile", "hook", "all"],
                        default="all")
    parser.add_argument("--hook-rounds", type=int, default=30)
    parser.add_argument("--no-compile", action="store_true", help="speed: eager only")
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--seeds", type=int, default=512)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compile-batches", type=int, default=50)
    parser.add_argument("--compile-fanout", type=int, nargs=3, default=[10, 5, 3],
                        help="compile: neighbours sampled per hop")
    parser.add_argument("--break-steps", type=int, default=40,
                        help="compile: timed training steps per graph-break contender")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 is steadier on a loaded machine)")
    parser.add_argument("--device", default="cpu",
                        help="where models and batches live (the graph is sampled on the CPU)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.nodes, args.edges, args.seeds, args.batches, args.repeat = 20_000, 200_000, 64, 3, 2
        args.compile_batches, args.break_steps = 12, 10

    warnings.filterwarnings("ignore")
    print(f"graphseq {graphseq.__version__}, torch {torch.__version__}, python "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpu, "
          f"threads={torch.get_num_threads()}")
    print("Timings are noisy: this machine is shared with other jobs while it runs.")
    graph = _example().make_graph(args.nodes, args.edges, args.features, args.classes)
    print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges (examples/large_graph.py)")
    if args.device != "cpu":  # models, and the batches sample_batches moves
        torch.set_default_device(args.device)  # (on the CPU: no device mode in every call)
        print(f"device: {args.device} ({torch.cuda.get_device_name()})")
    if args.section in ("hook", "all"):
        hook_cost(args)
    if args.section in ("speed", "all"):
        speed(args, graph)
    if args.section in ("compile", "all"):
        break_runs(args, graph)
        compile_runs(args, graph)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
