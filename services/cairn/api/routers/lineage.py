"""Lineage graphs: what a version was made from (up), what was made from it (down), or both.

`GET /v1/lineage?ref=project/name@v3` is the canonical form; `GET /v1/lineage/project/name@v3`
answers the same, for people who type URLs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cairn.api import lineage
from cairn.api.deps import HiddenProjects, PoolDep
from cairn.core.domain.identity import InvalidInput

router = APIRouter(prefix="/v1/lineage", tags=["lineage"])


@router.get("")
async def get_lineage(pool: PoolDep, hidden: HiddenProjects, ref: str | None = None,
                      direction: str | None = None, depth: str | None = None) -> dict[str, Any]:
    """The graph around `ref`: nodes (versions, external code or data, links whose target
    is not recorded yet) and edges from the version declaring a link to its target. What the
    caller may not see (a version in a private project, a target in a project that does not
    exist) is a `{"redacted": true}` placeholder, and the walk ends there."""
    if not ref:
        raise InvalidInput("missing_ref", "give ref=project/name@vN (or :alias)")
    checked_direction, checked_depth = lineage.parse_params(direction, depth)
    return await lineage.graph(pool, ref, checked_direction, checked_depth, hidden)


@router.get("/{ref:path}")
async def get_lineage_by_path(ref: str, pool: PoolDep, hidden: HiddenProjects,
                              direction: str | None = None, depth: str | None = None
                              ) -> dict[str, Any]:
    return await get_lineage(pool, hidden, ref, direction, depth)
