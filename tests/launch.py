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


def torchrun(script: str, *args: str, timeout: float) -> str:
    """Run ``examples/<script>`` on 2 ranks over gloo; its stdout (fails on a non-zero exit).

    The launcher gets a session of its own, so that on a timeout its workers die with it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        str(ROOT / "examples" / script), *args,
    ]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as run:
        try:
            stdout, stderr = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            stdout, stderr = run.communicate()
            raise AssertionError(f"torchrun timed out:\n{stdout}\n{stderr}") from None
    assert run.returncode == 0, stdout + stderr
    return stdout
