"""What the validator reads from the ledger's PostgreSQL (through cairn.readmodel): read-only,
never a write.

Only the ledger writes; the validator answers with events. Reads happen after the ledger
committed the record being judged (it publishes to the changelog only after its commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import asyncpg

from cairn.core.domain.environments import with_environment
from cairn.core.domain.event_types import RecordedEvent
from cairn.readmodel.environments import environment_bodies
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


class EnvironmentStore:
    """Whole environments by digest, so checks, hooks and plugins see a version's packages as
    before environments were stored once: learned from the changelog records that carry one
    (the first with its digest), the others read in one query a batch. Bounded: a store
    that outgrows KEEP starts afresh."""

    KEEP = 1024

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._known: dict[str, dict[str, Any]] = {}

    async def whole(self, records: Sequence[RecordedEvent]) -> list[RecordedEvent]:
        """The records with each state's environment whole (a state without a digest has it)."""
        if len(self._known) > self.KEEP:
            self._known.clear()
        for r in records:
            if r.get("environment") and (digest := r["state"].get("environment_digest")):
                self._known[digest] = dict(cast(dict[str, Any], r["environment"]))
        missing = {d for r in records
                   if (d := r["state"].get("environment_digest")) and d not in self._known}
        if missing:
            async with self.pool.acquire() as conn, conn.transaction(readonly=True):
                self._known.update(await environment_bodies(conn, missing))
        return [r if (d := r["state"].get("environment_digest")) not in self._known
                else cast(RecordedEvent, {**r, "state": with_environment(r["state"],
                                                                         self._known[d])})
                for r in records]
