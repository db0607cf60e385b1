"""Environments stored once by digest (migration 0011): one by its digest, and how many
versions use it."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cairn.readmodel.versions import Db

BODY_SQL = "SELECT body FROM environments WHERE digest = $1"
BODIES_SQL = "SELECT digest, body FROM environments WHERE digest = ANY($1::text[])"
# The environment and the versions using it outside the projects in $2 (versions_environment
# is the index of which versions share it).
USE_SQL = """
SELECT e.body, e.first_seq,
       (SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id
        WHERE v.environment_digest = e.digest AND a.project <> ALL($2::text[])) AS versions
FROM environments e WHERE e.digest = $1
"""


@dataclass(frozen=True)
class EnvironmentUse:
    body: dict[str, Any]
    first_seq: int
    versions: int  # those in the projects the caller may see


async def environment_body(db: Db, digest: str) -> dict[str, Any]:
    """The whole environment a version's environment_digest names (the foreign key says
    there is one)."""
    return dict(json.loads(await db.fetchval(BODY_SQL, digest)))


async def environment_bodies(db: Db, digests: Collection[str]) -> dict[str, dict[str, Any]]:
    """The whole environments of `digests` (those that exist), by digest: one round trip."""
    rows = await db.fetch(BODIES_SQL, sorted(digests))
    return {r["digest"]: json.loads(r["body"]) for r in rows}


async def environment_use(db: Db, digest: str, hidden: Collection[str]
                          ) -> EnvironmentUse | None:
    """The environment and how many versions outside the `hidden` projects use it; None
    when there is no such environment."""
    row = await db.fetchrow(USE_SQL, digest, sorted(hidden))
    return None if row is None else EnvironmentUse(
        json.loads(row["body"]), row["first_seq"], row["versions"])
