"""Where each blob belongs: the blob store (hot), the archive tier (cold), or nowhere.

Blobs are content-addressed and shared: one blob may be a file of several versions. So a
blob's place is decided from every version that lists it, as the ledger has them now: hot if
any active version lists it, else cold if any archived version does, else gone (only
tombstones list it). Placing is idempotent and depends only on the current state, so the
order in which lifecycle changes arrive, a repeated change or a crash between copying and
unlinking never leaves a blob in the wrong place once the last change was handled.
A move copies through `LocalBlobStore.put` (verified against the digest, atomic rename) and
only then unlinks the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from cairn.core.blobstore import BlobCorrupted, LocalBlobStore
from cairn.core.settings import Settings

Place = Literal["hot", "cold", "gone"]
PLACEMENT_SQL = """
SELECT f.sha256, bool_or(v.status = 'active') AS hot, bool_or(v.status = 'archived') AS cold
FROM files f JOIN versions v ON v.id = f.version_id
WHERE f.sha256 = ANY($1::text[]) GROUP BY f.sha256
"""


def archive_root(settings: Settings) -> Path:
    """CAIRN_ARCHIVE_DIR, or `archive` beside the blob directory."""
    return settings.archive_dir or settings.blob_dir.parent / "archive"


def placement(hot: bool, cold: bool) -> Place:
    return "hot" if hot else "cold" if cold else "gone"


class Tiers:
    def __init__(self, hot: LocalBlobStore, cold: LocalBlobStore) -> None:
        self.hot, self.cold = hot, cold

    def place(self, sha256: str, where: Place) -> str | None:
        """Put the blob where it belongs; what was done (archived, restored, removed,
        missing, corrupted) or None when it was there already."""
        if where == "gone":
            removed = [s.path(sha256) for s in (self.hot, self.cold) if s.has(sha256)]
            for path in removed:
                path.unlink(missing_ok=True)
            return "removed" if removed else None
        src, dst = (self.cold, self.hot) if where == "hot" else (self.hot, self.cold)
        if not src.has(sha256):
            return None if dst.has(sha256) else "missing"
        if not dst.has(sha256):
            try:
                dst.put(src.open(sha256), expected_sha256=sha256)
            except BlobCorrupted:
                return "corrupted"  # left where it is, for an operator to look at
        src.path(sha256).unlink(missing_ok=True)
        return "restored" if where == "hot" else "archived"

    def place_all(self, wanted: Mapping[str, Place]) -> dict[str, str]:
        """sha256 → what was done, for the blobs that needed anything."""
        done = {sha: self.place(sha, where) for sha, where in sorted(wanted.items())}
        return {sha: what for sha, what in done.items() if what is not None}
