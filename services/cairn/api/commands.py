"""Writes: build a checked event, emit it, answer with its id. The ledger applies it later.

Nothing here touches PostgreSQL: the ledger is the only writer, and clients follow an event
with GET /v1/events/{event_id}.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

import structlog
from prometheus_client import Counter

from cairn.api import downloads
from cairn.api.errors import ApiError, Reason
from cairn.api.models import Publish, PublishAccepted
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import required_master
from cairn.core.domain import blob_receipts, payloads
from cairn.core.domain.access import Principal
from cairn.core.domain.event_types import FileEntry, Payload, PayloadType, Published
from cairn.core.domain.events import new_event
from cairn.core.domain.identity import InvalidInput

EMITTED = Counter("cairn_api_events_emitted_total", "Events the api emitted", ["type"])
log = structlog.get_logger("api")


async def emit(emitter: Emitter, artifact: str, payload_type: PayloadType, body: Payload,
               actor: str) -> str:
    """Emit one event and wait for Kafka's ack (acks=all); return its event_id. What mypy
    cannot see (a value out of its field's range) is refused by its Avro encoding
    (invalid_payload)."""
    event = new_event(artifact, payload_type, body, actor=actor, tool="api")
    try:
        await emitter.emit_async(event)
    except InvalidInput:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # fastavro's refusals
        raise InvalidInput("invalid_payload", f"the event does not fit its Avro schema: {exc}"
                           ) from exc
    EMITTED.labels(payload_type).inc()
    log.info("emitted", type=payload_type, artifact=artifact, event_id=event["event_id"],
             actor=actor)
    return str(event["event_id"])


def published_body(req: Publish, settings: Settings) -> Published:
    """The Published body, built and checked once, digest included; malformed parts become
    InvalidInput."""
    if len(req.files) > settings.max_files:
        raise InvalidInput("too_many_files", f"{len(req.files)} files exceed the limit of "
                           f"{settings.max_files} (CAIRN_MAX_FILES)")
    try:
        return payloads.published(
            kind=req.kind, project=req.project, name=req.name,
            files=[f.model_dump() for f in req.files], metadata_=req.metadata,
            environment=req.environment, links=[lk.model_dump() for lk in req.links],
            stage=req.stage, extra=req.extra, kinds=settings.kind_list,
            version_number=req.version_number, as_recorded=req.as_recorded,
        )
    except InvalidInput:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput("invalid_payload", f"malformed field in the request: {exc!r}"
                           ) from exc


def missing_blobs(blobs: BlobStore, files: Sequence[FileEntry],
                  withheld: Collection[str] = ()) -> list[str]:
    """Files whose blob is not stored, or is `withheld` (stored, but not the caller's to
    name: answered as not stored, before any size is compared); and refuse sizes that
    disagree with the stored blob (the size is part of the version's identity)."""
    missing: list[str] = []
    for f in files:
        if f["sha256"] in withheld or not blobs.has(f["sha256"]):
            missing.append(f["sha256"])
        elif blobs.size(f["sha256"]) != f["size"]:
            raise InvalidInput("size_mismatch", f"{f['path']}: size {f['size']} differs from "
                               f"the stored blob's {blobs.size(f['sha256'])} bytes")
    return sorted(set(missing))


async def unproven(req: Publish, files: Sequence[FileEntry], *, actor: str,
                   principal: Principal, pool: downloads.Db, blobs: BlobStore,
                   settings: Settings, proven: Collection[str]) -> set[str]:
    """Stored blobs the caller may not name: only versions they may not read list them,
    and they neither uploaded them in this request (`proven`) nor hold a receipt for them
    (cairn.core.domain.blob_receipts). Knowing a sha256 is no proof of having the bytes."""
    shas = {f["sha256"] for f in files} - set(proven)
    if not shas:  # every blob came in this request (a small publish): no store, no query
        return set()
    stored = await asyncio.to_thread(lambda: {s for s in shas if blobs.has(s)})
    hidden = await downloads.unseen(pool, principal, stored)
    if not hidden:
        return set()
    master = required_master(settings, "the api")
    return {s for s in hidden
            if not blob_receipts.is_valid(master, actor, s, req.receipts.get(s))}


async def publish(req: Publish, *, actor: str, principal: Principal, pool: downloads.Db,
                  settings: Settings, blobs: BlobStore, emitter: Emitter,
                  proven: Collection[str] = ()) -> PublishAccepted:
    """Emit Published once every blob is stored and the caller's to name (see unproven);
    a blob that is not is listed in missing_blobs exactly as one never uploaded."""
    body = published_body(req, settings)
    withheld = await unproven(req, body["files"], actor=actor, principal=principal, pool=pool,
                              blobs=blobs, settings=settings, proven=proven)
    missing = await asyncio.to_thread(missing_blobs, blobs, body["files"], withheld)
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" * (len(missing) > 10))
        raise ApiError(400, Reason.MISSING_BLOBS,
                       f"upload these blobs first (PUT /v1/blobs/{{sha256}}, then send each "
                       f"upload's {blob_receipts.HEADER} in `receipts`): {shown}",
                       missing=missing)
    artifact = f"{req.project}/{req.name}"
    event_id = await emit(emitter, artifact, "Published", body, actor)
    return PublishAccepted(event_id=event_id, digest=body["digest"], artifact=artifact)
