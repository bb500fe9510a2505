"""Models and worker functions for the concurrency and distributed tests.

They live in an importable module, not in a test file, because ``spawn`` workers re-import
whatever they run.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import GCNConv, global_mean_pool

import graphseq


def init_worker() -> None:
    """Pool initializer: one intra-op thread per worker (OpenMP is not fork-safe)."""
    torch.set_num_threads(1)


def add(a: Tensor, b: Tensor) -> Tensor:
    return a + b


# Many different small models, each with an independently computed expectation -----------------


def _children(seed: int) -> tuple[dict[str, Any], tuple[Tensor, ...], str]:
    """Children, inputs and input-arg name of model ``seed``; weights drawn from the seed."""
    g = torch.Generator().manual_seed(seed)
    d_in, hidden, n = 2 + seed % 5, 3 + seed % 4, 3 + seed % 4
    children: dict[str, Any] = {
        "lin1": torch.nn.Linear(d_in, hidden),
        "conv": GCNConv(hidden, hidden),
        "lin2": torch.nn.Linear(hidden, 1 + seed % 3),
    }
    with torch.no_grad():
        for module in children.values():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(n, d_in, generator=g)
    edge_index = torch.stack([torch.arange(n), (torch.arange(n) + 1 + seed % 2) % n])
    return children, (x, edge_index), f"x{seed % 10}"


def make_model(seed: int) -> tuple[graphseq.Sequential, tuple[Tensor, ...]]:
    """Model ``seed``: its input name, sizes, weights and (by parity) its dataflow vary."""
    children, inputs, name = _children(seed)
    steps: dict[str, Any] = {"lin1": (children["lin1"], f"{name} -> h")}
    if seed % 2:
        steps["conv"] = (children["conv"], "h, edge_index -> h2")
        steps["skip"] = (add, "h, h2 -> h")
    steps["act"] = (torch.relu, "h -> h")
    steps["lin2"] = (children["lin2"], "h -> out")
    return graphseq.Sequential(f"{name}, edge_index", steps), inputs


def expected(seed: int) -> Tensor:
    """What model ``seed`` computes, by calling its children by hand (no graphseq)."""
    children, (x, edge_index), _ = _children(seed)
    with torch.no_grad():
        h = children["lin1"](x)
        if seed % 2:
            h = h + children["conv"](h, edge_index)
        return children["lin2"](torch.relu(h))  # type: ignore[no-any-return]


def run_models(seeds: list[int]) -> list[Tensor]:
    """Build and run each model in this process."""
    outputs = []
    with torch.no_grad():
        for seed in seeds:
            model, inputs = make_model(seed)
            outputs.append(model(*inputs))
    return outputs


def run_pickled(blob: bytes, inputs: tuple[Tensor, ...]) -> tuple[Tensor, str]:
    """Unpickle a model sent from another process, run it, and say what its forward is."""
    model = pickle.loads(blob)
    model.eval()
    with torch.no_grad():
        return model(*inputs), model.code


def run_sent(model: graphseq.Sequential, inputs: tuple[Tensor, ...]) -> Tensor:
    """Run a model that the pool pickled for us."""
    model.eval()
    with torch.no_grad():
        return model(*inputs)  # type: ignore[no-any-return]


# Distributed training --------------------------------------------------------------------------

STEPS = 5
LR = 0.1


def gcn() -> graphseq.Sequential:
    """A tiny graph-level GCN, identical on every rank (fixed seed)."""
    torch.manual_seed(0)
    return graphseq.Sequential(
        "x, edge_index, batch",
        {
            "conv1": (GCNConv(4, 8), "x, edge_index -> h"),
            "act": (torch.nn.ReLU(), "h -> h"),
            "conv2": (GCNConv(8, 8), "h, edge_index -> h"),
            "pool": (global_mean_pool, "h, batch -> g"),
            "head": (torch.nn.Linear(8, 1), "g -> out"),
        },
    )


def graphs(count: int = 8) -> list[Any]:
    """A fixed batch of small random graphs with a graph-level target."""
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(1234)
    out = []
    for i in range(count):
        n = 3 + i % 4
        edge_index = torch.randint(0, n, (2, 2 * n), generator=g)
        out.append(Data(x=torch.randn(n, 4, generator=g), edge_index=edge_index,
                        y=torch.randn(1, generator=g)))
    return out


def train(model: torch.nn.Module, data_list: list[Any], steps: int = STEPS) -> None:
    """SGD on the mean squared error over the graphs in ``data_list``."""
    from torch_geometric.data import Batch

    batch = Batch.from_data_list(data_list)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(steps):
        optimizer.zero_grad()
        out = model(batch.x, batch.edge_index, batch.batch).view(-1)
        loss = torch.nn.functional.mse_loss(out, batch.y)  # the mean over graphs
        loss.backward()
        optimizer.step()


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """One rank: DDP over gloo on loopback, training on its half of the graphs."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = DistributedDataParallel(gcn())
        data = graphs()
        half = len(data) // world_size
        train(model, data[rank * half : (rank + 1) * half])
        torch.save(model.module.state_dict(), Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()
        del model  # before the group goes: see the teardown note in examples/ddp_train.py
    finally:
        dist.destroy_process_group()
