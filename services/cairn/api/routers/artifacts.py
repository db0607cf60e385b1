"""Publish artifact versions and read them back (by version, digest prefix, alias or ref)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from cairn.api import batch_publish, commands, reads, record_waits
from cairn.api.deps import (
    BlobsDep,
    CommitsDep,
    CurrentActor,
    CurrentPrincipal,
    EmitterDep,
    HiddenProjects,
    PoolDep,
    Selector,
    SettingsDep,
    UsageDep,
    check_selector,
)
from cairn.api.form_publish import store_form
from cairn.api.gates import authorize_publish
from cairn.api.models import (
    EventsQuery,
    Publish,
    PublishAccepted,
    PublishBatch,
    PublishBatchAccepted,
    parse,
)
from cairn.api.uploads import PartReader, blocking_chunks, in_upload_thread
from cairn.api.usage import count_view
from cairn.api.visibility import redact_detail
from cairn.core.domain.identity import check_name, parse_ref

router = APIRouter(tags=["artifacts"])
WaitMs = Annotated[int, Query(ge=0, le=30_000, description=(
    "wait this long at most for the ledger to record the version (a long poll), and answer "
    "what became of it in `status`; 0 (the default) answers once the event is accepted"))]
PUBLISH_BODY = {
    "requestBody": {
        "required": True,
        "description": "JSON (the Publish schema; every file's blob uploaded before), or "
                       "multipart/form-data: a 'manifest' part with the same JSON (files "
                       "optional, size and sha256 optional) plus one part per file whose "
                       "filename is the file's path",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Publish"}},
                    "multipart/form-data": {"schema": {"type": "object"}}},
    }
}


@router.post("/v1/artifacts", status_code=202, response_model=PublishAccepted,
             openapi_extra=PUBLISH_BODY)
async def publish(request: Request, response: Response, actor: CurrentActor,
                  principal: CurrentPrincipal, settings: SettingsDep, blobs: BlobsDep,
                  emitter: EmitterDep, pool: PoolDep, commits: CommitsDep,
                  wait_ms: WaitMs = 0) -> PublishAccepted:
    """Emit an "artifact published" event; follow it at GET /v1/events/{event_id}, or give
    `wait_ms` and find in `status` what that answers once the ledger recorded (or rejected)
    it, or that much time passed: the publish and its wait in one request.

    A `stage` is a move into that stage and meets its gate: the gate's role (403), and no
    gate that asks for a valid verdict or an evaluation, which a new version lacks (422
    `gate_needs_promotion`: publish without the stage, then promote with PUT …/stage)."""
    content_type = request.headers.get("content-type", "")
    proven: set[str] = set()  # blobs whose bytes this request carried
    if content_type.startswith("multipart/form-data"):
        req, proven = await in_upload_thread(lambda: store_form(
            PartReader(content_type, blocking_chunks(request.stream())).parts(), blobs,
            settings))
    else:
        req = parse(Publish, await request.body())
    project = check_name(req.project, "project")
    await authorize_publish(request, pool, project, f"{project}/{req.name}", req.stage,
                            version_number=req.version_number, as_recorded=req.as_recorded)
    accepted = await commands.publish(req, actor=actor, principal=principal, pool=pool,
                                      settings=settings, blobs=blobs, emitter=emitter,
                                      proven=proven)
    response.headers["Location"] = f"/v1/events/{accepted.event_id}"
    if wait_ms:
        accepted.status = await record_waits.status_or_none(pool, commits, principal,
                                                            accepted.event_id, wait_ms)
    return accepted


@router.post("/v1/artifacts/batch", status_code=202, response_model=PublishBatchAccepted)
async def publish_batch(batch: PublishBatch, request: Request, actor: CurrentActor,
                        principal: CurrentPrincipal, settings: SettingsDep, blobs: BlobsDep,
                        emitter: EmitterDep, pool: PoolDep) -> PublishBatchAccepted:
    """Up to 1000 publishes at once (cairn.api.batch_publish): each item is judged as POST
    /v1/artifacts judges one, and refused alone (its `reason`, `message`, `http_status`);
    the accepted ones are emitted together. Follow them at POST /v1/artifacts/batch/status.
    The body is within CAIRN_MAX_EVENT_BYTES: give the environment once, at the top."""

    async def authorize(project: str, artifact: str, req: Publish) -> None:
        await authorize_publish(request, pool, project, artifact, req.stage,
                                version_number=req.version_number, as_recorded=req.as_recorded)

    return await batch_publish.publish_batch(
        batch, actor=actor, principal=principal, pool=pool, settings=settings, blobs=blobs,
        emitter=emitter, authorize=authorize)


@router.post("/v1/artifacts/batch/status")
async def batch_status(query: EventsQuery, pool: PoolDep, hidden: HiddenProjects,
                       commits: CommitsDep) -> dict[str, dict[str, Any]]:
    """event_id -> what GET /v1/events/{event_id} answers, for up to 1000 events at once;
    with `wait_ms`, once none is pending (or that time passed): a few events are read again
    as the ledger commits, many at a tenth of the time waited (5 to 200 ms)."""
    return await record_waits.statuses(pool, commits, query.event_ids, hidden, query.wait_ms)


@router.get("/v1/artifacts/{project}/{name}")
async def get_artifact(project: str, name: str, pool: PoolDep) -> dict[str, Any]:
    """The artifact, its aliases and the summary of every version (with its metrics)."""
    check_name(project, "project")
    check_name(name)
    return await reads.artifact_summary(pool, project, name)


@router.get("/v1/artifacts/{project}/{name}/versions/{selector}")
async def get_version(project: str, name: str, selector: Selector, pool: PoolDep,
                      request: Request, usage: UsageDep, background: BackgroundTasks,
                      hidden: HiddenProjects) -> dict[str, Any]:
    """One version: content, provenance, stage, aliases, lineage both ways, verdicts and
    usage. Counts as a view of the version."""
    check_name(project, "project")
    check_name(name)
    detail = await reads.version_detail(pool, project, name, selector)
    background.add_task(count_view, usage, request, detail)
    return redact_detail(detail, hidden)


@router.get("/v1/resolve")
async def resolve(ref: str, pool: PoolDep, request: Request, usage: UsageDep,
                  background: BackgroundTasks, hidden: HiddenProjects) -> dict[str, Any]:
    """`project/name@v3`, `project/name@<digest prefix>`, `project/name:alias` or
    `project/name` (latest) → the version's detail (a view, like the route above)."""
    parsed = parse_ref(ref)
    selector = check_selector(parsed.selector or "latest")
    detail = await reads.version_detail(pool, parsed.project, parsed.name, selector)
    background.add_task(count_view, usage, request, detail)
    return redact_detail(detail, hidden)
