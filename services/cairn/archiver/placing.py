"""Placing blobs against the ledger's current state, one archiver step at a time per blob.

Two changelog records that share a blob can be handled at once (they may sit on different
partitions): an archive of an old version and the publish of a new version with the same
file. If the archive's step read the state before the publish was recorded and moved the blob
after the publish's step had looked, the new version would be left without its bytes. So each
step takes a transaction-scoped advisory lock per blob (in digest order, so two steps never
wait on each other in a circle), reads the placement under it, and moves the files before
releasing it: the later step always sees the earlier one's result and the latest state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import asyncpg

from cairn.archiver.tiers import Place, Tiers, placement
from cairn.core.domain.event_types import RecordedEvent
from cairn.core.domain.events import payload_of
from cairn.readmodel.blob_places import blob_uses, lock_blobs


async def place_blobs(pool: asyncpg.Pool, tiers: Tiers, digests: Iterable[str], *,
                      purge: bool = False) -> dict[str, str]:
    """Put each blob where the ledger's state says, under its lock; sha256 → what was done.
    A blob no version lists any more counts as gone."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    async with pool.acquire() as conn, conn.transaction():
        await lock_blobs(conn, wanted)
        uses = await blob_uses(conn, wanted)
        places: dict[str, Place] = dict.fromkeys(wanted, "gone")
        places.update({u.sha256: placement(u.hot, u.cold) for u in uses})
        return await asyncio.to_thread(tiers.place_all, places, purge=purge)


PLACED = ("LifecycleRequested", "Published")  # the event types whose blobs move
# What `digests_to_place` reads of a changelog record (fields per record type): the archiver
# decodes only these, since a publish's whole state (metadata, environment, links) cost it
# 2.7 times as much to decode and was its largest cost.
READS = {"RecordedEvent": ("outcome", "event", "state"), "ArtifactEvent": ("payload",),
         "VersionState": ("content",), "Published": ("files",), "FileEntry": ("sha256",)}


def digests_to_place(records: Iterable[RecordedEvent]) -> tuple[set[str], set[str]]:
    """(blobs of versions whose lifecycle changed, blobs of versions just published).

    A publish can list a blob that a delete sent to the trash, or an archive to the cold
    tier, while the client was uploading the rest: placing its blobs brings them back."""
    moved: set[str] = set()
    published: set[str] = set()
    for record in records:
        if record["outcome"] != "applied":
            continue
        kind, _ = payload_of(record["event"])
        if kind in PLACED:
            files = {f["sha256"] for f in record["state"]["content"]["files"]}
            (moved if kind == "LifecycleRequested" else published).update(files)
    return moved, published
