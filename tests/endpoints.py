"""Where the real services are: environment first, then testcontainers, then scripts/stack.

Integration tests never use stand-ins: this module only decides *which* real Kafka,
schema registry, search engine and PostgreSQL a test run talks to.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "SCHEMA_REGISTRY_URL",
    "SEARCH_URL",
    "SEARCH_ENGINE",
    "DATABASE_URL",
)


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    registry: str
    search_url: str
    search_engine: str
    database_url: str
    origin: str

    @classmethod
    def from_mapping(cls, env: dict[str, str], origin: str) -> Endpoints:
        return cls(
            kafka=env["KAFKA_BOOTSTRAP_SERVERS"],
            registry=env["SCHEMA_REGISTRY_URL"].rstrip("/"),
            search_url=env["SEARCH_URL"].rstrip("/"),
            search_engine=env.get("SEARCH_ENGINE", "opensearch"),
            database_url=env["DATABASE_URL"],
            origin=origin,
        )


def parse_exports(text: str) -> dict[str, str]:
    """Read `export NAME=value` lines, as `scripts/stack env` prints them."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            out[name] = value
    return out


def from_environment(env: dict[str, str] | None = None) -> Endpoints | None:
    env = dict(os.environ) if env is None else env
    if all(env.get(name) for name in VARIABLES if name != "SEARCH_ENGINE"):
        return Endpoints.from_mapping(env, origin="environment")
    return None


def docker_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextmanager
def from_testcontainers() -> Iterator[Endpoints]:
    """Start Kafka, Apicurio, OpenSearch and PostgreSQL containers for this run."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.opensearch import OpenSearchContainer
    from testcontainers.postgres import PostgresContainer

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.0").with_kraft())
        pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
        search = stack.enter_context(OpenSearchContainer("opensearchproject/opensearch:3.3.0"))
        registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
        stack.enter_context(registry)
        wait_for_logs(registry, "Installed features", timeout=120)
        host = registry.get_container_host_ip()
        yield Endpoints(
            kafka=kafka.get_bootstrap_server(),
            registry=f"http://{host}:{registry.get_exposed_port(8080)}/apis/ccompat/v7",
            search_url=f"http://{search.get_container_host_ip()}:{search.get_exposed_port(9200)}",
            search_engine="opensearch",
            database_url=pg.get_connection_url(),
            origin="testcontainers",
        )


def from_local_stack() -> Endpoints:
    """Bring up scripts/stack (idempotent) and read its endpoints."""
    stack = str(ROOT / "scripts" / "stack")
    up = subprocess.run([stack, "up", "--no-services"], capture_output=True, text=True)
    if up.returncode != 0:
        raise RuntimeError(f"scripts/stack up failed:\n{up.stderr[-3000:]}")
    env = subprocess.run([stack, "env"], capture_output=True, text=True, check=True).stdout
    return Endpoints.from_mapping(parse_exports(env), origin="scripts/stack")
