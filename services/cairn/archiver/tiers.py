"""Where each blob belongs: the blob store (hot), the archive tier (cold), or nowhere.

Blobs are content-addressed and shared: one blob may be a file of several versions. So a
blob's place is decided from every version that lists it, as the ledger has them now: hot if
any active version lists it, else cold if any archived version does, else gone (only
tombstones list it). Placing is idempotent and depends only on the current state, so the
order in which lifecycle changes arrive, a repeated change or a crash between copying and
unlinking never leaves a blob in the wrong place once the last change was handled.
A move copies through the destination's `put` (verified against the digest, visible only
once whole) and only then deletes the source. The tiers are blob stores of one kind: the
local directory and `archive` beside it, or S3 prefixes (cairn.core.adapters.blob_stores),
the archive tier's and the trash's objects in CAIRN_COLD_STORAGE_CLASS (STANDARD_IA,
GLACIER_IR, ...: classes read at once, so a restore is a copy like any other move).

A gone blob is not unlinked at once: it waits in a trash tier for a grace period
(CAIRN_BLOB_GRACE_SECONDS), because a client may have checked that the blob is stored, and
skipped its upload, just before the delete; its publish is recorded a moment later and the
archiver, placing that version's blobs, takes the blob back out of the trash. Only a blob
still gone after the grace period is removed for good (`purgeable`, then `place(…, purge)`).
On S3 the same tick aborts direct uploads begun before CAIRN_UPLOAD_EXPIRY_SECONDS and never
completed (`abandoned_uploads`), so an interrupted upload stays resumable that long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import Literal

from cairn.core.adapters.blob_stores import (
    cold_stores,
    hot_store,
    open_store,
    trash_location,
)
from cairn.core.adapters.blobstore import BlobCorrupted, BlobStore, Presigning
from cairn.core.adapters.settings import Settings

Place = Literal["hot", "cold", "gone"]


def placement(hot: bool, cold: bool) -> Place:
    return "hot" if hot else "cold" if cold else "gone"


class Tiers:
    def __init__(self, hot: BlobStore, cold: BlobStore, trash: BlobStore | None = None) -> None:
        self.hot, self.cold = hot, cold
        self.trash = trash or open_store(trash_location(cold.location))

    @classmethod
    def of(cls, settings: Settings) -> Tiers:
        return cls(hot_store(settings), *cold_stores(settings))

    def place(self, sha256: str, where: Place, *, purge: bool = False) -> str | None:
        """Put the blob where it belongs; what was done (archived, restored, removed,
        purged, missing, corrupted) or None when it was there already. A gone blob goes to
        the trash, or with `purge` is removed from every tier."""
        if where == "gone":
            return self._purge(sha256) if purge else self._discard(sha256)
        dst = self.hot if where == "hot" else self.cold
        sources = [s for s in (self.cold if where == "hot" else self.hot, self.trash)
                   if s.has(sha256)]
        if not sources:
            return None if dst.has(sha256) else "missing"
        if not dst.has(sha256):
            try:
                dst.put(sources[0].open(sha256), expected_sha256=sha256)
            except BlobCorrupted:
                return "corrupted"  # left where it is, for an operator to look at
        for src in sources:
            src.delete(sha256)
        return "restored" if where == "hot" else "archived"

    def _discard(self, sha256: str) -> str | None:
        held = [s for s in (self.hot, self.cold) if s.has(sha256)]
        if not held:
            return None
        if not self.trash.has(sha256):
            with suppress(BlobCorrupted):  # bad bytes are worth keeping for no one
                self.trash.put(held[0].open(sha256), expected_sha256=sha256)
        for store in held:
            store.delete(sha256)
        return "removed"

    def _purge(self, sha256: str) -> str | None:
        held = [s for s in (self.hot, self.cold, self.trash) if s.has(sha256)]
        for store in held:
            store.delete(sha256)
        return "purged" if held else None

    def place_all(self, wanted: Mapping[str, Place], *, purge: bool = False) -> dict[str, str]:
        """sha256 → what was done, for the blobs that needed anything."""
        done = {sha: self.place(sha, where, purge=purge) for sha, where in sorted(wanted.items())}
        return {sha: what for sha, what in done.items() if what is not None}

    def purgeable(self, grace_seconds: float, now: float | None = None) -> Iterator[str]:
        """Blobs that entered the trash more than `grace_seconds` ago."""
        yield from self.trash.entered_before((time.time() if now is None else now) - grace_seconds)

    def abandoned_uploads(self, expiry_seconds: float, now: float | None = None) -> list[str]:
        """Abort the direct uploads to the hot store begun more than `expiry_seconds` ago and
        never completed (CAIRN_UPLOAD_EXPIRY_SECONDS); their keys. A local store has none."""
        if not isinstance(self.hot, Presigning):
            return []
        return self.hot.abandoned((time.time() if now is None else now) - expiry_seconds)
