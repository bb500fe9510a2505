"""examples/large_graph.py on two "machines": two torchrun launchers of one rank each meet
through a c10d rendezvous on the loopback and train to the same parameters as one launcher
with two ranks."""

from __future__ import annotations

import re

import launch

SMALL = ["--nodes", "2000", "--edges", "20000", "--features", "8", "--classes", "3",
         "--hidden", "8", "--fanout", "4", "3", "2", "--batch-size", "64", "--max-batches", "2",
         "--sampler", "own", "--epochs", "1"]


def digests(stdout: str) -> dict[int, str]:
    return {int(r): d for r, d in re.findall(r"rank (\d) final parameters (\w+)", stdout)}


def test_two_nodes_of_one_rank_train_as_one_node_of_two_ranks(tmp_path):
    outs = launch.torchrun_nodes("large_graph.py", *SMALL, "--checkpoint-dir",
                                 str(tmp_path / "nodes"), nodes=2, timeout=240)
    per_node = [digests(out) for out in outs]
    assert sorted(rank for d in per_node for rank in d) == [0, 1]  # one rank on each "machine"
    assert any("world size 2" in out for out in outs), outs
    together = {**per_node[0], **per_node[1]}
    one_node = digests(launch.torchrun("large_graph.py", *SMALL, "--checkpoint-dir",
                                       str(tmp_path / "one"), timeout=240))
    assert one_node == together and len(set(together.values())) == 1, (one_node, together)
