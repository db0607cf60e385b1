"""What the indexer reads from the ledger's PostgreSQL (read-only; only the ledger writes).

`states` is a batched `cairn.readmodel.versions.version_state` (the same query and record),
one round trip per page instead of one per version, so
`cairn reindex` reads 100,000 versions in seconds. Usage counts come from the ledger's
`usage_counts` table (migration 0002); where it does not exist yet, there is no usage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from cairn.readmodel.versions import STATE_SELECT, state_of

Key = tuple[str, str, int]  # (project, name, version_number)
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


async def usage_by_key(conn: asyncpg.Connection, keys: Sequence[Key]) -> dict[Key, Usage]:
    """Usage of the versions a changelog batch is about (UndefinedTableError if no table)."""
    if not keys:
        return {}
    rows = await conn.fetch(USAGE_BY_KEY_SQL, [k[0] for k in keys], [k[1] for k in keys],
                            [k[2] for k in keys])
    return {(r["project"], r["name"], r["version_number"]):
            {"views": r["views"], "downloads": r["downloads"]} for r in rows}


async def usage_changed(conn: asyncpg.Connection, after: tuple[dt.datetime, int], limit: int
                        ) -> list[tuple[dt.datetime, int]]:
    """(updated_at, version_id) of usage rows after a cursor, oldest first (keyset paging:
    one ledger batch stamps many rows with the same time)."""
    rows = await conn.fetch(
        "SELECT updated_at, version_id FROM usage_counts WHERE (updated_at, version_id) > ($1, $2)"
        " ORDER BY updated_at, version_id LIMIT $3", after[0], after[1], limit)
    return [(r["updated_at"], r["version_id"]) for r in rows]


async def alias_holders(conn: asyncpg.Connection, artifacts: Sequence[str]
                        ) -> dict[str, tuple[int, list[str]]]:
    """doc id → (version id, aliases) of every version holding an alias in these artifacts."""
    rows = await conn.fetch(
        "SELECT a.project, a.name, v.version_number, v.id, array_agg(al.alias ORDER BY al.alias)"
        " AS aliases FROM aliases al JOIN versions v ON v.id = al.version_id"
        " JOIN artifacts a ON a.id = al.artifact_id"
        " JOIN unnest($1::text[], $2::text[]) AS k(project, name)"
        " ON a.project = k.project AND a.name = k.name"
        " GROUP BY a.project, a.name, v.version_number, v.id",
        [a.split("/", 1)[0] for a in artifacts], [a.split("/", 1)[1] for a in artifacts])
    return {f"{r['project']}/{r['name']}@v{r['version_number']}": (r["id"], list(r["aliases"]))
            for r in rows}


async def version_ids(conn: asyncpg.Connection, doc_ids: Sequence[str]) -> dict[str, int]:
    """doc id (`project/name@vN`) → version id."""
    keys = [(d.split("/", 1)[0], *d.split("/", 1)[1].rsplit("@v", 1)) for d in doc_ids]
    rows = await conn.fetch(
        "SELECT a.project, a.name, v.version_number, v.id"
        " FROM unnest($1::text[], $2::text[], $3::int[]) AS k(project, name, number)"
        " JOIN artifacts a ON a.project = k.project AND a.name = k.name"
        " JOIN versions v ON v.artifact_id = a.id AND v.version_number = k.number",
        [k[0] for k in keys], [k[1] for k in keys], [int(k[2]) for k in keys])
    return {f"{r['project']}/{r['name']}@v{r['version_number']}": r["id"] for r in rows}


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
