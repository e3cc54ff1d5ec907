"""A one-node Ray cluster on loopback for tests: `ray start --head --block` in a process group of its own.

Everything stays on 127.0.0.1: the head is started with ``--node-ip-address 127.0.0.1`` and with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, Ray's switch for a one-machine cluster (without it Ray swaps
127.0.0.1 for the machine's network address, ``services.resolve_ip_for_localhost``, and listens on
every interface). Usage statistics are off. Token authentication is off: this cluster answers on
loopback only and lives for one test module, and Ray's driver reads its authentication mode when
Ray is first imported, which in a test session is before any fixture runs (nothing is read from or
written to ~/.ray). Every port is chosen free on loopback so two clusters on one machine do not
collide. The head's process group is ended by its id at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def driver_env() -> dict[str, str]:
    """What the test process (Ray's driver) and the head both need in their environment."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@contextmanager
def loopback_cluster(num_cpus: int = 2, timeout: float = 120.0) -> Iterator[tuple[str, dict[str, str]]]:
    """Start the head; yield its address (``127.0.0.1:PORT``) and the environment a driver needs."""
    env = driver_env()
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: Ray's unix sockets live under it
    log = temp / "head.log"
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus), "--num-gpus", "0",
               "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp),
               "--dashboard-agent-listen-port", str(free_port()),
               "--dashboard-agent-grpc-port", str(free_port()), "--metrics-export-port", str(free_port())]
    with open(log, "wb") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while b"Ray runtime started" not in log.read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test's Ray head did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", env
    finally:
        _end_group(head)
        shutil.rmtree(temp, ignore_errors=True)


def _end_group(head: subprocess.Popen) -> None:
    """SIGTERM the head's process group (its gcs_server, raylet, workers), then SIGKILL what is left:
    `ray start --block` does not stop every child on SIGTERM."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                break
            head.poll()
            time.sleep(0.1)
    head.wait(timeout=5)
