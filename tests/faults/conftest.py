"""Fixtures of the network-fault suite (`scripts/test -m faults`): Toxiproxy, a database of
the test's own (the Kafka kill test's) so its ledger's counts are its own, and `behind_proxy`:
a fault test's private environment with one of its endpoints behind a proxy of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Namespace
from tests.e2e.faults import private_env
from tests.e2e.test_kafka_restart import own_database  # noqa: F401 - the fixture
from tests.faults.toxiproxy import (
    Proxy,
    Toxiproxy,
    toxiproxy,  # noqa: F401 - the fixture
)


@dataclass(frozen=True)
class Proxied:
    """`env` (on the test's own database, private topics and index) and a fresh `project`;
    `url` is env[variable] through `proxy`, for the services the test puts behind it."""

    env: dict[str, str]
    project: str
    url: str
    proxy: Proxy


BehindProxy = Callable[..., Proxied]


@pytest.fixture
def behind_proxy(toxiproxy: Toxiproxy, own_database: str,  # noqa: F811 - the fixtures
                 cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path
                 ) -> Iterator[BehindProxy]:
    """`behind_proxy(tag, variable, **env)`: a Proxied whose proxy is healed when the test
    ends, whatever it left."""
    made: list[Proxy] = []

    def make(tag: str, variable: str, **overrides: str) -> Proxied:
        env, project = private_env(cairn_env, namespace, tag,
                                   **{"DATABASE_URL": own_database, **overrides})
        url, proxy = toxiproxy.url_through(f"{tag}-{namespace.run_id}-{tmp_path.name}",
                                           env[variable])
        made.append(proxy)
        return Proxied(env, project, url, proxy)

    yield make
    for proxy in made:
        proxy.heal()
