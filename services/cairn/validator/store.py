"""What the validator reads from the ledger's PostgreSQL (through cairn.readmodel): read-only,
never a write.

Only the ledger writes; the validator answers with events. Reads happen after the ledger
committed the record being judged (it publishes to the changelog only after its commit).
"""

from __future__ import annotations

import asyncpg

from cairn.readmodel.links import OutgoingLink, VersionKey, outgoing_links
from cairn.validator.checks.lineage import LinkTarget


class LinkStore:
    """Links read for a whole batch at once (`prefetch`), then handed out per version: a
    query per version was a third of a judgement."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._read: dict[VersionKey, list[OutgoingLink]] = {}

    async def prefetch(self, versions: list[VersionKey]) -> None:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            self._read = await outgoing_links(conn, versions)

    async def __call__(self, project: str, name: str, digest: str) -> list[LinkTarget]:
        key = (project, name, digest)
        if key not in self._read:  # not prefetched: read it alone
            await self.prefetch([key])
        links = self._read.pop(key)  # used once: a later judgement reads afresh
        return [LinkTarget(link.relation, link.target_ref, link.resolved) for link in links]
