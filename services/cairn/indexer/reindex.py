"""Rebuild the search index from the ledger with no downtime: `cairn reindex`.

1. Create a new physical index `<alias>-<timestamp>` (current mappings) beside the live one.
2. Fill it from one REPEATABLE READ snapshot of PostgreSQL, noting the chain head seq.
3. Move the alias to it in one atomic `_aliases` request: searches never see no index.
4. Catch up: while we built, the running indexer kept writing the changelog into the old
   index; versions of artifacts changed after the snapshot (and usage counted since) are
   rebuilt into the new one. External versions make writing them twice harmless.
5. After a grace period for searches still running on it, delete the old index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from cairn.core.settings import Settings
from cairn.indexer.sync import OVERLAP, rebuild
from cairn.search.backend import SearchBackend, alias_name, backend_for
from cairn.search.engines import physical_name
from cairn.search.mappings import index_body

PAGE = 1000
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class ReindexReport:
    alias: str
    index: str
    versions: int
    caught_up: int
    seconds: float
    old: list[str] = field(default_factory=list)
    deleted_old: bool = False


async def _fill(conn: asyncpg.Connection, backend: SearchBackend, index: str, progress: Progress
                ) -> tuple[int, int, dt.datetime]:
    """Every version of one snapshot into `index`: (versions, head seq, snapshot time)."""
    head = int(await conn.fetchval("SELECT seq FROM chain_head WHERE id = 1"))
    taken = await conn.fetchval("SELECT now()")
    total = int(await conn.fetchval("SELECT count(*) FROM versions"))
    done, last = 0, 0
    progress(0, total)
    while True:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM versions WHERE id > $1 ORDER BY id LIMIT $2", last, PAGE)]
        if not ids:
            return done, head, taken
        await rebuild(conn, backend, index, ids, require_alias=False)
        done, last = done + len(ids), ids[-1]
        progress(done, total)


async def _changed_since(conn: asyncpg.Connection, head: int, taken: dt.datetime) -> list[int]:
    """Versions whose document may differ from the snapshot: any version of an artifact with
    a later event (an alias move changes a version the event is not about), and usage."""
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


async def rebuild_index(settings: Settings, progress: Progress = lambda done, total: None,
                        *, keep_old: bool = False, grace: float = 5.0) -> ReindexReport:
    started = time.monotonic()
    backend = backend_for(settings, patience=120.0)
    alias = alias_name(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        index = physical_name(alias)
        await backend.create_index(index, index_body(settings.search_refresh))
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            versions, head, taken = await _fill(conn, backend, index, progress)
        await backend.refresh(index)
        old = await backend.swap_alias(alias, index)
        async with pool.acquire() as conn:
            changed = await _changed_since(conn, head, taken)
            await rebuild(conn, backend, alias, changed)
        report = ReindexReport(alias, index, versions, len(changed), 0.0, old)
        if old and not keep_old:
            await asyncio.sleep(grace)  # searches that resolved the alias before the swap
            for name in old:
                await backend.delete_index(name)
            report.deleted_old = True
        report.seconds = round(time.monotonic() - started, 2)
        return report
    finally:
        await pool.close()
        await backend.close()
