"""Distributed training: a graphseq GCN under DistributedDataParallel (gloo, loopback, CPU)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.multiprocessing as mp

from launch import free_port, torchrun
from reliability_workers import ddp_worker, gcn, graphs, train

WORLD_SIZE = 2


def test_ddp_on_two_processes_matches_one_process_on_the_full_batch(tmp_path: Path) -> None:
    mp.spawn(ddp_worker, args=(WORLD_SIZE, free_port(), str(tmp_path)), nprocs=WORLD_SIZE,
             join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]

    single = gcn()
    initial = {k: v.clone() for k, v in single.state_dict().items()}
    train(single, graphs())  # the full batch, the same mean loss
    expected = single.state_dict()

    assert list(ranks[0]) == list(expected)
    for name, value in expected.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), f"ranks differ on {name}"
        torch.testing.assert_close(ranks[0][name], value, atol=1e-6, rtol=0)
        assert not torch.equal(value, initial[name]), f"{name} did not train"


def test_ddp_example_runs_under_torchrun_and_reports_a_metric() -> None:
    stdout = torchrun("ddp_train.py", "--epochs", "2", timeout=180)
    lines = re.findall(r"epoch (\d+) loss (\d+\.\d+) accuracy (\d+\.\d+)", stdout)
    assert [int(e) for e, _, _ in lines] == [1, 2], stdout
    assert all(0.0 <= float(acc) <= 1.0 for _, _, acc in lines)
    assert "world size 2" in stdout
