"""Blobs as the versions' manifests list them (`files`): which projects list a blob, the
versions that do, and the path one version gives it. A blob belongs to every version listing
it, across projects; who may learn of it is the api's decision (cairn.api.downloads)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from cairn.readmodel.versions import Db

LISTING_SQL = """
SELECT DISTINCT f.sha256, a.project FROM files f JOIN versions v ON v.id = f.version_id
JOIN artifacts a ON a.id = v.artifact_id WHERE f.sha256 = ANY($1::text[])
"""
FIRST_TWO_SQL = """
SELECT a.project, a.name, v.digest, min(f.path) AS path FROM files f
JOIN versions v ON v.id = f.version_id JOIN artifacts a ON a.id = v.artifact_id
WHERE f.sha256 = $1 GROUP BY a.project, a.name, v.id ORDER BY v.id LIMIT 2
"""
PATH_SQL = "SELECT min(path) FROM files WHERE version_id = $1 AND sha256 = $2"


@dataclass(frozen=True)
class Listing:
    """A version whose manifest lists a blob, and the (first) path it gives the blob."""

    project: str
    name: str
    digest: str
    path: str


async def listing_projects(db: Db, shas: Iterable[str]) -> dict[str, set[str]]:
    """sha256 → the projects of the versions listing it (blobs nobody lists are left out)."""
    found: dict[str, set[str]] = defaultdict(set)
    for row in await db.fetch(LISTING_SQL, list(shas)):
        found[row["sha256"]].add(row["project"])
    return found


async def first_two_listings(db: Db, sha256: str) -> list[Listing]:
    """The two oldest versions listing the blob: enough to tell one from several."""
    return [Listing(r["project"], r["name"], r["digest"], r["path"])
            for r in await db.fetch(FIRST_TWO_SQL, sha256)]


async def path_in_version(db: Db, version_id: int, sha256: str) -> str | None:
    """The path the version's manifest gives the blob (the first, if several), or None."""
    path = await db.fetchval(PATH_SQL, version_id, sha256)
    return None if path is None else str(path)
