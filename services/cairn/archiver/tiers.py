"""Where each blob belongs: the blob store (hot), the archive tier (cold), or nowhere.

Blobs are content-addressed and shared: one blob may be a file of several versions. So a
blob's place is decided from every version that lists it, as the ledger has them now: hot if
any active version lists it, else cold if any archived version does, else gone (only
tombstones list it). Placing is idempotent and depends only on the current state, so the
order in which lifecycle changes arrive, a repeated change or a crash between copying and
unlinking never leaves a blob in the wrong place once the last change was handled.
A move copies through `LocalBlobStore.put` (verified against the digest, atomic rename) and
only then unlinks the source.

A gone blob is not unlinked at once: it waits in a trash tier for a grace period
(CAIRN_BLOB_GRACE_SECONDS), because a client may have checked that the blob is stored, and
skipped its upload, just before the delete; its publish is recorded a moment later and the
archiver, placing that version's blobs, takes the blob back out of the trash. Only a blob
still gone after the grace period is removed for good (`purgeable`, then `place(…, purge)`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Literal

from cairn.core.adapters.blobstore import BlobCorrupted, LocalBlobStore
from cairn.core.adapters.settings import Settings

Place = Literal["hot", "cold", "gone"]


def archive_root(settings: Settings) -> Path:
    """CAIRN_ARCHIVE_DIR, or `archive` beside the blob directory."""
    return settings.archive_dir or settings.blob_dir.parent / "archive"


def placement(hot: bool, cold: bool) -> Place:
    return "hot" if hot else "cold" if cold else "gone"


class Tiers:
    def __init__(self, hot: LocalBlobStore, cold: LocalBlobStore,
                 trash: LocalBlobStore | None = None) -> None:
        self.hot, self.cold = hot, cold
        self.trash = trash or LocalBlobStore(cold.root / "trash")

    @classmethod
    def of(cls, settings: Settings) -> Tiers:
        return cls(LocalBlobStore(settings.blob_dir), LocalBlobStore(archive_root(settings)))

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
            src.path(sha256).unlink(missing_ok=True)
        return "restored" if where == "hot" else "archived"

    def _discard(self, sha256: str) -> str | None:
        held = [s for s in (self.hot, self.cold) if s.has(sha256)]
        if not held:
            return None
        if not self.trash.has(sha256):
            with suppress(BlobCorrupted):  # bad bytes are worth keeping for no one
                self.trash.put(held[0].open(sha256), expected_sha256=sha256)
        for store in held:
            store.path(sha256).unlink(missing_ok=True)
        return "removed"

    def _purge(self, sha256: str) -> str | None:
        held = [s.path(sha256) for s in (self.hot, self.cold, self.trash) if s.has(sha256)]
        for path in held:
            path.unlink(missing_ok=True)
        return "purged" if held else None

    def place_all(self, wanted: Mapping[str, Place], *, purge: bool = False) -> dict[str, str]:
        """sha256 → what was done, for the blobs that needed anything."""
        done = {sha: self.place(sha, where, purge=purge) for sha, where in sorted(wanted.items())}
        return {sha: what for sha, what in done.items() if what is not None}

    def purgeable(self, grace_seconds: float, now: float | None = None) -> Iterator[str]:
        """Blobs that entered the trash more than `grace_seconds` ago."""
        cutoff = (time.time() if now is None else now) - grace_seconds
        for path in sorted((self.trash.root / "sha256").glob("??/*")):
            if path.is_file() and path.stat().st_mtime <= cutoff:
                yield path.name
