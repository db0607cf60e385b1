"""Many publishes in one request (POST /v1/artifacts/batch), for importers and sweeps.

Each item is judged as POST /v1/artifacts judges one (the caller's role on its project and
its stage's gate, the same checks of names, metadata and links, its blobs stored and the
caller's to name, its event within CAIRN_MAX_EVENT_BYTES), but a refused item refuses only
itself: the answer lists, in the request's order, each item's event or the reason it was
refused, with the status and reason a single publish would have answered. What is shared is
looked up once: the environment (given once for every item that gives none), the projects'
roles and gates, which blobs the caller may name; and every accepted event goes to Kafka in
one produce, acknowledged once (acks=all) before the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from cairn.api import downloads
from cairn.api.commands import EMITTED, missing_blobs, published_body
from cairn.api.errors import ApiError, Reason
from cairn.api.models import BatchItemResult, Publish, PublishBatch, PublishBatchAccepted
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.kafka import Header, produce_all_async
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import required_master
from cairn.core.domain import blob_receipts, error_codes
from cairn.core.domain.access import Principal
from cairn.core.domain.event_types import Published
from cairn.core.domain.events import new_event
from cairn.core.domain.identity import InvalidInput, check_name

log = structlog.get_logger("api")
MAX_ITEMS = 1000  # per request; the body is also within CAIRN_MAX_EVENT_BYTES (JsonBodyLimit)

# Authorize one item: (project, artifact, request) -> None, or raise ApiError / InvalidInput.
Authorize = Callable[[str, str, Publish], Awaitable[None]]
Record = tuple[str, bytes | None, bytes, list[Header] | None]


class Refused(Exception):
    """One item's refusal: the status and reason a single publish would have answered."""

    def __init__(self, status: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.extra = status, reason, message, extra

    @classmethod
    def of(cls, exc: Exception) -> Refused:
        if isinstance(exc, Refused):
            return exc
        if isinstance(exc, ApiError):
            return cls(exc.status, exc.reason, exc.message, **exc.extra)
        if isinstance(exc, InvalidInput):
            status, reason = error_codes.answer(exc.reason)
            return cls(status, reason, str(exc))
        if isinstance(exc, ValidationError):
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                        for e in exc.errors()[:10]]
            return cls(422, Reason.INVALID_REQUEST, "; ".join(problems))
        raise exc

    def result(self, index: int, artifact: str | None) -> BatchItemResult:
        return BatchItemResult(index=index, status="refused", artifact=artifact,
                               reason=self.reason, message=self.message, http_status=self.status,
                               **self.extra)


@dataclass
class Planned:
    """An item that passed its checks so far: its request, body and artifact."""

    index: int
    req: Publish
    body: Published
    artifact: str


@dataclass
class Outcome:
    results: dict[int, BatchItemResult] = field(default_factory=dict)

    def refuse(self, index: int, artifact: str | None, exc: Exception) -> None:
        self.results[index] = Refused.of(exc).result(index, artifact)


def check_size(batch: PublishBatch) -> None:
    if len(batch.items) > MAX_ITEMS:
        raise ApiError(413, Reason.TOO_LARGE, f"a batch may hold at most {MAX_ITEMS} items, "
                       f"this one has {len(batch.items)}: send several")


def _artifact_of(item: Mapping[str, Any]) -> str | None:
    project, name = item.get("project"), item.get("name")
    return f"{project}/{name}" if isinstance(project, str) and isinstance(name, str) else None


async def plan(batch: PublishBatch, settings: Settings, authorize: Authorize,
               outcome: Outcome) -> list[Planned]:
    """Parse, check and authorize every item; a refusal is recorded in `outcome`."""
    decided: dict[tuple[str, ...], Exception | None] = {}
    planned: list[Planned] = []
    for index, raw in enumerate(batch.items):
        artifact = _artifact_of(raw)
        try:
            item = dict(raw)
            if item.get("environment") is None:
                item["environment"] = batch.environment
            req = Publish.model_validate(item)
            project = check_name(req.project, "project")
            artifact = f"{project}/{req.name}"
            # a role is the project's, a gate may depend on the artifact: ask once for each
            imported = req.version_number is not None, req.as_recorded
            key = (project, *map(str, imported)) if req.stage is None \
                else (project, artifact, req.stage, *map(str, imported))
            if key not in decided:
                try:
                    await authorize(project, artifact, req)
                    decided[key] = None
                except (ApiError, InvalidInput) as exc:
                    decided[key] = exc
            if (refusal := decided[key]) is not None:
                raise refusal
            body = published_body(req, settings)
            planned.append(Planned(index, req, body, artifact))
        except (ApiError, InvalidInput, ValidationError) as exc:
            outcome.refuse(index, artifact, exc)
    return planned


async def withheld(planned: Sequence[Planned], receipts: Mapping[str, str], *, actor: str,
                   principal: Principal, pool: downloads.Db, blobs: BlobStore,
                   settings: Settings) -> set[str]:
    """Stored blobs the caller may not name (cairn.api.commands.unproven), asked once for
    the whole batch: only versions they may not read list them and they hold no receipt."""
    shas = {f["sha256"] for p in planned for f in p.body["files"]}
    stored = await asyncio.to_thread(lambda: {s for s in shas if blobs.has(s)})
    hidden = await downloads.unseen(pool, principal, stored)
    if not hidden:
        return set()
    master = required_master(settings, "the api")
    return {s for s in hidden if not blob_receipts.is_valid(master, actor, s, receipts.get(s))}


def with_blobs(planned: Sequence[Planned], blobs: BlobStore, hidden: Collection[str],
               outcome: Outcome) -> list[Planned]:
    """The items whose every blob is stored (and the caller's to name)."""
    ready = []
    for p in planned:
        try:
            missing = missing_blobs(blobs, p.body["files"], hidden)
        except InvalidInput as exc:
            outcome.refuse(p.index, p.artifact, exc)
            continue
        if missing:
            outcome.refuse(p.index, p.artifact, Refused(
                400, Reason.MISSING_BLOBS, f"upload these blobs first: {', '.join(missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
                missing=missing))
        else:
            ready.append(p)
    return ready


def encoded(ready: Sequence[Planned], emitter: Emitter, actor: str, outcome: Outcome
            ) -> list[Record]:
    """Each event signed and encoded; one over the size limit or its schema is refused."""
    records: list[Record] = []
    for p in ready:
        event = new_event(p.artifact, "Published", p.body, actor=actor, tool="api")
        try:
            records.append(emitter.encode(event))
        except InvalidInput as exc:
            outcome.refuse(p.index, p.artifact, exc)
            continue
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # fastavro's refusals
            outcome.refuse(p.index, p.artifact, InvalidInput(
                "invalid_payload", f"the event does not fit its Avro schema: {exc}"))
            continue
        outcome.results[p.index] = BatchItemResult(
            index=p.index, status="accepted", artifact=p.artifact,
            event_id=str(event["event_id"]), digest=p.body["digest"])
    return records


async def publish_batch(batch: PublishBatch, *, actor: str, principal: Principal,
                        pool: downloads.Db, settings: Settings, blobs: BlobStore,
                        emitter: Emitter, authorize: Authorize) -> PublishBatchAccepted:
    check_size(batch)
    outcome = Outcome()
    planned = await plan(batch, settings, authorize, outcome)
    receipts = {**batch.receipts, **{s: r for p in planned for s, r in p.req.receipts.items()}}
    hidden = await withheld(planned, receipts, actor=actor, principal=principal, pool=pool,
                            blobs=blobs, settings=settings)
    ready = await asyncio.to_thread(with_blobs, planned, blobs, hidden, outcome)
    records = encoded(ready, emitter, actor, outcome)
    if records:
        await produce_all_async(emitter.producer, records)  # one flush, every ack
        EMITTED.labels("Published").inc(len(records))
    results = [outcome.results[i] for i in range(len(batch.items))]
    accepted = sum(r.status == "accepted" for r in results)
    log.info("emitted batch", type="Published", accepted=accepted,
             refused=len(results) - accepted, actor=actor)
    return PublishBatchAccepted(accepted=accepted, refused=len(results) - accepted,
                                items=results)
