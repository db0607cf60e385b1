"""Aliases (`prod`, `champion`, ...): names that move between versions. `latest` is the
ledger's own and always points at the newest version."""

from __future__ import annotations

from fastapi import APIRouter

from cairn.api import commands
from cairn.api.deps import CurrentActor, EmitterDep, ExistingArtifact, check_selector
from cairn.api.models import Accepted, AliasTarget
from cairn.core.domain.event_types import AliasMoved
from cairn.core.domain.identity import InvalidInput, check_alias

router = APIRouter(prefix="/v1/artifacts/{project}/{name}/aliases", tags=["aliases"])


def _movable(alias: str) -> str:
    check_alias(alias)
    if alias == "latest":
        raise InvalidInput("reserved_alias", "'latest' always points at the newest version")
    return alias


@router.put("/{alias}", status_code=202)
async def move_alias(alias: str, body: AliasTarget, artifact: ExistingArtifact,
                     actor: CurrentActor, emitter: EmitterDep) -> Accepted:
    """Point the alias at a version (vN or digest prefix), creating it if needed."""
    moved: AliasMoved = {"alias": _movable(alias), "version": check_selector(body.version)}
    event_id = await commands.emit(emitter, artifact, "AliasMoved", moved, actor)
    return Accepted(event_id=event_id)


@router.delete("/{alias}", status_code=202)
async def remove_alias(alias: str, artifact: ExistingArtifact, actor: CurrentActor,
                       emitter: EmitterDep) -> Accepted:
    removed: AliasMoved = {"alias": _movable(alias), "version": None}
    event_id = await commands.emit(emitter, artifact, "AliasMoved", removed, actor)
    return Accepted(event_id=event_id)
