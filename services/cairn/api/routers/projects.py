"""Projects' access settings: visibility (public or private), members and teams with their
roles (viewer, contributor, maintainer, admin), and the age after which versions are
read-only. A project nobody configured is public and only administrators change it.

Setting them replaces the whole item (read it, change it, put it back: `cairn project
member add` does) and needs the admin role in the project, or a registry administrator
to configure a project for the first time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from cairn.api import config_store as store
from cairn.api.deps import CurrentPrincipal, EmitterDep, HiddenProjects, PoolDep
from cairn.api.models import Body
from cairn.core.domain.access import Project, role_in
from cairn.core.domain.identity import check_name
from cairn.readmodel.projects import all_projects, artifact_names

router = APIRouter(prefix="/v1/projects", tags=["projects"])


class ProjectIn(Body):
    visibility: str = "public"
    members: dict[str, str] = Field(default_factory=dict, description="user or service "
                                    "account -> viewer | contributor | maintainer | admin")
    teams: dict[str, str] = Field(default_factory=dict, description="team -> role")
    read_only_after_days: int | None = Field(None, ge=0, description="versions older than "
                                             "this refuse metadata edits and stage moves "
                                             "(except to archived)")
    description: str | None = None
    lifecycle: dict[str, Any] | None = Field(None, description="the stage ladder, stage "
                                             "gates and protected aliases "
                                             "(cairn.core.domain.lifecycle_rules)")
    openlineage: dict[str, list[str]] | None = Field(
        None, description="OpenLineage in: `namespaces` (OpenLineage namespaces whose datasets "
        "land in this project) and `models` (namespace/name globs of datasets that are "
        "models); see cairn.core.domain.openlineage")


def _summary(project: Project, principal: Any) -> dict[str, Any]:
    return {"name": project.name, "visibility": project.visibility,
            "configured": project.configured, "role": role_in(principal, project)}


@router.get("")
async def list_projects(principal: CurrentPrincipal, pool: PoolDep, hidden: HiddenProjects
                        ) -> list[dict[str, Any]]:
    """Every project the caller may see, with its visibility and the caller's role."""
    return [_summary(Project.of(p.name, p.settings), principal)
            for p in await all_projects(pool) if p.name not in hidden]


@router.get("/{project}")
async def get_project(project: str, principal: CurrentPrincipal, pool: PoolDep
                      ) -> dict[str, Any]:
    """The project's settings; members and teams only for those with a role in it."""
    found = await store.item(pool, "project", check_name(project, "project"))
    settings = Project.of(project, found)
    shown = {**_summary(settings, principal),
             "read_only_after_days": settings.read_only_after_days,
             "description": (found or {}).get("description"),
             "lifecycle": settings.lifecycle, "openlineage": (found or {}).get("openlineage")}
    if shown["role"] is not None:
        shown.update(members=dict(settings.members), teams=dict(settings.teams))
    if found is not None:
        shown.update({k: found[k] for k in ("changed_by", "updated_at", "seq")})
    return shown


@router.get("/{project}/artifacts")
async def list_artifacts(project: str, pool: PoolDep) -> dict[str, Any]:
    """The names of the project's artifacts, from the tables the ledger writes (what an
    export needs in full: the search index may lag)."""
    return {"project": project,
            "artifacts": await artifact_names(pool, check_name(project, "project"))}


@router.put("/{project}", status_code=202)
async def put_project(project: str, body: ProjectIn, principal: CurrentPrincipal,
                      emitter: EmitterDep) -> dict[str, Any]:
    """Set the project's visibility, members, teams and read-only threshold (all of them)."""
    return await store.put_named(emitter, "project", project, body, principal.name)
