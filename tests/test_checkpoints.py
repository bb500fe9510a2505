"""examples/large_graph.py's checkpoints: written atomically, and --resume takes the newest one
that loads, ignoring names that are not checkpoints. Light: no training, no torchrun."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("large_graph", ROOT / "examples" / "large_graph.py")
assert spec is not None and spec.loader is not None
large_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(large_graph)

CPU = torch.device("cpu")


def state(epoch: int) -> dict[str, object]:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}


def test_a_checkpoint_is_renamed_into_place_and_leaves_no_temporary_file(tmp_path: Path):
    path = large_graph.save_checkpoint(state(1), tmp_path, 1)
    assert path == tmp_path / "epoch_1.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_1.pt"]
    assert torch.load(path, weights_only=True)["epoch"] == 1


def test_a_write_that_fails_midway_keeps_the_old_checkpoint_and_no_partial_file(tmp_path: Path):
    large_graph.save_checkpoint(state(1), tmp_path, 1)
    broken = {**state(2), "extra": lambda: None}  # torch.save fails partway: cannot pickle it
    with pytest.raises(Exception, match="pickle|lambda"):
        large_graph.save_checkpoint(broken, tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_1.pt"]
    path, loaded = large_graph.load_latest_checkpoint(tmp_path, CPU)
    assert path.name == "epoch_1.pt" and loaded["epoch"] == 1


def test_resume_skips_a_truncated_newest_checkpoint_and_names_that_are_not_checkpoints(
    tmp_path: Path, capsys
):
    large_graph.save_checkpoint(state(1), tmp_path, 1)
    large_graph.save_checkpoint(state(2), tmp_path, 2)
    whole = tmp_path / "epoch_3.pt"
    large_graph.save_checkpoint(state(3), tmp_path, 3)
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # killed while writing
    torch.save(state(9), tmp_path / "epoch_best.pt")  # the user's own file: not a checkpoint
    (tmp_path / "epoch_10.pt.bak").write_bytes(b"")
    (tmp_path / ".epoch_4.pt.tmp").write_bytes(b"partial")
    found = large_graph.load_latest_checkpoint(tmp_path, CPU)
    assert found is not None
    path, loaded = found
    assert path.name == "epoch_2.pt" and loaded["epoch"] == 2
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("skipping epoch_3.pt: it does not load (")


def test_epochs_sort_by_number_not_by_text(tmp_path: Path):
    for epoch in (2, 10, 9):
        large_graph.save_checkpoint(state(epoch), tmp_path, epoch)
    assert [e for e, _ in large_graph.checkpoints(tmp_path)] == [10, 9, 2]
    torch.save({"weights": 1}, tmp_path / "epoch_11.pt")  # loads, but is not this script's
    path, _ = large_graph.load_latest_checkpoint(tmp_path, CPU, say=False)
    assert path.name == "epoch_10.pt"


def test_no_complete_checkpoint_resumes_from_nothing(tmp_path: Path):
    (tmp_path / "epoch_1.pt").write_bytes(b"not a zip")
    assert large_graph.load_latest_checkpoint(tmp_path, CPU, say=False) is None
    assert large_graph.load_latest_checkpoint(tmp_path / "missing", CPU) is None
