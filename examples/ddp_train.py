"""Train a graphseq GCN on several processes with PyTorch's DistributedDataParallel.

Launch with torchrun (one process per CPU slot or GPU)::

    torchrun --nproc_per_node=2 examples/ddp_train.py --epochs 2

Each process joins the process group through ``ddp_setup.py`` (next to this file): it reads
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the environment that torchrun
sets and uses ``gloo`` on the CPU or ``nccl`` on CUDA. It trains on its own shard of PyG's
``FakeDataset`` (made from a fixed seed, so every rank sees the same data) through a
``DistributedSampler``. Run without torchrun, it trains as a world of one.
"""

from __future__ import annotations

import argparse

import ddp_setup
import torch
import torch.distributed as dist
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

    world = ddp_setup.init()
    rank, device = world.rank, world.device

    # The same data and the same initial weights on every rank: FakeDataset draws from Python's
    # `random` as well as from torch, and seed_everything seeds both.
    seed_everything(args.seed)
    dataset = FakeDataset(
        num_graphs=128, avg_num_nodes=12, avg_degree=3, num_channels=8, num_classes=3,
        task="graph",
    )
    sampler = DistributedSampler(
        dataset, num_replicas=world.size, rank=rank, shuffle=True, seed=args.seed
    )
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    model = make_model(dataset.num_features, dataset.num_classes).to(device)
    ddp = world.wrap(model)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    if rank == 0:
        print(f"training on world size {world.size} ({world.backend}, {device.type})",
              flush=True)

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

    del ddp, optimizer  # DDP holds the process group: drop it first (see ddp_setup.shutdown)
    ddp_setup.shutdown()


if __name__ == "__main__":
    main()
