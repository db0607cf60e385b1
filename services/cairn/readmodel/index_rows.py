"""Versions as search documents need them, read from the ledger's PostgreSQL (read-only).

Two readers: `cairn reindex` (an operator's rebuild of the index from the tables) and the
ledger's usage agent, which publishes usage totals with the version's state
(`usage_totals`). The indexer itself reads no table: the changelog and the usage totals
carry all it needs.

`states` is a batched `cairn.readmodel.versions.version_state` (the same query and record),
one round trip per page instead of one per version, so `cairn reindex` reads 100,000
versions in seconds. Usage counts come from the ledger's `usage_counts` table (migration
0002); where it does not exist yet, there is no usage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from cairn.readmodel.versions import STATE_SELECT, state_of

Usage = dict[str, int]
OVERLAP = dt.timedelta(seconds=5)  # a ledger transaction commits after it stamps updated_at

STATES_SQL = STATE_SELECT + " WHERE v.id = ANY($1::bigint[]) ORDER BY v.id"

USAGE_BY_KEY_SQL = """
SELECT a.project, a.name, v.version_number, u.views, u.downloads
FROM unnest($1::text[], $2::text[], $3::int[]) AS k(project, name, number)
JOIN artifacts a ON a.project = k.project AND a.name = k.name
JOIN versions v ON v.artifact_id = a.id AND v.version_number = k.number
JOIN usage_counts u ON u.version_id = v.id
"""


async def states(conn: asyncpg.Connection, version_ids: Sequence[int]
                 ) -> list[tuple[dict[str, Any], Usage | None]]:
    """(VersionState, usage) of each version, as the ledger has them now."""
    rows = await conn.fetch(STATES_SQL, list(version_ids))
    usage = await _usage_by_id(conn, [r["id"] for r in rows])
    return [(state_of(r), usage.get(r["id"])) for r in rows]


async def _usage_by_id(conn: asyncpg.Connection, version_ids: list[int]) -> dict[int, Usage]:
    try:
        async with conn.transaction():  # a savepoint: a missing table must not end the caller's
            rows = await conn.fetch("SELECT version_id, views, downloads FROM usage_counts"
                                    " WHERE version_id = ANY($1::bigint[])", version_ids)
    except asyncpg.UndefinedTableError:
        return {}
    return {r["version_id"]: {"views": r["views"], "downloads": r["downloads"]} for r in rows}


async def usage_totals(conn: asyncpg.Connection, version_ids: Sequence[int]
                       ) -> tuple[int, list[tuple[dict[str, Any], Usage | None]]]:
    """(chain head seq, [(VersionState, usage)]) read in one snapshot: the states and totals
    are exactly those of that seq, so a reader can order them against changelog records."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = int(await conn.fetchval("SELECT seq FROM chain_head WHERE id = 1"))
        return head, await states(conn, version_ids)


async def snapshot_head(conn: asyncpg.Connection) -> tuple[int, dt.datetime, int]:
    """(chain head seq, the snapshot's time, how many versions) of the caller's snapshot."""
    head = int(await conn.fetchval("SELECT seq FROM chain_head WHERE id = 1"))
    taken = await conn.fetchval("SELECT now()")
    total = int(await conn.fetchval("SELECT count(*) FROM versions"))
    return head, taken, total


async def version_id_page(conn: asyncpg.Connection, after: int, limit: int) -> list[int]:
    """The next `limit` version ids after `after`, in id order (a keyset page)."""
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM versions WHERE id > $1 ORDER BY id LIMIT $2", after, limit)]


async def changed_since(conn: asyncpg.Connection, head: int, taken: dt.datetime) -> list[int]:
    """Versions whose document may differ from the snapshot at (`head`, `taken`): any version
    of an artifact with a later event (an alias move changes a version the event is not
    about), and any whose usage was counted since."""
    rows = await conn.fetch(
        "SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
        " WHERE a.project || '/' || a.name IN (SELECT artifact FROM event_log WHERE seq > $1)",
        head)
    ids = {r["id"] for r in rows}
    try:
        async with conn.transaction():
            ids.update(r["version_id"] for r in await conn.fetch(
                "SELECT version_id FROM usage_counts WHERE updated_at > $1", taken - OVERLAP))
    except asyncpg.UndefinedTableError:
        pass
    return sorted(ids)
