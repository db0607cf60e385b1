"""Retention: a project's policy (a config item the ledger records), its plan and its
application; and archive, restore or delete of one version.

Every change is an event the ledger records or refuses (202 with the event_id to follow at
/v1/events/{event_id}). Applying a policy emits one LifecycleRequested per planned step,
with actor `archiver` and the requesting user named in its reason; the ledger refuses any
step whose version became protected after the plan was made.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter
from fastapi import Body as JsonBody
from pydantic import Field

from cairn.api import commands
from cairn.api.deps import CurrentActor, EmitterDep, ExistingArtifact, PoolDep, Selector
from cairn.api.errors import ApiError, Reason
from cairn.api.models import Accepted, Body
from cairn.api.reads import snapshot
from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.event_types import LifecycleRequested
from cairn.core.domain.events import new_config_event
from cairn.core.domain.identity import check_name
from cairn.core.domain.retention import check_policy
from cairn.core.domain.retention_requests import lifecycle_events, request_id
from cairn.readmodel.retention import KIND, plan_project, policy_of

router = APIRouter(tags=["retention"])
log = structlog.get_logger("api")
POLICY = "/v1/projects/{project}/retention"
VERSION = "/v1/artifacts/{project}/{name}/versions/{selector}"
Policy = JsonBody(description="A retention policy: {description?, scheduled?, rules: [...]} "
                  "(retention/README.md); `cairn retention set` sends a TOML file as this")


class LifecycleIn(Body):
    reason: str | None = Field(None, max_length=500)


def _no_policy(project: str) -> ApiError:
    return ApiError(404, Reason.NOT_FOUND, f"project {project} has no retention policy; set "
                    f"one with `cairn retention set {project} retention/{project}.toml`")


@router.put(POLICY, status_code=202)
async def set_policy(project: str, actor: CurrentActor, emitter: EmitterDep,
                     body: dict[str, Any] = Policy) -> dict[str, Any]:
    """Store the project's policy (checked here, and again by the ledger)."""
    policy = check_policy(body)
    event = new_config_event(KIND, check_name(project, "project"), policy, actor=actor,
                             tool="api")
    await emitter.emit_config_async(event)
    log.info("retention policy requested", project=project, actor=actor,
             event_id=event["event_id"])
    return {"project": project, "event_id": event["event_id"], "policy": policy}


@router.get(POLICY)
async def get_policy(project: str, pool: PoolDep) -> dict[str, Any]:
    """The stored policy, who set it and when."""
    async with snapshot(pool) as conn:
        stored = await policy_of(conn, check_name(project, "project"))
    if stored is None:
        raise _no_policy(project)
    return stored


@router.delete(POLICY, status_code=202)
async def remove_policy(project: str, actor: CurrentActor, pool: PoolDep, emitter: EmitterDep
                        ) -> dict[str, Any]:
    """Remove the policy: nothing is planned or applied for the project any more."""
    await get_policy(project, pool)
    event = new_config_event(KIND, project, None, actor=actor, tool="api")
    await emitter.emit_config_async(event)
    return {"project": project, "event_id": event["event_id"]}


@router.get(f"{POLICY}/plan")
async def get_plan(project: str, pool: PoolDep) -> dict[str, Any]:
    """What applying the stored policy now would do: each action with its reason, and the
    versions a rule selected that are protected (production, legal hold, referenced)."""
    stored, plan = await plan_project(pool, check_name(project, "project"))
    if stored is None:
        raise _no_policy(project)
    return {"project": project, "policy_seq": stored["seq"], **plan.as_json()}


@router.post(f"{POLICY}/plan")
async def preview_plan(project: str, pool: PoolDep, body: dict[str, Any] = Policy
                       ) -> dict[str, Any]:
    """What a policy that is not stored would do (try a file before `retention set`)."""
    _, plan = await plan_project(pool, check_name(project, "project"), check_policy(body))
    return {"project": project, "policy_seq": None, **plan.as_json()}


@router.post(f"{POLICY}/apply", status_code=202)
async def apply_policy(project: str, actor: CurrentActor, pool: PoolDep, emitter: EmitterDep
                       ) -> dict[str, Any]:
    """Plan now and emit one archive or delete request per step; the ledger applies them."""
    stored, plan = await plan_project(pool, check_name(project, "project"))
    if stored is None:
        raise _no_policy(project)
    events = lifecycle_events(project, plan, tool="api", note=f"applied by {actor}")
    if events:
        await emitter.emit_async(*events)
    log.info("retention applied", project=project, actor=actor, requested=len(events))
    return {"project": project, "policy_seq": stored["seq"],
            "requested": [{**s.as_json(), "event_id": request_id(s)} for s in plan.steps],
            "protected": [s.as_json() for s in plan.protected]}


async def _request(action: str, artifact: str, selector: str, body: LifecycleIn | None,
                   actor: str, emitter: Emitter) -> Accepted:
    requested: LifecycleRequested = {"version": selector, "action": action,
                                     "reason": body.reason if body is not None else None}
    return Accepted(event_id=await commands.emit(emitter, artifact, "LifecycleRequested",
                                                 requested, actor))


@router.post(f"{VERSION}/archive", status_code=202)
async def archive(artifact: ExistingArtifact, selector: Selector, actor: CurrentActor,
                  emitter: EmitterDep, body: LifecycleIn | None = None) -> Accepted:
    """Make the version read-only and move its blobs to the archive tier (restorable)."""
    return await _request("archive", artifact, selector, body, actor, emitter)


@router.post(f"{VERSION}/restore", status_code=202)
async def restore(artifact: ExistingArtifact, selector: Selector, actor: CurrentActor,
                  emitter: EmitterDep, body: LifecycleIn | None = None) -> Accepted:
    """Make an archived version active again; its blobs come back from the archive tier."""
    return await _request("restore", artifact, selector, body, actor, emitter)


@router.post(f"{VERSION}/delete", status_code=202)
async def delete(artifact: ExistingArtifact, selector: Selector, actor: CurrentActor,
                 emitter: EmitterDep, body: LifecycleIn | None = None) -> Accepted:
    """Remove the version's blobs for good; a tombstone keeps its metadata and lineage."""
    return await _request("delete", artifact, selector, body, actor, emitter)
