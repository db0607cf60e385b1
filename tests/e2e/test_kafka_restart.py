"""Invariant 1 with the broker as the fault: Kafka is killed (SIGKILL) while producers
publish and the ledger and indexer consume, and comes back on the same ports and data;
once it is back, every event Kafka acknowledged is in the ledger exactly once and every
version in the index once.

Everything here runs on a private broker (tests/kafka_node.py) and its own database, so the
shared stack's Kafka is never touched; the schema registry and search engine are shared.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Namespace, admin_sql
from tests.e2e.faults import assert_indexed_once, assert_ledger_exact, private_env, reach
from tests.endpoints import Endpoints
from tests.kafka_node import KafkaNode, private_kafka  # noqa: F401 - fixture
from tests.ledger_helpers import emitter_for, publish_event
from tests.processes import Service
from tests.search_helpers import drop_indices

EVENTS = 2_000
BEFORE = 1_500  # published before the kill; the rest while the broker is down
NAMES = 20


@pytest.fixture
def own_database(endpoints: Endpoints, namespace: Namespace) -> Iterator[str]:
    name = f"{namespace.database}_kafka"
    asyncio.run(admin_sql(endpoints.database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield namespace.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin_sql(endpoints.database_url,
                              f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_kafka_killed_mid_stream_loses_and_repeats_nothing(
    private_kafka: KafkaNode,  # noqa: F811 - the fixture
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    broker = private_kafka
    env, project = private_env(cairn_env, namespace, "kf", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
                               DATABASE_URL=own_database)
    ledger = Service("ledger", env, tmp_path).start()
    indexer = Service("indexer", env, tmp_path).start()
    try:
        first = [publish_event(project, f"run-{i % NAMES:02d}", "eval_log")
                 for i in range(BEFORE)]
        later = [publish_event(project, f"run-{i % NAMES:02d}", "eval_log")
                 for i in range(BEFORE, EVENTS)]
        emitter_for(env).emit(*first)
        at_kill = await reach(own_database, project, 100, 120)
        broker.kill()
        # A producer publishing while the broker is down: its events wait in the
        # idempotent producer and are acknowledged once the broker is back.
        late = threading.Thread(target=lambda: emitter_for(env).emit(*later), daemon=True)
        late.start()
        await asyncio.sleep(4)
        broker.start()
        late.join(120)
        assert not late.is_alive(), "the producer never got its acknowledgements"
        print(f"killed Kafka at {at_kill} of {EVENTS} versions")
        assert at_kill < BEFORE, "the kill must land mid-stream"
        await assert_ledger_exact(own_database, project, EVENTS, NAMES)
        await assert_indexed_once(env, EVENTS)
    finally:
        indexer.stop()
        ledger.stop()
        drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
