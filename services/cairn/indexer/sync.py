"""Corrections the changelog alone cannot make, taken from PostgreSQL on a timer.

- Usage: views and downloads are counted by the ledger but never chained, so they reach
  the index here: usage rows changed since the last pass are rebuilt as documents.
- Aliases: when `latest` (or `prod`, ...) moves to another version, the changelog carries
  the new holder's state only; the former holder's document still lists the alias. After
  a batch is visible (one refresh interval), the artifacts it touched are compared alias by
  alias with the ledger and every version that differs is rebuilt.

Rebuilt documents have the version's current `updated_seq` as their engine version, so a
correction never replaces a newer state, and a later changelog state always wins over it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import structlog

from cairn.readmodel import index_rows as reads
from cairn.readmodel.index_rows import OVERLAP
from cairn.search.backend import SearchBackend
from cairn.search.reindex import rebuild

PoolFn = Callable[[], Awaitable[asyncpg.Pool]]
PAGE = 500
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Refresher:
    def __init__(self, backend: SearchBackend, alias: str, pool: PoolFn, *,
                 usage_every: float, visible_after: float) -> None:
        self.backend, self.alias, self.pool = backend, alias, pool
        self.usage_every, self.visible_after = usage_every, visible_after
        self.pending: dict[str, float] = {}  # artifact → when a batch touched it
        self.cursor: tuple[dt.datetime, int] = (EPOCH, 0)
        self.next_usage = 0.0
        self.usage_table = True
        self.log = structlog.get_logger("indexer")

    def touch(self, artifacts: Iterable[str]) -> None:
        now = time.monotonic()
        for artifact in artifacts:
            self.pending[artifact] = now

    async def run_once(self) -> None:
        await self.reconcile_aliases()
        if time.monotonic() >= self.next_usage:
            self.next_usage = time.monotonic() + self.usage_every
            await self.sync_usage()

    async def reconcile_aliases(self) -> int:
        cutoff = time.monotonic() - self.visible_after
        due = [a for a, at in self.pending.items() if at <= cutoff]
        fixed = 0
        for start in range(0, len(due), PAGE):
            chunk = due[start:start + PAGE]
            fixed += await self._reconcile(chunk)
            for artifact in chunk:  # unless a newer batch touched it meanwhile
                if self.pending.get(artifact, 0.0) <= cutoff:
                    self.pending.pop(artifact, None)
        return fixed

    async def _reconcile(self, artifacts: list[str]) -> int:
        # Make every bulk that touched these artifacts visible first: a replay under load can
        # take longer than one refresh interval, and a copy read too early is never read again.
        await self.backend.refresh(self.alias)
        indexed = await self._indexed_aliases(artifacts)
        async with (await self.pool()).acquire() as conn:
            holders = await reads.alias_holders(conn, artifacts)
            stale = [d for d in set(indexed) | set(holders)
                     if indexed.get(d, []) != (holders[d][1] if d in holders else [])]
            if not stale:
                return 0
            ids = {d: holders[d][0] for d in stale if d in holders}
            ids.update(await reads.version_ids(conn, [d for d in stale if d not in holders]))
            await rebuild(conn, self.backend, self.alias, sorted(ids.values()))
        self.log.info("aliases corrected", versions=len(ids))
        return len(ids)

    async def _indexed_aliases(self, artifacts: list[str]) -> dict[str, list[str]]:
        """doc id → aliases of every indexed version of these artifacts that lists one, paged
        by `ref`: after a replay one artifact can have hundreds of stale `latest` copies, and
        a capped single page would leave the rest uncorrected for good."""
        indexed: dict[str, list[str]] = {}
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": PAGE * 4, "_source": ["aliases"], "sort": [{"ref": "asc"}],
                "query": {"bool": {"filter": [{"terms": {"artifact": artifacts}},
                                              {"exists": {"field": "aliases"}}]}}}
            if after is not None:
                body["search_after"] = after
            hits = (await self.backend.search(self.alias, body))["hits"]["hits"]
            indexed.update((h["_id"], sorted(h["_source"].get("aliases") or [])) for h in hits)
            if len(hits) < PAGE * 4:
                return indexed
            after = hits[-1]["sort"]

    async def sync_usage(self) -> int:
        """Rebuild versions whose usage counts moved; a missing table is logged once."""
        done = 0
        after = (max(EPOCH, self.cursor[0] - OVERLAP), 0)
        async with (await self.pool()).acquire() as conn:
            while True:
                try:
                    rows = await reads.usage_changed(conn, after, PAGE)
                except asyncpg.UndefinedTableError:
                    if self.usage_table:
                        self.log.warning("usage_counts does not exist yet (ledger migration "
                                         "0002); usage sorting waits for it, will retry")
                    self.usage_table = False
                    return done
                self.usage_table = True
                if not rows:
                    return done
                await rebuild(conn, self.backend, self.alias, [vid for _, vid in rows])
                done += len(rows)
                after = rows[-1]
                self.cursor = max(self.cursor, after)
                if len(rows) < PAGE:
                    return done

    def status(self) -> dict[str, Any]:
        return {"pending_artifacts": len(self.pending), "usage_table": self.usage_table,
                "usage_cursor": self.cursor[0].isoformat()}
