"""What deciding who may see what reads: a project's configured settings, every project that
exists (with the private ones' settings), whether anything was published in a project, and
what a subscription is about. The api's visibility rules (cairn.api.hiding, .visibility,
.resolvers) decide on these; this module only reads them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cairn.readmodel.versions import Db

PROJECT_SQL = "SELECT body FROM config_items WHERE kind = 'project' AND key = $1 AND NOT removed"
# Every project that exists (configured, or with something published), with the settings of
# the private ones.
PROJECTS_SQL = ("SELECT key AS name, CASE WHEN body->>'visibility' = 'private' THEN body END"
                " AS private FROM config_items WHERE kind = 'project' AND NOT removed"
                " UNION ALL SELECT name, NULL FROM projects")
PUBLISHED_SQL = "SELECT EXISTS (SELECT 1 FROM projects WHERE name = $1)"
SUBSCRIPTION_SQL = ("SELECT body, removed FROM config_items WHERE kind = 'subscription'"
                    " AND key = $1")


@dataclass(frozen=True)
class ExistingProject:
    """A project that exists; `private` holds its settings when it is private, else None."""

    name: str
    private: dict[str, Any] | None


@dataclass(frozen=True)
class SubscriptionScope:
    """A subscription as its access is decided: its body (None once removed)."""

    body: dict[str, Any] | None


async def project_settings(db: Db, name: str) -> dict[str, Any] | None:
    """The project's configured settings, or None when it is not configured."""
    body = await db.fetchval(PROJECT_SQL, name)
    return None if body is None else dict(json.loads(body))


async def existing_projects(db: Db) -> list[ExistingProject]:
    """Every project that exists; a configured one that also has publications comes twice
    (once with its settings when private, once from `projects` with None)."""
    return [ExistingProject(r["name"], None if r["private"] is None else json.loads(r["private"]))
            for r in await db.fetch(PROJECTS_SQL)]


async def has_publications(db: Db, name: str) -> bool:
    """Was anything ever published in the project (an unconfigured project exists if so)?"""
    return bool(await db.fetchval(PUBLISHED_SQL, name))


async def subscription_scope(db: Db, sub_id: str) -> SubscriptionScope | None:
    """The subscription `sub_id`, or None when there never was one."""
    row = await db.fetchrow(SUBSCRIPTION_SQL, sub_id)
    if row is None:
        return None
    return SubscriptionScope(None if row["removed"] else dict(json.loads(row["body"])))
