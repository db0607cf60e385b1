"""Invariants 1 and 2 under kill -9: nothing accepted is lost, nothing is applied twice."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.topics import Topics
from cairn.readmodel.audit import verify_chain

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event, read_topic
from tests.processes import Service

EVENTS = 5_000
NAMES = 50


async def _count(conn: asyncpg.Connection, project: str) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
        " WHERE a.project = $1", project))


async def _kill_when(conn: asyncpg.Connection, project: str, at: int, ledger: Service) -> int:
    """Poll PostgreSQL until `at` versions are in, then kill -9 the ledger; the count seen."""
    while True:
        n = await _count(conn, project)
        if n >= at:
            ledger.kill()
            return n
        await asyncio.sleep(0.02)


def _changelog_seqs(cairn_env: dict[str, str], topic: str, project: str) -> list[int]:
    codec = AvroCodec(RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic, schemas.RECORDED)
    return [codec.decode(m.value())["seq"]
            for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic)
            if m.key().decode().startswith(project + "/")]


async def test_ledger_killed_twice_mid_stream_loses_and_repeats_nothing(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    project = f"crash{uuid.uuid4().hex[:6]}"
    events = [publish_event(project, f"run-{i % NAMES:02d}", "eval_log") for i in range(EVENTS)]
    emitter = emitter_for(cairn_env)
    t0 = time.monotonic()
    emitter.emit(*events)  # all accepted by Kafka (acks=all) before the ledger is touched
    print(f"emitted {EVENTS} in {time.monotonic() - t0:.1f}s")

    conn = await asyncpg.connect(namespace.database_url)
    try:
        first = await _kill_when(conn, project, 1_000, ledger)
        ledger.start()
        second = await _kill_when(conn, project, 3_000, ledger)
        ledger.start()
        for _ in range(600):
            if await _count(conn, project) >= EVENTS:
                break
            await asyncio.sleep(0.2)
        print(f"killed at {first} and {second}; all recorded after {time.monotonic() - t0:.1f}s")
        await asyncio.sleep(2)  # anything extra would show up now
        assert first < EVENTS and second < EVENTS, "the kills must land mid-stream"
        assert await _count(conn, project) == EVENTS
        logged = await conn.fetch(
            "SELECT seq FROM event_log WHERE artifact LIKE $1 || '/%'", project)
        assert len(logged) == EVENTS
        numbers = await conn.fetch(
            "SELECT a.name, array_agg(v.version_number ORDER BY v.version_number) AS nums"
            " FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1"
            " GROUP BY a.name", project)
        assert len(numbers) == NAMES
        assert all(r["nums"] == list(range(1, EVENTS // NAMES + 1)) for r in numbers)
    finally:
        await conn.close()

    seqs = _changelog_seqs(cairn_env, Topics(namespace.topic_prefix).changelog, project)
    assert set(seqs) == {r["seq"] for r in logged}  # every seq published; repeats allowed
    assert (await verify_chain(namespace.database_url)).ok
