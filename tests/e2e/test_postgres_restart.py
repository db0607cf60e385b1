"""Invariant 1 with the database as the fault: PostgreSQL crashes (immediate stop, crash
recovery on restart) while the ledger records and the indexer indexes; once it is back,
every accepted event is in the ledger exactly once and every version in the index once.

The ledger and indexer here have their own PostgreSQL (tests/postgres_node.py), topic
prefix and index prefix, so the shared stack's database is never touched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from cairn.ledger.audit import verify_chain

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event
from tests.postgres_node import PostgresNode, private_postgres  # noqa: F401 - fixture
from tests.processes import Service
from tests.search_helpers import backend_of, drop_indices

EVENTS = 1_000
NAMES = 20


async def _recorded(url: str, project: str) -> int:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return -1  # down or recovering
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1", project))
    except asyncpg.PostgresError:
        return -1  # tables not migrated yet
    finally:
        await conn.close()


async def _until(predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within:.0f}s")
        await asyncio.sleep(0.2)


async def test_postgres_crash_mid_stream_loses_and_repeats_nothing(
    private_postgres: PostgresNode,  # noqa: F811 - the fixture
    cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    db = private_postgres
    suffix = uuid.uuid4().hex[:6]
    env = {**cairn_env, "DATABASE_URL": db.url,
           "CAIRN_TOPIC_PREFIX": f"{namespace.topic_prefix}pg{suffix}.",
           "CAIRN_INDEX_PREFIX": f"{namespace.index_prefix}-pg{suffix}"}
    project = f"pgcrash{suffix}"
    ledger = Service("ledger", env, tmp_path).start()
    indexer = Service("indexer", env, tmp_path).start()
    try:
        events = [publish_event(project, f"run-{i % NAMES:02d}", "eval_log")
                  for i in range(EVENTS)]
        emitter_for(env).emit(*events)  # all accepted by Kafka before the fault

        async def some_recorded() -> bool:
            return await _recorded(db.url, project) >= 200

        await _until(some_recorded, 120, "200 versions recorded")
        at_crash = await _recorded(db.url, project)
        db.crash()
        await asyncio.sleep(3)  # the ledger and indexer meet a dead database meanwhile
        db.start()
        print(f"crashed PostgreSQL at {at_crash} of {EVENTS} versions")
        assert at_crash < EVENTS, "the crash must land mid-stream"

        async def all_recorded() -> bool:
            return await _recorded(db.url, project) >= EVENTS

        await _until(all_recorded, 180, f"{EVENTS} versions recorded")
        await asyncio.sleep(2)  # anything extra would show up now
        conn = await asyncpg.connect(db.url)
        try:
            assert await _recorded(db.url, project) == EVENTS
            logged = await conn.fetchval(
                "SELECT count(DISTINCT event_id) FROM event_log WHERE artifact LIKE $1 || '/%'",
                project)
            rows = await conn.fetchval(
                "SELECT count(*) FROM event_log WHERE artifact LIKE $1 || '/%'", project)
            assert logged == rows == EVENTS
            numbers = await conn.fetch(
                "SELECT array_agg(v.version_number ORDER BY v.version_number) AS nums"
                " FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1"
                " GROUP BY a.name", project)
            assert [r["nums"] for r in numbers] == [list(range(1, EVENTS // NAMES + 1))] * NAMES
        finally:
            await conn.close()
        assert (await verify_chain(db.url)).ok

        backend, alias = backend_of(env)
        try:
            async def all_indexed() -> bool:
                await backend.refresh(alias)
                return await backend.count(alias) >= EVENTS

            await _until(all_indexed, 120, f"{EVENTS} documents searchable")
            await asyncio.sleep(1.5)
            await backend.refresh(alias)
            assert await backend.count(alias) == EVENTS  # one document per version, none twice
        finally:
            await backend.close()
    finally:
        indexer.stop()
        ledger.stop()
        drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])

