"""OpenLineage in over HTTP: `POST /api/v1/lineage` (the path Marquez serves, so an
OpenLineage client set up for Marquez needs only a new URL and a Cairn token as its api_key)
and `POST /v1/openlineage`. A body is one event, or a JSON array of them (a batch).

Each event is checked against the spec's schema (400 `invalid_openlineage` naming the field),
mapped (cairn.core.domain.openlineage: the mapping table is there), its projects authorized
as a publish (401 without a token, 403 without the role), then emitted like any publish:
events topic → ledger → changelog. A batch answers 207 with one result per event, in order,
so its good events are kept when others are refused.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cairn.api.deps import BlobsDep, CurrentActor, EmitterDep, PoolDep, SettingsDep
from cairn.api.errors import ApiError
from cairn.api.guard import authorize
from cairn.core.adapters.openlineage_emit import emit_mapped, mapped_live
from cairn.core.adapters.settings import Settings
from cairn.core.domain import error_codes
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.openlineage import Routing, projects_of, routing_of
from cairn.core.domain.openlineage_schema import check_event
from cairn.readmodel.live_versions import live_digests
from cairn.readmodel.projects import all_projects

router = APIRouter(tags=["openlineage"])
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "a batch: one result per event, in order (`status` 202 with its "
                         "`event_ids`, or the refusal's status and `error`)"},
    202: {"description": "one event: the Cairn events it became (`event_ids`, to follow at "
                         "/v1/events/{id}), the versions published and the artifacts archived"}}
BODY = {"requestBody": {"required": True, "description": "an OpenLineage RunEvent, "
                        "DatasetEvent or JobEvent (spec 2-0-2), or a JSON array of them",
                        "content": {"application/json": {"schema": {
                            "oneOf": [{"type": "object"}, {"type": "array",
                                                           "items": {"type": "object"}}]}}}}}


async def _routing(pool: PoolDep, settings: Settings) -> Routing:
    return routing_of([(p.name, p.settings) for p in await all_projects(pool)],
                      settings.openlineage_project)


async def _take(request: Request, event: Any, routing: Routing, *, actor: str,
                settings: Settings, blobs: BlobsDep, emitter: EmitterDep, pool: PoolDep
                ) -> dict[str, Any]:
    """One event: checked, mapped, authorized, emitted; the ids to follow."""
    checked = check_event(event)
    result = await mapped_live(checked, routing, settings.kind_list,
                               lambda artifact: live_digests(pool, artifact))
    for project in sorted(projects_of(checked, routing)):
        await authorize(request, "publish", project)
    ids = await emit_mapped(emitter, blobs, result, actor=actor, tool="api")
    return {"status": 202, "event_ids": ids,
            "versions": [{"artifact": v.artifact, "digest": v.body["digest"],
                          "kind": v.body["kind"]} for v in result.versions],
            "archived": [a.artifact for a in result.archives]}


def _refusal(exc: InvalidInput | ApiError) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"status": exc.status, "error": {"reason": exc.reason, "message": exc.message}}
    code = error_codes.CODES.get(exc.reason)
    return {"status": code.status if code and code.status else 400,
            "error": {"reason": exc.reason, "message": str(exc)}}


async def _lineage(request: Request, actor: str, settings: Settings, blobs: BlobsDep,
                   emitter: EmitterDep, pool: PoolDep) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise InvalidInput("invalid_json", f"the body is not JSON: {exc}") from None
    routing = await _routing(pool, settings)
    if not isinstance(body, list):
        taken = await _take(request, body, routing, actor=actor, settings=settings,
                            blobs=blobs, emitter=emitter, pool=pool)
        return JSONResponse(taken, status_code=202)
    results = []
    for index, event in enumerate(body):
        try:
            results.append({"index": index, **await _take(
                request, event, routing, actor=actor, settings=settings, blobs=blobs,
                emitter=emitter, pool=pool)})
        except (InvalidInput, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.status == 401:
                raise
            results.append({"index": index, **_refusal(exc)})
    return JSONResponse({"results": results}, status_code=200)


@router.post("/api/v1/lineage", openapi_extra=BODY, status_code=202, responses=ANSWERS)
async def lineage(request: Request, actor: CurrentActor, settings: SettingsDep,
                  blobs: BlobsDep, emitter: EmitterDep, pool: PoolDep) -> JSONResponse:
    """Take OpenLineage events (Marquez's path): 202 with the Cairn events to follow at
    /v1/events/{id}; a batch (JSON array) 200 with a result per event."""
    return await _lineage(request, actor, settings, blobs, emitter, pool)


@router.post("/v1/openlineage", openapi_extra=BODY, status_code=202, responses=ANSWERS)
async def openlineage(request: Request, actor: CurrentActor, settings: SettingsDep,
                      blobs: BlobsDep, emitter: EmitterDep, pool: PoolDep) -> JSONResponse:
    """The same as POST /api/v1/lineage, under Cairn's own prefix."""
    return await _lineage(request, actor, settings, blobs, emitter, pool)
