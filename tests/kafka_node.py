"""A private Kafka broker for tests that crash Kafka (never the shared stack's).

The jars scripts/stack fetched (.cache/stack/kafka-<v>/libs), KRaft combined mode, one
node, its own free ports and log directory under /tmp. `kill()` is SIGKILL: no controlled
shutdown; the same ports and data come back with `start()`.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.endpoints import ROOT
from tests.processes import free_port, kill_group

VERSION = os.environ.get("CAIRN_KAFKA_VERSION", "4.4.0")
JAVA_HOME = os.environ.get("CAIRN_JAVA17_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")


def libs() -> Path | None:
    found = ROOT / ".cache" / "stack" / f"kafka-{VERSION}" / "libs"
    return found if found.is_dir() and any(found.glob("kafka_*.jar")) else None


class KafkaNode:
    def __init__(self, lib_dir: Path) -> None:
        self.libs = lib_dir
        self.base = Path(tempfile.mkdtemp(prefix="cairn-test-kafka-"))
        self.port, self.controller_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self.base / "server.properties"
        self.config.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.base / 'data'}", "num.partitions=3",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1", "",
        ]))
        (self.base / "log4j2.properties").write_text("\n".join([
            "status = warn", "appender.console.type = Console", "appender.console.name = OUT",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO", "rootLogger.appenderRef.stdout.ref = OUT", ""]))
        cluster = "-"
        while cluster.startswith("-"):  # the tool's parser reads "-..." as an option (1 in 64)
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(self.config),
                   "--standalone", wait=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str, wait: bool = False) -> subprocess.Popen[bytes]:
        command = [f"{JAVA_HOME}/bin/java", "-Xms128m", "-Xmx384m", "-cp", f"{self.libs}/*",
                   f"-Dkafka.logs.dir={self.base}",
                   f"-Dlog4j2.configurationFile={self.base / 'log4j2.properties'}", *args]
        with (self.base / "kafka.log").open("ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        if wait and proc.wait(120) != 0:
            raise RuntimeError(f"{args[0]} failed; see {self.base / 'kafka.log'}")
        return proc

    def start(self, timeout: float = 90.0) -> KafkaNode:
        marker = (self.base / "kafka.log").stat().st_size
        self.proc = self._java("kafka.Kafka", str(self.config))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka exited; see {self.base / 'kafka.log'}")
            text = (self.base / "kafka.log").read_bytes()[marker:]
            if b"Kafka Server started" in text and self._listening():
                return self
            time.sleep(0.3)
        raise RuntimeError(f"Kafka not up in {timeout}s; see {self.base / 'kafka.log'}")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        kill_group(self.proc, 30)

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_kafka() -> Iterator[KafkaNode]:
    found = libs()
    if found is None:
        pytest.skip(f"no Kafka jars under .cache/stack/kafka-{VERSION} (scripts/stack up "
                    "provisions them)")
    node = KafkaNode(found)
    try:
        yield node.start()
    finally:
        node.remove()
