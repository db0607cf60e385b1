"""Projects as the ledger knows them: those with artifacts (`projects`, `artifacts`) and
those only configured (`config_items` of kind 'project')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cairn.readmodel.config import Db, loaded

NAMES_SQL = """
SELECT p.name, c.body FROM (
  SELECT name FROM projects UNION SELECT key FROM config_items
  WHERE kind = 'project' AND NOT removed
) p LEFT JOIN config_items c ON c.kind = 'project' AND c.key = p.name AND NOT c.removed
ORDER BY p.name
"""
ARTIFACT_SQL = "SELECT 1 FROM artifacts WHERE project = $1 AND name = $2"
ARTIFACTS_SQL = "SELECT name FROM artifacts WHERE project = $1 ORDER BY name"


@dataclass(frozen=True)
class NamedProject:
    name: str
    settings: dict[str, Any] | None  # its config item's body; None: never configured


async def all_projects(db: Db) -> list[NamedProject]:
    """Every project with an artifact or settings, by name."""
    return [NamedProject(r["name"], None if r["body"] is None else loaded(r["body"]))
            for r in await db.fetch(NAMES_SQL)]


async def artifact_names(db: Db, project: str) -> list[str]:
    """The names of the project's artifacts, as the ledger recorded them (no index lag)."""
    return [r["name"] for r in await db.fetch(ARTIFACTS_SQL, project)]


async def has_artifact(db: Db, project: str, name: str) -> bool:
    """Whether the ledger recorded an artifact `project/name`."""
    return bool(await db.fetchval(ARTIFACT_SQL, project, name))
