"""The digests of an artifact's versions that are neither archived nor deleted: what an
OpenLineage DROP of a dataset archives (cairn.core.domain.openlineage)."""

from __future__ import annotations

import asyncpg

from cairn.readmodel.versions import artifact_row, listed_versions

GONE = ("archived", "deleted")


async def live_digests(pool: asyncpg.Pool, artifact: str) -> list[str]:
    """By version number; none for an artifact the ledger has not recorded."""
    async with pool.acquire() as conn:
        row = await artifact_row(conn, artifact)
        if row is None:
            return []
        return [v.digest for v in await listed_versions(conn, row["id"]) if v.status not in GONE]
