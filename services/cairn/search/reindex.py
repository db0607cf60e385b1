"""Rebuild the search index from the ledger with no downtime: `cairn reindex`.

1. Create a new physical index `<alias>-<timestamp>` (current mappings) beside the live one.
2. Fill it from one REPEATABLE READ snapshot of PostgreSQL, noting the chain head seq.
3. Move the alias to it in one atomic `_aliases` request: searches never see no index.
4. Catch up: while we built, the running indexer kept writing the changelog into the old
   index; versions of artifacts changed after the snapshot (and usage counted since) are
   rebuilt into the new one, as of a new snapshot. Every write is a documents.merge as of
   the snapshot's chain head, so writing one twice, or after the indexer, is harmless.
5. After a grace period for searches still running on it, delete the old index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from cairn.core.adapters.settings import Settings
from cairn.readmodel import index_rows as reads
from cairn.search.backend import BulkResult, SearchBackend, alias_name, backend_for
from cairn.search.documents import merge
from cairn.search.engines import physical_name
from cairn.search.mappings import index_body

FILL_PAGE = 1000  # versions read per snapshot page
PAGE = 500  # documents per bulk request
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


async def rebuild(conn: asyncpg.Connection, backend: SearchBackend, target: str,
                  version_ids: Sequence[int], as_of: int, *, require_alias: bool = True
                  ) -> BulkResult:
    """Index these versions (with their usage) as the caller's snapshot has them, `as_of`
    its chain head seq: a rebuild never replaces a newer state the indexer wrote."""
    total = BulkResult()
    for start in range(0, len(version_ids), PAGE):
        docs = [merge(state, as_of, usage) for state, usage
                in await reads.states(conn, version_ids[start:start + PAGE])]
        result = await backend.bulk_merge(target, docs, require_alias=require_alias)
        total.indexed += result.indexed
        total.conflicts += result.conflicts
        total.rejected += result.rejected
    return total


async def _fill(conn: asyncpg.Connection, backend: SearchBackend, index: str, progress: Progress
                ) -> tuple[int, int, dt.datetime]:
    """Every version of one snapshot into `index`: (versions, head seq, snapshot time)."""
    head, taken, total = await reads.snapshot_head(conn)
    done, last = 0, 0
    progress(0, total)
    while True:
        ids = await reads.version_id_page(conn, last, FILL_PAGE)
        if not ids:
            return done, head, taken
        await rebuild(conn, backend, index, ids, head, require_alias=False)
        done, last = done + len(ids), ids[-1]
        progress(done, total)


async def rebuild_index(settings: Settings, progress: Progress = lambda done, total: None,
                        *, keep_old: bool = False, grace: float = 5.0) -> ReindexReport:
    started = time.monotonic()
    backend = backend_for(settings, patience=120.0)
    alias = alias_name(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        index = physical_name(alias)
        await backend.create_index(
            index, index_body(settings.search_refresh, settings.search_replicas))
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            versions, head, taken = await _fill(conn, backend, index, progress)
        await backend.refresh(index)
        old = await backend.swap_alias(alias, index)
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            now, _, _ = await reads.snapshot_head(conn)
            changed = await reads.changed_since(conn, head, taken)
            await rebuild(conn, backend, alias, changed, now)
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
