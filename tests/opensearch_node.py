"""A private OpenSearch node for tests that stop the engine (never the shared stack's).

It runs from the distribution scripts/stack unpacked (.cache/stack/opensearch-*), on its
own free ports, with its own config copy, data and logs, as the unprivileged stack user
when the tests run as root (OpenSearch refuses root), with a 256 MB heap. Its directory is
a fresh one under /tmp rather than pytest's tmp_path: pytest keeps its base directory 0700
and tightens it again whenever another session starts, which would cut the service user off.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.endpoints import ROOT
from tests.processes import free_port, stop_group

VERSION = os.environ.get("CAIRN_OPENSEARCH_VERSION", "3.6.0")
JAVA_HOME = os.environ.get("CAIRN_MODERN_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64")
USER = os.environ.get("CAIRN_STACK_USER", "cairn")


def distribution() -> Path | None:
    found = sorted((ROOT / ".cache" / "stack" / f"opensearch-{VERSION}").glob("opensearch-*/"))
    return found[0] if found and (found[0] / "bin" / "opensearch").exists() else None


class OpenSearchNode:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.base = Path(tempfile.mkdtemp(prefix="cairn-test-opensearch-"))
        self.http_port, self.transport_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        shutil.copytree(home / "config", self.base / "config")
        (self.base / "config" / "jvm.options.d" / "cairn-heap.options").unlink(missing_ok=True)
        for sub in ("data", "logs"):
            (self.base / sub).mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(USER)
            for path in [self.base, *self.base.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        self.cluster = f"cairn-test-{uuid.uuid4().hex[:8]}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 180.0) -> OpenSearchNode:
        command = [
            str(self.home / "bin" / "opensearch"), "-Ediscovery.type=single-node",
            f"-Ecluster.name={self.cluster}", "-Enetwork.host=127.0.0.1",
            f"-Ehttp.port={self.http_port}", f"-Etransport.port={self.transport_port}",
            f"-Epath.data={self.base / 'data'}", f"-Epath.logs={self.base / 'logs'}",
            "-Ecluster.routing.allocation.disk.threshold_enabled=false",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base),
               "OPENSEARCH_JAVA_HOME": JAVA_HOME, "OPENSEARCH_PATH_CONF": str(self.base / "config"),
               "OPENSEARCH_JAVA_OPTS": "-Xms256m -Xmx256m"}
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--",
                       *command]
        with (self.base / "console.log").open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"OpenSearch exited ({self.proc.returncode}); see "
                                   f"{self.base / 'console.log'}")
            try:
                health = httpx.get(f"{self.url}/_cluster/health", timeout=2).json()
                if health.get("status") in ("yellow", "green"):
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"OpenSearch not healthy in {timeout}s; see {self.base}")

    def stop(self) -> None:
        """SIGTERM to its process group: a clean shutdown that keeps the data."""
        stop_group(self.proc, 60)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def private_opensearch() -> Iterator[OpenSearchNode]:
    """A started private node (module-scoped: starting one takes ~20 s)."""
    home = distribution()
    if home is None:
        pytest.skip(f"no OpenSearch distribution under .cache/stack/opensearch-{VERSION} "
                    "(scripts/stack up provisions it)")
    if not Path(JAVA_HOME, "bin", "java").exists():
        pytest.skip(f"no Java 21+ at {JAVA_HOME} (set CAIRN_MODERN_JAVA_HOME)")
    node = OpenSearchNode(home)
    try:
        yield node.start()
    finally:
        node.remove()
