"""Invariant 1 with the database as the fault: PostgreSQL crashes (immediate stop, crash
recovery on restart) while the ledger records and the indexer indexes; once it is back,
every accepted event is in the ledger exactly once and every version in the index once.

The ledger and indexer here have their own PostgreSQL (tests/postgres_node.py), topic
prefix and index prefix, so the shared stack's database is never touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import Namespace
from tests.e2e.faults import assert_indexed_once, assert_ledger_exact, private_env, reach
from tests.ledger_helpers import emitter_for, publish_event
from tests.postgres_node import PostgresNode, private_postgres  # noqa: F401 - fixture
from tests.processes import Service
from tests.search_helpers import drop_indices

EVENTS = 1_000
NAMES = 20


async def test_postgres_crash_mid_stream_loses_and_repeats_nothing(
    private_postgres: PostgresNode,  # noqa: F811 - the fixture
    cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    db = private_postgres
    env, project = private_env(cairn_env, namespace, "pg", DATABASE_URL=db.url)
    ledger = Service("ledger", env, tmp_path).start()
    indexer = Service("indexer", env, tmp_path).start()
    try:
        emitter_for(env).emit(*(publish_event(project, f"run-{i % NAMES:02d}", "eval_log")
                                for i in range(EVENTS)))  # all accepted before the fault
        at_crash = await reach(db.url, project, 200, 120)
        db.crash()
        await asyncio.sleep(3)  # the ledger and indexer meet a dead database meanwhile
        db.start()
        print(f"crashed PostgreSQL at {at_crash} of {EVENTS} versions")
        assert at_crash < EVENTS, "the crash must land mid-stream"
        await assert_ledger_exact(db.url, project, EVENTS, NAMES)
        await assert_indexed_once(env, EVENTS)
    finally:
        indexer.stop()
        ledger.stop()
        drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
