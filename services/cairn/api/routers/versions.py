"""Changes to one version: descriptive metadata (audited, revertible), stage, lineage links.

The selector goes to the ledger as given (vN, digest prefix or alias): it resolves it when it
applies the event, in order with every other change to the artifact.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request

from cairn.api import commands, reads
from cairn.api.deps import CurrentActor, EmitterDep, ExistingArtifact, PoolDep, Selector
from cairn.api.errors import ApiError
from cairn.api.gates import authorize_hold
from cairn.api.models import Accepted, LinkIn, MetadataChanges, Revert, StageChange
from cairn.core.domain import checks, payloads
from cairn.core.domain.event_types import LinkAdded, MetadataEdited, StageChanged
from cairn.core.domain.identity import InvalidInput, check_name, check_stage

router = APIRouter(prefix="/v1/artifacts/{project}/{name}/versions/{selector}",
                   tags=["versions"])


@router.patch("/metadata", status_code=202)
async def edit_metadata(body: MetadataChanges, artifact: ExistingArtifact, selector: Selector,
                        actor: CurrentActor, emitter: EmitterDep, request: Request,
                        pool: PoolDep) -> Accepted:
    """Set descriptive fields (description, tags, card, ...); content never changes.
    Setting or releasing `legal_hold` needs the project's hold role (maintainer)."""
    changes = json.dumps(body.changes, sort_keys=True)
    checks.check_metadata_changes(changes)
    await authorize_hold(request, pool, artifact.split("/", 1)[0], body.changes)
    edit: MetadataEdited = {"version": selector, "changes": changes, "reverts": None}
    event_id = await commands.emit(emitter, artifact, "MetadataEdited", edit, actor)
    return Accepted(event_id=event_id)


@router.get("/history")
async def metadata_history(project: str, name: str, selector: Selector, pool: PoolDep
                           ) -> list[dict[str, Any]]:
    """Every metadata edit of the version, oldest first, with what it replaced."""
    check_name(project, "project")
    check_name(name)
    return await reads.edit_history(pool, project, name, selector)


@router.get("/events")
async def version_events(project: str, name: str, selector: Selector, pool: PoolDep
                         ) -> list[dict[str, Any]]:
    """Everything the ledger recorded about the version, oldest first: published, judged,
    staged, aliased, edited, linked, archived; who and when, and in a few words what."""
    check_name(project, "project")
    check_name(name)
    return await reads.version_events(pool, project, name, selector)


@router.post("/revert", status_code=202)
async def revert_edit(body: Revert, artifact: ExistingArtifact, selector: Selector,
                      actor: CurrentActor, emitter: EmitterDep, request: Request,
                      pool: PoolDep) -> Accepted:
    """Undo one edit: the ledger puts back the values that edit replaced. Undoing an edit
    that changed `legal_hold` changes it again, so it needs the hold role too."""
    try:
        edit = str(uuid.UUID(body.event_id))
    except ValueError:
        raise InvalidInput("invalid_event_id", f"{body.event_id!r} is not an event id") from None
    project, name = artifact.split("/", 1)
    undone = next((e for e in await reads.edit_history(pool, project, name, selector)
                   if e["event_id"] == edit), None)
    if undone is None:  # the ledger would refuse it; what it changed is unknown here
        raise ApiError(404, "unknown_edit", f"{artifact}@{selector} has no edit {edit} "
                       f"(see `cairn history {artifact}@{selector}`)")
    await authorize_hold(request, pool, project, undone["changes"])
    revert: MetadataEdited = {"version": selector, "changes": "{}", "reverts": edit}
    event_id = await commands.emit(emitter, artifact, "MetadataEdited", revert, actor)
    return Accepted(event_id=event_id)


@router.put("/stage", status_code=202)
async def set_stage(body: StageChange, artifact: ExistingArtifact, selector: Selector,
                    actor: CurrentActor, emitter: EmitterDep) -> Accepted:
    stage = check_stage(body.stage)
    staged: StageChanged = {"version": selector, "stage": stage}
    event_id = await commands.emit(emitter, artifact, "StageChanged", staged, actor)
    return Accepted(event_id=event_id)


@router.post("/links", status_code=202)
async def add_link(body: LinkIn, artifact: ExistingArtifact, selector: Selector,
                   actor: CurrentActor, emitter: EmitterDep) -> Accepted:
    """A lineage edge from this version to another artifact or to external code or data."""
    try:
        link = payloads.link(body.relation, body.target, body.external)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput("invalid_link", f"malformed link: {exc!r}") from exc
    added: LinkAdded = {"version": selector, "link": link}
    event_id = await commands.emit(emitter, artifact, "LinkAdded", added, actor)
    return Accepted(event_id=event_id)
