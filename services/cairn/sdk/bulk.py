"""`Client.publish_many`: many versions in a few requests, each item answered on its own.

Every item is checked and hashed first (a bad one is refused there, locally, and the rest go
on); the environment is captured once for the call; one request learns which blobs the api
lacks, and those are uploaded in parallel; then the versions go in batches to POST
/v1/artifacts/batch (transport "http", environment sent once per batch) or straight to Kafka
in one produce per batch (transport "kafka"), and the call waits until the ledger recorded or
rejected each (POST /v1/artifacts/batch/status). The result lists, in the items' order,
each one's ref or the reason it was refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cairn.core.domain import payloads
from cairn.core.domain.event_types import Environment, FileEntry
from cairn.core.domain.identity import InvalidInput
from cairn.sdk import files as local_files
from cairn.sdk import packed, transfer
from cairn.sdk import publish as steps
from cairn.sdk.errors import CairnError
from cairn.sdk.http import Http

MAX_ITEMS = 1000  # per request: the api's limit (cairn.api.batch_publish.MAX_ITEMS)
MAX_SHAS = 5000  # blobs asked about per /v1/blobs/missing request (well within its body limit)
GROUP = 200  # items whose blobs are uploaded before they are sent, while the ledger records


@dataclass(frozen=True)
class Item:
    """One version to publish: the arguments of `Client.publish`, by the same names."""

    kind: str
    project: str
    name: str
    files: local_files.FilesArg
    metadata: Mapping[str, Any] | None = None
    links: Sequence[steps.LinkArg] | None = None
    stage: str | None = None
    extra: Mapping[str, Any] | None = None
    environment: Mapping[str, Any] | None = None  # None: the call's, captured once
    root: str | Path | None = None
    version_number: int | None = None  # an import's number (the project's admins only)
    as_recorded: bool = False  # an import's stage without the gate's facts (admins only)

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(frozen=True)
class ItemResult:
    """What became of one item. `status`: "recorded" (see `ref` and `outcome`: applied, or
    duplicate of an existing version), "accepted" (not waited for, or not recorded in time:
    follow `event_id`), or "refused" (`reason`, `message`; `local` when the SDK refused it
    before sending anything, else `http_status` is what the api answered, None when the
    ledger rejected it)."""

    index: int
    artifact: str | None
    status: str
    event_id: str | None = None
    digest: str | None = None
    ref: str | None = None
    version_number: int | None = None
    outcome: str | None = None
    reason: str | None = None
    message: str | None = None
    http_status: int | None = None
    local: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "refused"


@dataclass
class Prepared:
    """An item checked and hashed, ready to send."""

    index: int
    draft: payloads.Draft
    hashed: list[local_files.LocalFile]
    manifest: list[FileEntry]
    own_environment: bool

    def request(self, receipts: Mapping[str, str]) -> dict[str, Any]:
        """Its Publish body; without the environment when it is the batch's."""
        mine = {f.sha256: receipts[f.sha256] for f in self.hashed if f.sha256 in receipts}
        body = self.draft.request(self.manifest, mine)
        if not self.own_environment:
            del body["environment"]
        return body


def as_item(given: Item | Mapping[str, Any]) -> Item:
    if isinstance(given, Item):
        return given
    try:
        return Item(**given)
    except TypeError as exc:  # a misspelt or missing field
        raise InvalidInput("invalid_payload", f"{exc}; an item takes the arguments of "
                           "Client.publish (kind, project, name, files, metadata, links, "
                           "stage, extra, environment, root, version_number, as_recorded)"
                           ) from None


def refused(index: int, artifact: str | None, exc: CairnError | InvalidInput) -> ItemResult:
    if isinstance(exc, InvalidInput):
        return ItemResult(index, artifact, "refused", reason=exc.reason, message=str(exc),
                          local=True)
    return ItemResult(index, artifact, "refused", reason=exc.reason, message=exc.message,
                      http_status=exc.status, local=exc.local, detail=exc.detail)


def prepare(index: int, given: Item | Mapping[str, Any], environment: Environment,
            kinds: tuple[str, ...]) -> Prepared | ItemResult:
    """Check and hash one item (cairn.sdk.publish's checks), or say why it is refused."""
    artifact = None
    try:
        item = as_item(given)
        artifact = item.artifact
        draft = payloads.draft(
            kind=item.kind, project=item.project, name=item.name,
            metadata_={"creator": steps.default_creator(), **(item.metadata or {})},
            environment_=item.environment if item.environment is not None else environment,
            links=steps.links(item.links), stage=item.stage, extra=item.extra, kinds=kinds,
            version_number=item.version_number, as_recorded=item.as_recorded)
        hashed = local_files.hash_all(local_files.plan(item.files, item.root), False)
        manifest = payloads.file_entries([f.entry() for f in hashed])
        return Prepared(index, draft, hashed, manifest, item.environment is not None)
    except (InvalidInput, CairnError) as exc:
        return refused(index, artifact, exc)
    except OSError as exc:  # a file that vanished or became unreadable after planning
        return ItemResult(index, artifact, "refused", reason="unreadable",
                          message=f"{exc.filename}: {exc.strerror}", local=True)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def lacking(http: Http, ready: Sequence[Prepared]) -> set[str]:
    """The blobs of every item the api lacks (for us): one request per MAX_SHAS of them."""
    files = list({f.sha256: f for p in ready for f in p.hashed}.values())
    found: set[str] = set()
    for part in chunks(files, MAX_SHAS):
        found |= transfer.missing(http, part)
    return found


def upload_blobs(http: Http, group: Sequence[Prepared], lacking: set[str], show: bool | None,
                 workers: int) -> tuple[dict[str, str], dict[str, CairnError]]:
    """Upload the group's blobs among `lacking` (then no longer lacking), `workers` requests
    at a time, small ones many to a request (cairn.sdk.packed): the receipts, and the uploads
    refused, by sha256."""
    todo = list({f.sha256: f for p in group for f in p.hashed if f.sha256 in lacking}.values())
    failed: dict[str, CairnError] = {}
    receipts = packed.upload(http, todo, show, workers, failed)
    lacking -= {f.sha256 for f in todo}
    return receipts, failed


def batches(ready: Sequence[Prepared], receipts: Mapping[str, str], budget: int
            ) -> Iterator[list[tuple[Prepared, dict[str, Any]]]]:
    """Items with their bodies, in batches of at most MAX_ITEMS and `budget` JSON bytes."""
    batch: list[tuple[Prepared, dict[str, Any]]] = []
    size = 0
    for p in ready:
        body = p.request(receipts)
        length = len(json.dumps(body)) + 2
        if batch and (len(batch) >= MAX_ITEMS or size + length > budget):
            yield batch
            batch, size = [], 0
        batch.append((p, body))
        size += length
    if batch:
        yield batch


def post_batch(http: Http, batch: Sequence[tuple[Prepared, dict[str, Any]]],
               environment: Environment) -> list[ItemResult]:
    """POST /v1/artifacts/batch; a body the api finds too large is split in two and sent
    again (the api's limit may be lower than this client's)."""
    try:
        reply = http.json("POST", "/v1/artifacts/batch", json={
            "environment": environment, "items": [body for _, body in batch]})
    except CairnError as exc:
        if exc.status == 413 and len(batch) > 1:
            half = len(batch) // 2
            return (post_batch(http, batch[:half], environment)
                    + post_batch(http, batch[half:], environment))
        if exc.status in (401, 403) or exc.status is None or exc.status >= 500:
            raise  # the whole call is wrong or the api is away: not an item's fault
        return [refused(p.index, p.draft.artifact, exc) for p, _ in batch]
    out = []
    for (p, _), answer in zip(batch, reply["items"], strict=True):
        if answer["status"] == "accepted":
            out.append(ItemResult(p.index, p.draft.artifact, "accepted",
                                  event_id=answer["event_id"], digest=answer["digest"]))
        else:
            known = ("index", "status", "artifact", "reason", "message", "http_status",
                     "event_id", "digest")
            out.append(ItemResult(
                p.index, p.draft.artifact, "refused", reason=answer["reason"],
                message=answer["message"], http_status=answer.get("http_status"),
                detail={k: v for k, v in answer.items() if k not in known and v is not None}))
    return out


def emit_batch(emitter: Any, batch: Sequence[Prepared], actor: Callable[[Prepared], str]
               ) -> list[ItemResult]:
    """Transport "kafka": each event encoded and signed (one too large or off its schema is
    refused alone), then all produced with one flush."""
    from cairn.core.adapters.kafka import produce_all
    from cairn.core.domain.events import new_event

    out, records = [], []
    for p in batch:
        body = payloads.assembled(p.draft, p.manifest)
        event = new_event(p.draft.artifact, "Published", body, actor=actor(p), tool="sdk")
        try:
            records.append(emitter.encode(event))
        except InvalidInput as exc:
            out.append(refused(p.index, p.draft.artifact, exc))
            continue
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # fastavro's refusals
            out.append(ItemResult(p.index, p.draft.artifact, "refused", reason="invalid_payload",
                                  message=f"the event does not fit its Avro schema: {exc}",
                                  local=True))
            continue
        out.append(ItemResult(p.index, p.draft.artifact, "accepted",
                              event_id=str(event["event_id"]), digest=body["digest"]))
    if records:
        produce_all(emitter.producer, records)
    return out


def wait_all(http: Http, results: list[ItemResult], timeout: float,
             advance: Callable[[int], None]) -> list[ItemResult]:
    """Results with the ledger's answer for every accepted item, asked for in batches
    (POST /v1/artifacts/batch/status, each answered once its items are recorded or after
    LONG_POLL_S) until none is pending or `timeout` passed."""
    pending = {r.event_id: i for i, r in enumerate(results)
               if r.status == "accepted" and r.event_id}
    start = time.monotonic()
    while pending:
        for part in chunks(list(pending), MAX_ITEMS):
            left = timeout - (time.monotonic() - start)
            wait_ms = int(max(0.0, min(steps.LONG_POLL_S, left)) * 1000)
            statuses = http.json("POST", "/v1/artifacts/batch/status",
                                 json={"event_ids": part, "wait_ms": wait_ms})
            for event_id, status in statuses.items():
                if status.get("status") == "pending":
                    continue
                i = pending.pop(event_id)
                results[i] = settled(results[i], status)
                advance(1)
        if time.monotonic() - start > timeout:
            break
    return results


def settled(result: ItemResult, status: Mapping[str, Any]) -> ItemResult:
    if status["status"] == "rejected":
        return replace(result, status="refused", reason=status.get("reason") or "rejected",
                       message=status.get("message") or "the ledger rejected the event")
    return replace(result, status="recorded", ref=status.get("ref"),
                   version_number=status.get("version_number"),
                   outcome=status.get("outcome", "applied"))


def in_parallel(work: Callable[[Any], Any], items: Iterable[Any], workers: int) -> list[Any]:
    if workers <= 1:
        return [work(i) for i in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="cairn-prepare") as pool:
        return list(pool.map(work, items))
