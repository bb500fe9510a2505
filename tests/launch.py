"""Launching examples under torchrun on the loopback, for the multi-process tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    return env


def _start(command: list[str]) -> subprocess.Popen[str]:
    # A session of its own, so that on a timeout the launcher's workers die with it.
    return subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(run: subprocess.Popen[str], timeout: float) -> str:
    try:
        stdout, stderr = run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        stdout, stderr = run.communicate()
        raise AssertionError(f"torchrun timed out:\n{stdout}\n{stderr}") from None
    assert run.returncode == 0, stdout + stderr
    return stdout


def torchrun(script: str, *args: str, timeout: float) -> str:
    """Run ``examples/<script>`` on 2 ranks over gloo; its stdout (fails on a non-zero exit)."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        str(ROOT / "examples" / script), *args,
    ]
    return _finish(_start(command), timeout)


def torchrun_nodes(script: str, *args: str, nodes: int, timeout: float) -> list[str]:
    """Run ``examples/<script>`` as ``nodes`` torchrun launchers of one rank each, which meet
    through a c10d rendezvous on the loopback, as separate machines would; each one's stdout."""
    endpoint = f"127.0.0.1:{free_port()}"
    runs = [
        _start([
            sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}",
            "--nproc_per_node=1", "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}",
            "--rdzv_id=graphseq-test", "--max_restarts=0",
            str(ROOT / "examples" / script), *args,
        ])
        for _ in range(nodes)
    ]
    return [_finish(run, timeout) for run in runs]
