"""The validator's faust app: changelog batches in, one VerdictSet event per judged version out.

Each batch is judged and its verdicts acknowledged by Kafka inside `settle()` before faust
may commit the batch's offsets, so a crash only ever repeats a judgement; repeated
judgements carry the same event ids and the ledger records them once. `build` is the
composition root: it wires the validator's clients (`ValidatorAdapters`) to the judge and
`judge_and_emit`, and closes the clients once the app stopped (after its agent, so a batch
still settling keeps them).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import faust
import httpx
from prometheus_client import Counter, Gauge

from cairn.core.adapters.blob_stores import hot_store
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import (
    LazyPool,
    changelog_agent,
    lifespan,
    service_pages,
    stream_app,
)
from cairn.core.domain.event_types import RecordedEvent
from cairn.validator.hooks import installed_plugins
from cairn.validator.judge import Judge
from cairn.validator.rules import default_dir
from cairn.validator.store import EnvironmentStore, LinkStore
from cairn.validator.verdicts import JUDGED, Seen, verdict_event, wanted

VERDICTS = Counter("cairn_validator_verdicts_total", "Verdicts emitted", ["check", "status"])
UNDECODABLE = Counter("cairn_validator_undecodable_total", "Changelog records not decodable")
LAST_SEQ = Gauge("cairn_validator_last_seq", "Highest changelog seq judged")


@dataclass(frozen=True)
class ValidatorAdapters:
    """The validator's clients: an emitter (Kafka and the registry), PostgreSQL (links, read
    only), the blob store, and the HTTP client of hooks."""

    emitter: Emitter
    pool: LazyPool
    blobs: BlobStore
    http: httpx.AsyncClient

    @classmethod
    def from_settings(cls, settings: Settings) -> ValidatorAdapters:
        return cls(Emitter(settings, "cairn-validator"), LazyPool(settings),
                   hot_store(settings), pinned_client())

    async def closing(self, stack: AsyncExitStack) -> None:
        """Close each client at the stack's end, the last opened first."""
        stack.push_async_callback(asyncio.to_thread, self.emitter.close)
        stack.push_async_callback(self.pool.close)
        stack.push_async_callback(self.http.aclose)


Prepare = Callable[[list[RecordedEvent]], Awaitable[list[RecordedEvent]]]


async def judge_and_emit(records: Sequence[RecordedEvent], *, seen: Seen,
                         projects: Sequence[str], judge: Callable[[], Awaitable[Judge]],
                         emit: Callable[..., Awaitable[None]], log: Any,
                         prepare: Prepare | None = None) -> None:
    """Judge the batch's wanted versions not judged lately; emit one VerdictSet per version, all
    at once (acked by Kafka when `emit` returns), and only then note them as judged.
    `prepare` (the reads from PostgreSQL) gets those versions' records, and only when there
    are any: most batches hold only VerdictSet records."""
    todo = list({r["seq"]: r for r in records
                 if r["seq"] not in seen and wanted(r, projects)}.values())
    if todo and prepare is not None:
        todo = await prepare(todo)
    judged = await (await judge()).judge_all([r["state"] for r in todo]) if todo else []
    events = [verdict_event(record, found) for record, found in zip(todo, judged, strict=True)]
    outcomes = [outcome for found in judged for outcome in found]
    if events:
        await emit(*events)
    for record in todo:
        seen.add(record["seq"])
    # Counted a batch at once: a labels() lookup per outcome was 7 a version.
    tally = collections.Counter((o.check, o.status) for o in outcomes)
    for (check, status), count in tally.items():
        VERDICTS.labels(check, status).inc(count)
    if todo:
        LAST_SEQ.set(max(LAST_SEQ._value.get(), *(r["seq"] for r in todo)))
        log.info("judged", versions=len(todo), verdicts=len(outcomes), events=len(events))


def _key(record: RecordedEvent) -> tuple[str, str, str]:
    content = record["state"]["content"]
    return content["project"], content["name"], content["digest"]


def create_app(settings: Settings) -> faust.App:
    return build(settings, ValidatorAdapters.from_settings(settings))


def build(settings: Settings, adapters: ValidatorAdapters) -> faust.App:
    log = configure("validator")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-validator", topics.partitions, commit_every=100)
    projects = [p.strip() for p in settings.validator_projects.split(",") if p.strip()]
    validation_dir = settings.validation_dir or default_dir()
    seen = Seen()
    judges: list[Judge] = []  # built once, on first use, inside the worker's event loop
    stores: list[LinkStore] = []
    environments: list[EnvironmentStore] = []

    async def judge() -> Judge:
        if not judges:
            stores.append(LinkStore(await adapters.pool()))
            environments.append(EnvironmentStore(await adapters.pool()))
            judges.append(Judge(validation_dir, adapters.blobs, stores[0], adapters.http,
                                settings.allow_private_hooks, installed_plugins()))
        return judges[0]

    async def prepare(todo: list[RecordedEvent]) -> list[RecordedEvent]:
        await stores[0].prefetch(list({_key(r) for r in todo}))
        return await environments[0].whole(todo)

    async def work(records: list[RecordedEvent]) -> None:
        await judge()
        await judge_and_emit(records, seen=seen, projects=projects, judge=judge,
                             emit=adapters.emitter.emit_async, log=log, prepare=prepare)

    changelog_agent(app, settings, topics, log, UNDECODABLE, "validator", work,
                    registry=adapters.emitter.registry, types=JUDGED)
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await judge()
        log.info("validator ready", changelog=topics.changelog, rules=str(validation_dir),
                 projects=projects, private_hooks=settings.allow_private_hooks)

    service_pages(app, lambda: {"rules": str(validation_dir)} if judges else None)
    app.cairn_codecs = (adapters.emitter.codec,)  # type: ignore[attr-defined]
    return app
