"""examples/large_graph.py under torchrun with 2 ranks: identical parameters; a resumed run
continues from its checkpoint to the same parameters as an uninterrupted one; and two
"machines" of one rank each, meeting through a c10d rendezvous, train to those parameters too."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

import launch

SMALL = ["--nodes", "3000", "--edges", "30000", "--features", "8", "--classes", "3",
         "--hidden", "8", "--fanout", "4", "3", "2", "--batch-size", "64", "--max-batches", "3",
         "--sampler", "own"]


def torchrun(*args: str) -> str:
    return launch.torchrun("large_graph.py", *SMALL, *args, timeout=240)


def final_digests(stdout: str) -> dict[int, str]:
    return {int(r): d for r, d in re.findall(r"rank (\d) final parameters (\w+)", stdout)}


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One uninterrupted 2-epoch run on one launcher of 2 ranks: its stdout and checkpoints."""
    folder = tmp_path_factory.mktemp("straight")
    return torchrun("--epochs", "2", "--checkpoint-dir", str(folder)), folder


def test_two_ranks_train_alike_and_a_resumed_run_continues_from_the_checkpoint(
    tmp_path: Path, straight: tuple[str, Path],
) -> None:
    out, straight_dir = straight
    assert "own hop-ordered sampler" in out and "world size 2" in out
    epochs = re.findall(r"epoch (\d) loss ([\d.]+) val accuracy ([\d.]+)", out)
    assert [int(e) for e, _, _ in epochs] == [1, 2]
    assert all(0.0 <= float(acc) <= 1.0 for _, _, acc in epochs)
    digests = final_digests(out)
    assert set(digests) == {0, 1} and digests[0] == digests[1], out
    full = re.findall(r"full-graph inference over 3,000 nodes .* val accuracy ([\d.]+) "
                      r"test accuracy ([\d.]+)", out)
    assert len(full) == 1 and all(0.0 <= float(a) <= 1.0 for a in full[0]), out
    assert sorted(p.name for p in straight_dir.iterdir()) == ["epoch_1.pt", "epoch_2.pt"]

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(straight_dir / "epoch_1.pt", resumed / "epoch_1.pt")
    out = torchrun("--epochs", "2", "--checkpoint-dir", str(resumed), "--resume")
    assert "resumed from epoch_1.pt: epoch 1 done" in out
    assert [int(e) for e in re.findall(r"epoch (\d) loss", out)] == [2]
    assert final_digests(out) == digests

    first = torch.load(straight_dir / "epoch_1.pt", weights_only=True)["model"]
    last = torch.load(resumed / "epoch_2.pt", weights_only=True)["model"]
    assert any(not torch.equal(first[k], last[k]) for k in first)  # epoch 2 did train


def test_two_machines_of_one_rank_train_as_one_machine_of_two_ranks(
    tmp_path: Path, straight: tuple[str, Path],
) -> None:
    outs = launch.torchrun_nodes("large_graph.py", *SMALL, "--epochs", "2", "--checkpoint-dir",
                                 str(tmp_path), nodes=2, timeout=240)
    per_machine = [final_digests(out) for out in outs]
    assert sorted(rank for d in per_machine for rank in d) == [0, 1]  # one rank on each
    assert any("world size 2" in out for out in outs), outs
    assert {**per_machine[0], **per_machine[1]} == final_digests(straight[0])
