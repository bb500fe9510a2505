"""Node classification on a large synthetic graph: neighbour-sampled, per-hop trimmed mini-batches
on several processes with DistributedDataParallel.

Launch with torchrun (one process per CPU slot or GPU)::

    torchrun --nproc_per_node=2 examples/large_graph.py --epochs 2
    torchrun --nproc_per_node=2 examples/large_graph.py --epochs 4 --resume   # goes on from 2

Joining and leaving the process group is in ``ddp_setup.py`` next to this file, which
``ddp_train.py`` uses too.

The graph (1,000,000 nodes and 10,000,000 edges by default; ``--nodes``/``--edges`` for small
runs) is made in memory from a fixed seed, so every rank builds the same one. Its classes are
learnable: features are noisy class centres and most edges join nodes of one class. Each rank
trains on its own share of the training seeds, with mini-batches sampled hop by hop
(``--fanout 15 10 5``) and the model trimmed per hop (``num_sampled_nodes_per_hop``). Rank 0
shows a tqdm bar, prints the validation accuracy of each epoch and writes a checkpoint after
each epoch (``--checkpoint-dir``); ``--resume`` goes on from the latest one. At the end, rank 0
evaluates with ``model.inference`` over all nodes (layer-wise, full neighbourhoods, bounded
memory) and prints the full-graph validation and test accuracy.

Sampling uses PyG's ``NeighborLoader`` when ``pyg-lib`` is installed (it gives the per-hop
counts that trimming needs); otherwise a small sampler of this file that lays batches out the
same way. Install pyg-lib from PyG's wheel index, for example::

    pip install pyg-lib -f https://data.pyg.org/whl/torch-2.5.0+cpu.html

(use your torch and CUDA versions in the address; see PyG's installation page).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, ReLU
from torch_geometric.nn import JumpingKnowledge, SAGEConv
from tqdm import tqdm

import graphseq

INSTALL_PYG_LIB = (
    "install pyg-lib from PyG's wheel index, naming your torch and CUDA versions: "
    "pip install pyg-lib -f https://data.pyg.org/whl/torch-${TORCH}+${CUDA}.html "
    "(for example torch-2.5.0+cpu)"
)


def make_model(features: int, classes: int, hidden: int) -> graphseq.Sequential:
    """Three SAGE layers with a residual sum and jumping knowledge over all three."""
    return graphseq.Sequential("x, edge_index", {
        "conv1": (SAGEConv(features, hidden), "x, edge_index -> x1"),
        "act1": (ReLU(), "x1 -> x1"),
        "conv2": (SAGEConv(hidden, hidden), "x1, edge_index -> x2"),
        "act2": (ReLU(), "x2 -> x2"),
        "res": (torch.add, "x1, x2 -> x2"),
        "conv3": (SAGEConv(hidden, hidden), "x2, edge_index -> x3"),
        "act3": (ReLU(), "x3 -> x3"),
        "jk": (JumpingKnowledge("cat"), "[x1, x2, x3] -> h"),
        "head": (Linear(3 * hidden, classes), "h -> out"),
    })


def make_graph(
    num_nodes: int, num_edges: int, features: int, classes: int, seed: int = 0
) -> dict[str, Tensor]:
    """A random graph with learnable classes: 80% of edges join two nodes of one class."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (num_nodes,), generator=gen)
    centres = torch.randn(classes, features, generator=gen)
    x = centres[y] + 3.0 * torch.randn(num_nodes, features, generator=gen)
    by_class = torch.argsort(y)
    starts = torch.searchsorted(y[by_class], torch.arange(classes + 1))
    dst = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    same = torch.rand(num_edges, generator=gen) < 0.8
    size = (starts[1:] - starts[:-1])[y[dst]]
    offset = (torch.rand(num_edges, generator=gen) * size).long()
    src = torch.where(same, by_class[starts[y[dst]] + offset],
                      torch.randint(0, num_nodes, (num_edges,), generator=gen))
    split = torch.rand(num_nodes, generator=gen)
    return {"x": x, "y": y, "edge_index": torch.stack([src, dst]),
            "train": split < 0.6, "test": (split >= 0.6) & (split < 0.8), "val": split >= 0.8}


class HopSampler:
    """Hop-ordered neighbour sampling laid out as ``NeighborLoader`` lays it out.

    Seeds first, then the nodes first reached at each hop; edges in blocks, block ``k`` holding
    up to ``fanout[k]`` sampled in-edges (without replacement) of each node of hop ``k - 1``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: list[int]) -> None:
        src, dst = edge_index
        order = torch.argsort(dst)
        self.src = src[order]
        self.ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        self.ptr[1:] = torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0)
        self.fanouts = fanouts
        self.local = torch.full((num_nodes,), -1, dtype=torch.long)

    def sample(self, seeds: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, list[int],
                                                                    list[int]]:
        """Return global node ids, the local edge index and the counts per hop."""
        n_id = [seeds]
        self.local[seeds] = torch.arange(seeds.numel())
        total = seeds.numel()
        frontier, blocks = seeds, []
        nodes, edges = [seeds.numel()], []
        for fanout in self.fanouts:
            start = self.ptr[frontier]
            degree = self.ptr[frontier + 1] - start
            owner = torch.repeat_interleave(torch.arange(frontier.numel()), degree)
            first = torch.cumsum(degree, 0) - degree
            offset = torch.arange(owner.numel()) - first[owner]
            keys = owner.double() + torch.rand(owner.numel(), generator=gen, dtype=torch.double)
            order = torch.argsort(keys)  # random order within each node's in-edges
            owner, offset = owner[order], offset[order]
            keep = torch.arange(owner.numel()) - first[owner] < fanout
            owner, offset = owner[keep], offset[keep]
            source = self.src[start[owner] + offset]
            fresh = torch.unique(source[self.local[source] < 0])
            self.local[fresh] = torch.arange(total, total + fresh.numel())
            total += fresh.numel()
            blocks.append(torch.stack([self.local[source], self.local[frontier[owner]]]))
            n_id.append(fresh)
            nodes.append(fresh.numel())
            edges.append(source.numel())
            frontier = fresh
        ids = torch.cat(n_id)
        self.local[ids] = -1
        return ids, torch.cat(blocks, dim=1), nodes, edges


def batches(
    graph: dict[str, Tensor], seeds: Tensor, args: argparse.Namespace, gen: torch.Generator,
    sampler: HopSampler | None,
) -> Iterator[tuple[Tensor, Tensor, Tensor, list[int], list[int]]]:
    """(x, edge_index, y of the seeds, nodes per hop, edges per hop) for each mini-batch."""
    if sampler is None:
        from torch_geometric.data import Data
        from torch_geometric.loader import NeighborLoader

        data = Data(x=graph["x"], y=graph["y"], edge_index=graph["edge_index"])
        loader = NeighborLoader(data, num_neighbors=args.fanout, input_nodes=seeds,
                                batch_size=args.batch_size, shuffle=False)
        for batch in loader:
            yield (batch.x, batch.edge_index, batch.y[: batch.batch_size],
                   batch.num_sampled_nodes, batch.num_sampled_edges)
        return
    for part in seeds.split(args.batch_size):
        n_id, edge_index, nodes, edges = sampler.sample(part, gen)
        yield graph["x"][n_id], edge_index, graph["y"][part], nodes, edges


def use_neighbor_loader(choice: str) -> bool:
    if choice == "own":
        return False
    from torch_geometric.typing import WITH_PYG_LIB

    if not WITH_PYG_LIB and choice == "pyg":
        raise SystemExit(f"--sampler pyg: NeighborLoader needs pyg-lib for per-hop counts; "
                         f"{INSTALL_PYG_LIB}")
    return WITH_PYG_LIB


def share(seeds: Tensor, epoch: int, rank: int, world: int, seed: int) -> Tensor:
    """This rank's seeds for an epoch: one shuffle for all ranks, equal parts for each."""
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    shuffled = seeds[torch.randperm(seeds.numel(), generator=gen)]
    per_rank = shuffled.numel() // world
    return shuffled[rank * per_rank:(rank + 1) * per_rank]


def digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


CHECKPOINT = re.compile(r"epoch_(\d+)\.pt")
"""A checkpoint's file name: ``epoch_N.pt``. Other names (``epoch_best.pt``) are not ours."""


def checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """The ``epoch_N.pt`` files in ``directory``, newest epoch first; other names are ignored."""
    found = []
    for path in directory.glob("epoch_*.pt"):
        match = CHECKPOINT.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def save_checkpoint(state: dict[str, object], directory: Path, epoch: int) -> Path:
    """Write ``epoch_N.pt`` atomically: to a temporary file, flushed to disk, then renamed.

    A run killed while writing leaves at most the temporary file (``.epoch_N.pt.tmp``, which
    :func:`checkpoints` does not list), never a truncated ``epoch_N.pt``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"epoch_{epoch}.pt"
    temporary = directory / f".{final.name}.tmp"
    try:
        with open(temporary, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, final)  # atomic on POSIX and Windows: the old name or the new file
    return final


def load_latest_checkpoint(
    directory: Path, device: torch.device, say: bool = True
) -> tuple[Path, dict[str, object]] | None:
    """The newest checkpoint in ``directory`` that loads completely, with its state.

    One that cannot be read (truncated by a crash, or not a checkpoint of this script) is
    skipped with a line saying why, and the next older one is tried.
    """
    for _, path in checkpoints(directory):
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is skipped, and said
            reason = (str(error).strip().splitlines() or [""])[0][:100]
            if say:
                print(f"skipping {path.name}: it does not load ({type(error).__name__}: "
                      f"{reason})", flush=True)
            continue
        if not (isinstance(state, dict) and {"model", "optimizer", "epoch"} <= state.keys()):
            if say:
                print(f"skipping {path.name}: not a checkpoint of this script (it needs "
                      "model, optimizer and epoch)", flush=True)
            continue
        return path, state
    return None


def evaluate(model: graphseq.Sequential, graph: dict[str, Tensor], batch_size: int,
             device: torch.device) -> None:
    """Full-graph validation and test accuracy, from layer-wise inference over all nodes.

    ``model.inference`` runs each level over batches of target nodes with their full
    in-neighbourhoods, so every node sees all its neighbours (no sampling) and memory stays
    bounded; it equals a full-graph forward, which would not fit on a large graph.
    """
    start = time.perf_counter()
    out = model.inference(graph["x"], graph["edge_index"], batch_size=batch_size,
                          device=device, progress_bar=True)
    pred = out.argmax(-1)
    accuracy = {split: float((pred[graph[split]] == graph["y"][graph[split]]).float().mean())
                for split in ("val", "test")}
    print(f"full-graph inference over {pred.numel():,} nodes in {time.perf_counter() - start:.1f}"
          f" s: val accuracy {accuracy['val']:.4f} test accuracy {accuracy['test']:.4f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--fanout", type=int, nargs="+", default=[15, 10, 5])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-batches", type=int, default=None,
                        help="at most this many training batches per rank and epoch")
    parser.add_argument("--sampler", choices=["auto", "pyg", "own"], default="auto",
                        help="NeighborLoader (needs pyg-lib), this file's sampler, or auto")
    parser.add_argument("--inference-batch-size", type=int, default=4096,
                        help="target nodes per batch of the final full-graph inference")
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"))
    parser.add_argument("--resume", action="store_true",
                        help="go on from the latest checkpoint in --checkpoint-dir")
    args = parser.parse_args()

    # Imported here, not at the top, so that bench/bench_scale.py can load this file for its
    # sampler and model without examples/ on the import path.
    import ddp_setup

    world = ddp_setup.init()
    rank, device = world.rank, world.device

    start = time.perf_counter()
    graph = make_graph(args.nodes, args.edges, args.features, args.classes, args.seed)
    neighbor_loader = use_neighbor_loader(args.sampler)
    sampler = None if neighbor_loader else HopSampler(graph["edge_index"], args.nodes,
                                                      args.fanout)
    if rank == 0:
        print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges, made in "
              f"{time.perf_counter() - start:.1f} s; world size {world.size} "
              f"({world.backend}, {device.type})", flush=True)
        if neighbor_loader:
            print("sampler: NeighborLoader (pyg-lib)", flush=True)
        elif args.sampler == "auto":
            print("sampler: own hop-ordered sampler, as pyg-lib is not installed and "
                  f"NeighborLoader needs it for per-hop counts; {INSTALL_PYG_LIB}", flush=True)
        else:
            print("sampler: own hop-ordered sampler", flush=True)

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = make_model(args.features, args.classes, args.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    first_epoch = 1
    found = load_latest_checkpoint(args.checkpoint_dir, device, rank == 0) \
        if args.resume else None
    if found is not None:
        checkpoint, state = found
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = int(state["epoch"]) + 1
        if rank == 0:
            print(f"resumed from {checkpoint.name}: epoch {first_epoch - 1} done", flush=True)
    elif args.resume and rank == 0:
        print(f"no checkpoint in {args.checkpoint_dir}: starting at epoch 1", flush=True)
    ddp = world.wrap(model)
    train_seeds = graph["train"].nonzero().flatten()
    val_seeds = graph["val"].nonzero().flatten()

    for epoch in range(first_epoch, args.epochs + 1):
        ddp.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch * 10 + rank)
        seeds = share(train_seeds, epoch, rank, world.size, args.seed)
        steps = -(-seeds.numel() // args.batch_size)
        if args.max_batches is not None:
            steps = min(steps, args.max_batches)
            seeds = seeds[: steps * args.batch_size]
        totals = torch.zeros(2, device=device)
        bar = tqdm(total=steps, desc=f"epoch {epoch}", disable=rank != 0, leave=False)
        for x, edge_index, y, nodes, edges in batches(graph, seeds, args, gen, sampler):
            x, edge_index, y = x.to(device), edge_index.to(device), y.to(device)
            optimizer.zero_grad()
            out = ddp(x, edge_index, num_sampled_nodes_per_hop=nodes,
                      num_sampled_edges_per_hop=edges)
            loss = F.cross_entropy(out[: y.numel()], y)
            loss.backward()
            optimizer.step()
            totals += torch.stack([loss.detach() * y.numel(),
                                   torch.tensor(float(y.numel()), device=device)])
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()

        ddp.eval()
        correct = torch.zeros(2, device=device)
        with torch.no_grad():
            part = share(val_seeds, 0, rank, world.size, args.seed)
            if args.max_batches is not None:
                part = part[: args.max_batches * args.batch_size]
            for x, edge_index, y, nodes, edges in batches(graph, part, args, gen, sampler):
                out = model(x.to(device), edge_index.to(device),
                            num_sampled_nodes_per_hop=nodes, num_sampled_edges_per_hop=edges)
                pred = out[: y.numel()].argmax(-1)
                correct += torch.tensor([float((pred == y.to(device)).sum()), float(y.numel())],
                                        device=device)
        dist.all_reduce(totals)
        dist.all_reduce(correct)
        if rank == 0:
            print(f"epoch {epoch} loss {totals[0] / totals[1]:.4f} "
                  f"val accuracy {correct[0] / correct[1]:.4f}", flush=True)
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "epoch": epoch}, args.checkpoint_dir, epoch)

    if rank == 0:
        evaluate(model, graph, args.inference_batch_size, device)
    print(f"rank {rank} final parameters {digest(model)}", flush=True)
    del ddp, optimizer  # DDP holds the process group: drop it first (see ddp_setup.shutdown)
    ddp_setup.shutdown()


if __name__ == "__main__":
    main()
