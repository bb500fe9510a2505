"""Joining and leaving the process group, for the examples that torchrun launches.

``ddp_train.py`` and ``large_graph.py`` share it (run from ``examples/``, Python finds it next
to them)::

    import ddp_setup

    world = ddp_setup.init()            # gloo on the CPU, nccl on CUDA
    ddp = world.wrap(model.to(world.device))
    ...                                 # train; world.rank, world.size
    del ddp                             # first drop DDP, then leave the group
    ddp_setup.shutdown()

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; run without torchrun,
a script is a world of one on 127.0.0.1:29500.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    """This process's place in the process group, and the device it trains on."""

    rank: int
    size: int
    local_rank: int
    device: torch.device
    backend: str

    def wrap(self, model: torch.nn.Module) -> DistributedDataParallel:
        """``model`` (already on ``self.device``) under DistributedDataParallel."""
        cuda = self.device.type == "cuda"
        return DistributedDataParallel(model, device_ids=[self.local_rank] if cuda else None)


def init() -> World:
    """Join the process group that torchrun's environment describes."""
    rank = int(os.environ.get("RANK", 0))
    size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=size)
    return World(rank, size, local_rank, device, backend)


def shutdown() -> None:
    """Wait for every rank, then leave the process group.

    Call it after dropping every DistributedDataParallel (``del ddp``): its reducer holds the
    process group, so it must go while the group is still registered. Left to interpreter
    exit, the reducer can be the last owner and destroy gloo's group while holding the GIL,
    which gloo's worker thread may need: a deadlock at exit.
    """
    dist.barrier()
    dist.destroy_process_group()
