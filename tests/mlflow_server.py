"""A real `mlflow server` for a test: MLflow from PyPI in its own virtualenv (the one
scripts/bench mlflow uses, .cache/bench/mlflow-venv, made once and reused; never Cairn's
lock), a PostgreSQL backend in a database of its own on the stack's PostgreSQL (dropped
afterwards), artifacts served by the server (--serve-artifacts) from a scratch directory, on
a free loopback port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.benchmarks.compare import (
    MLFLOW_VERSION,
    QUIET,
    VENV,
    free_port,
    mlflow_python,
    stop,
    wait_healthy,
)
from tests.conftest import admin_sql

SEED = Path(__file__).with_name("mlflow_seed.py")


@dataclass(frozen=True)
class Mlflow:
    uri: str
    python: Path
    log: Path

    def seed(self, scratch: Path) -> list[dict[str, Any]]:
        """Populate it with tests/mlflow_seed.py; what it logged."""
        done = subprocess.run([str(self.python), str(SEED), self.uri, str(scratch)],
                              capture_output=True, text=True, env=QUIET, timeout=300)
        assert done.returncode == 0, f"mlflow_seed.py: {done.stderr[-3000:]}"
        return list(json.loads(done.stdout.strip().splitlines()[-1]))


def venv_python() -> Path | str:
    """The MLflow virtualenv's python, made if missing; or why it cannot be made. The
    version is read from the package metadata first, which is much quicker than importing
    mlflow (as scripts/bench's check does)."""
    python = VENV / "bin" / "python"
    if python.exists():
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                               "print(m.version('mlflow'), m.version('psycopg2-binary'))"],
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split()[:1] == [MLFLOW_VERSION]:
            return python
    try:
        return mlflow_python()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"the MLflow virtualenv could not be made ({exc}); is PyPI reachable?"


@contextmanager
def running_mlflow(python: Path, database_url: str, scratch: Path) -> Iterator[Mlflow]:
    database = f"mlflow_test_{uuid.uuid4().hex[:8]}"
    base, _, _ = database_url.rpartition("/")
    backend = f"postgresql+psycopg2://{base.split('://', 1)[1]}/{database}"
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = scratch / "mlflow-server.log"
    asyncio.run(admin_sql(database_url, f'CREATE DATABASE "{database}"'))
    server = None
    try:
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(python), "-m", "mlflow", "server", "--backend-store-uri", backend,
                 "--serve-artifacts", "--artifacts-destination", str(scratch / "artifacts"),
                 "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
                 "--uvicorn-opts", "--timeout-worker-healthcheck 120"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=QUIET)
        wait_healthy(uri, server, log)
        yield Mlflow(uri, python, log)
    finally:
        if server is not None:
            stop(server)
        asyncio.run(admin_sql(database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
