"""Train a graphseq GCN on several processes with PyTorch's DistributedDataParallel.

Launch with torchrun (one process per CPU slot or GPU)::

    torchrun --nproc_per_node=2 examples/ddp_train.py --epochs 2

Each process reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the
environment that torchrun sets, uses ``gloo`` on the CPU or ``nccl`` on CUDA, and trains on its
own shard of PyG's ``FakeDataset`` (made from a fixed seed, so every rank sees the same data)
through a ``DistributedSampler``. Run without torchrun, it trains as a world of one.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
from torch_geometric import seed_everything
from torch_geometric.datasets import FakeDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, global_mean_pool

import graphseq


def make_model(features: int, classes: int, hidden: int = 32) -> graphseq.Sequential:
    return graphseq.Sequential(
        "x, edge_index, batch",
        {
            "conv1": (GCNConv(features, hidden), "x, edge_index -> x"),
            "act1": torch.nn.ReLU(),
            "conv2": (GCNConv(hidden, hidden), "x, edge_index -> x"),
            "act2": torch.nn.ReLU(),
            "pool": (global_mean_pool, "x, batch -> x"),
            "head": torch.nn.Linear(hidden, classes),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    cuda = torch.cuda.is_available()
    backend = "nccl" if cuda else "gloo"
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=rank, world_size=world_size)

    # The same data and the same initial weights on every rank: FakeDataset draws from Python's
    # `random` as well as from torch, and seed_everything seeds both.
    seed_everything(args.seed)
    dataset = FakeDataset(
        num_graphs=128, avg_num_nodes=12, avg_degree=3, num_channels=8, num_classes=3,
        task="graph",
    )
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed
    )
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    model = make_model(dataset.num_features, dataset.num_classes).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    if rank == 0:
        print(f"training on world size {world_size} ({backend}, {device.type})", flush=True)

    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        ddp.train()
        totals = torch.zeros(3, device=device)  # loss sum, correct, graphs
        for batch in loader:
            batch = batch.to(device)
            optimizer.zero_grad()
            logits = ddp(batch.x, batch.edge_index, batch.batch)
            loss = torch.nn.functional.cross_entropy(logits, batch.y)
            loss.backward()
            optimizer.step()
            totals += torch.stack([
                loss.detach() * batch.num_graphs,
                (logits.argmax(-1) == batch.y).sum().float(),
                torch.tensor(float(batch.num_graphs), device=device),
            ])
        dist.all_reduce(totals)  # sum over ranks
        if rank == 0:
            loss_sum, correct, graphs = totals.tolist()
            print(f"epoch {epoch} loss {loss_sum / graphs:.4f} accuracy {correct / graphs:.4f}",
                  flush=True)

    # Tear down in order: drop DDP (its reducer holds the process group) while the group is
    # still registered, then destroy the group. Left to interpreter exit, the reducer can be
    # the last owner and destroy gloo's group while holding the GIL, which gloo's worker thread
    # may need: a deadlock at exit.
    dist.barrier()
    del ddp, optimizer
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
