"""Distributed training: a graphseq GCN under DistributedDataParallel (gloo, loopback, CPU)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from reliability_workers import ddp_worker, gcn, graphs, train

WORLD_SIZE = 2
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        str(ROOT / "examples" / "ddp_train.py"), "--epochs", "2",
    ]
    # A session of its own, so that on a timeout the workers die with their launcher.
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as run:
        try:
            stdout, stderr = run.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            stdout, stderr = run.communicate()
            raise AssertionError(f"torchrun timed out:\n{stdout}\n{stderr}") from None
    assert run.returncode == 0, stdout + stderr
    lines = re.findall(r"epoch (\d+) loss (\d+\.\d+) accuracy (\d+\.\d+)", stdout)
    assert [int(e) for e, _, _ in lines] == [1, 2], stdout
    assert all(0.0 <= float(acc) <= 1.0 for _, _, acc in lines)
    assert "world size 2" in stdout
