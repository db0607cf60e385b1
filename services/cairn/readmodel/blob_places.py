"""Where the ledger's current state wants each blob: which versions list it, and in which
status. Read by the archiver under per-blob advisory locks that this module also takes, in
the archiver's own transaction (cairn.archiver.placing says why)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

# In digest order, so two transactions locking overlapping sets never wait in a circle.
LOCK_BLOBS = """
SELECT pg_advisory_xact_lock(hashtextextended('cairn.blob:' || d, 0))
FROM (SELECT DISTINCT d FROM unnest($1::text[]) AS d ORDER BY d) AS ordered
"""
PLACEMENT_SQL = """
SELECT f.sha256, bool_or(v.status = 'active') AS hot, bool_or(v.status = 'archived') AS cold
FROM files f JOIN versions v ON v.id = f.version_id
WHERE f.sha256 = ANY($1::text[]) GROUP BY f.sha256
"""


@dataclass(frozen=True)
class BlobUse:
    sha256: str
    hot: bool  # an active version lists it
    cold: bool  # an archived version lists it


async def lock_blobs(conn: asyncpg.Connection, digests: Sequence[str]) -> None:
    """Take each blob's transaction-scoped advisory lock; held until `conn`'s transaction
    (the caller's) ends."""
    await conn.execute(LOCK_BLOBS, list(digests))


async def blob_uses(conn: asyncpg.Connection, digests: Sequence[str]) -> list[BlobUse]:
    """The blobs of `digests` that some version lists; the others no version lists."""
    rows = await conn.fetch(PLACEMENT_SQL, list(digests))
    return [BlobUse(r["sha256"], r["hot"], r["cold"]) for r in rows]
