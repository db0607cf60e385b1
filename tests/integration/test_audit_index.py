"""Migration 0007 on the stack's PostgreSQL, in a scratch database: the audit log's project
filter reads the event_log_project index (EXPLAIN), with the values of a call and with the
generic plan a prepared statement may settle on; and the migration goes down and up again.
The rows are made up (no chain is checked here): only the plan matters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from alembic import command
from cairn.ledger.migrate import alembic_config, upgrade
from cairn.readmodel.audit import PROJECT_ENTRIES_SQL

from tests.conftest import _with_database, admin_sql

ROWS = """
CREATE TEMP TABLE made AS
SELECT i AS seq, gen_random_uuid() AS event_id, 'p' || (i % 200) || '/thing' AS artifact,
       t AS event_type, 'applied' AS outcome, 'someone' AS actor, now() AS occurred_at,
       now() AS recorded_at, CASE t WHEN 'AccessDenied' THEN
         jsonb_build_object('body', json_build_object('project', 'p' || (i % 200))::text)
       ELSE '{}'::jsonb END AS event, '{}'::jsonb AS state, 'x' AS prev_hash, 'x' AS hash,
       2::smallint AS chain_version
FROM generate_series(1, 30000) i,
     LATERAL (SELECT CASE WHEN i % 7 = 0 THEN 'AccessDenied' ELSE 'Published' END AS t) k
"""
COLUMNS = ("SELECT string_agg(column_name, ', ') FROM information_schema.columns WHERE "
           "table_name = 'event_log' AND column_name IN (SELECT column_name FROM "
           "information_schema.columns WHERE table_name = 'made')")


@pytest.fixture(scope="module")
def scratch_url(endpoints: Any) -> Iterator[str]:
    name = f"cairn_audit_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin_sql(endpoints.database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(endpoints.database_url, name)
    finally:
        asyncio.run(admin_sql(endpoints.database_url,
                              f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _plans(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(ROWS)
        columns = await conn.fetchval(COLUMNS)  # chain_version, where the chain has it
        await conn.execute(f"INSERT INTO event_log ({columns}) SELECT {columns} FROM made")
        await conn.execute("ANALYZE event_log")
        args = ("p7", None, None, None, None, None, 101)
        plans = []
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            rows = await conn.fetch(f"EXPLAIN {PROJECT_ENTRIES_SQL}", *args)
            plans.append("\n".join(r[0] for r in rows))
        denied = await conn.fetch(PROJECT_ENTRIES_SQL, "p7", None, ["AccessDenied"], None,
                                  None, None, 1000)
        assert denied and {r["project"] for r in denied} == {"p7"}
        return plans
    finally:
        await conn.close()


def test_the_project_filter_reads_the_index(scratch_url: str) -> None:
    upgrade(scratch_url)
    for plan in asyncio.run(_plans(scratch_url)):
        assert "event_log_project" in plan, plan
        assert "Seq Scan on event_log" not in plan, plan


def test_the_migration_goes_down_and_up(scratch_url: str) -> None:
    upgrade(scratch_url)
    config = alembic_config(scratch_url)
    command.downgrade(config, "0006")
    assert not asyncio.run(_has_index(scratch_url))
    upgrade(scratch_url)
    assert asyncio.run(_has_index(scratch_url))


async def _has_index(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'event_log_project'"))
    finally:
        await conn.close()
