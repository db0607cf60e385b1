"""Run Cairn's services as real child processes in a test's namespace, and kill them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.endpoints import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_group(proc: subprocess.Popen[bytes] | None, wait: float = 10.0) -> None:
    """SIGKILL a child's whole process group: no shutdown hooks, no flushing."""
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(wait)


def stop_group(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM a child's whole process group, and SIGKILL it if it is not gone in `grace`
    seconds: every child a test starts (services, Kafka, OpenSearch) stops this way."""
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            kill_group(proc)


class Service:
    """`python -m cairn.<name>` with its own port, log file and environment."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        # Development mode: the fixed tokens of tests and benchmarks are fine here (a test
        # that checks production start-up sets CAIRN_ENVIRONMENT itself).
        self.env = {**os.environ, "CAIRN_ENVIRONMENT": "development", **env,
                    "CAIRN_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 90.0) -> Service:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"cairn.{self.name}"], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready in {ready_timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no flushing."""
        kill_group(self.proc)

    def stop(self) -> None:
        stop_group(self.proc, 20)
