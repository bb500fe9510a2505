"""examples/large_graph.py under torchrun with 2 ranks: identical parameters, and a resumed run
continues from its checkpoint to the same parameters as an uninterrupted one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch

import launch

SMALL = ["--nodes", "3000", "--edges", "30000", "--features", "8", "--classes", "3",
         "--hidden", "8", "--fanout", "4", "3", "2", "--batch-size", "64", "--max-batches", "3",
         "--sampler", "own"]


def torchrun(*args: str) -> str:
    return launch.torchrun("large_graph.py", *SMALL, *args, timeout=240)


def final_digests(stdout: str) -> dict[int, str]:
    return {int(r): d for r, d in re.findall(r"rank (\d) final parameters (\w+)", stdout)}


def test_two_ranks_train_alike_and_a_resumed_run_continues_from_the_checkpoint(
    tmp_path: Path,
) -> None:
    straight = tmp_path / "straight"
    out = torchrun("--epochs", "2", "--checkpoint-dir", str(straight))
    assert "own hop-ordered sampler" in out and "world size 2" in out
    epochs = re.findall(r"epoch (\d) loss ([\d.]+) val accuracy ([\d.]+)", out)
    assert [int(e) for e, _, _ in epochs] == [1, 2]
    assert all(0.0 <= float(acc) <= 1.0 for _, _, acc in epochs)
    digests = final_digests(out)
    assert set(digests) == {0, 1} and digests[0] == digests[1], out
    full = re.findall(r"full-graph inference over 3,000 nodes .* val accuracy ([\d.]+) "
                      r"test accuracy ([\d.]+)", out)
    assert len(full) == 1 and all(0.0 <= float(a) <= 1.0 for a in full[0]), out
    assert sorted(p.name for p in straight.iterdir()) == ["epoch_1.pt", "epoch_2.pt"]

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(straight / "epoch_1.pt", resumed / "epoch_1.pt")
    out = torchrun("--epochs", "2", "--checkpoint-dir", str(resumed), "--resume")
    assert "resumed from epoch_1.pt: epoch 1 done" in out
    assert [int(e) for e in re.findall(r"epoch (\d) loss", out)] == [2]
    assert final_digests(out) == digests

    first = torch.load(straight / "epoch_1.pt", weights_only=True)["model"]
    last = torch.load(resumed / "epoch_2.pt", weights_only=True)["model"]
    assert any(not torch.equal(first[k], last[k]) for k in first)  # epoch 2 did train
