"""A private PostgreSQL cluster for tests that crash the database (never the shared stack's).

Debian's server binaries (the same ones scripts/stack runs), a fresh cluster under /tmp on a
free port, trust authentication on loopback only, run as the unprivileged stack user when
the tests run as root (PostgreSQL refuses root). `crash()` is `pg_ctl stop -m immediate`:
no shutdown checkpoint, so the restart goes through crash recovery, as after a power cut.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_port

PG_BIN = Path(f"/usr/lib/postgresql/{os.environ.get('CAIRN_PG_VERSION', '15')}/bin")
USER = os.environ.get("CAIRN_STACK_USER", "cairn")


class PostgresNode:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="cairn-test-postgres-"))
        self.data = self.base / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            account = pwd.getpwnam(USER)
            os.chown(self.base, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/cairn"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--",
                       *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                cwd=self.base, env={**os.environ, "HOME": str(self.base)})
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> PostgresNode:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--auth=trust")
        return self

    def start(self) -> PostgresNode:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
                   "-c fsync=on -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "postgres.log"),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str = "cairn") -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PostgresNode]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN} (scripts/setup installs them)")
    node = PostgresNode()
    try:
        node.init().start()
        node.create_database()
        yield node
    finally:
        node.remove()

