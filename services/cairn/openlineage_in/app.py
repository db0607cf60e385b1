"""The openlineage topic's consumer: JSON OpenLineage events, as the OpenLineage client's
Kafka transport writes them, become Cairn events exactly as POST /api/v1/lineage makes them
(cairn.core.domain.openlineage; emitted by cairn.core.adapters.openlineage_emit), so they go
through the events topic, the ledger and the changelog like any publish.

A record that is not JSON, or that the OpenLineage JSON schema refuses, goes to
`cairn.deadletter.openlineage-in` as it came, with the reason (`invalid_json`,
`invalid_openlineage`, ...) and the field in its headers. A batch's offsets are acknowledged
only once its events were emitted (settle), so a crash repeats a batch, and the repeated
events carry the same ids: the ledger records them once. The topic has no token: who may
write to it may publish into any project it maps to (guard it with Kafka's ACLs); the events
name `openlineage` as their actor.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import faust
from prometheus_client import Counter

from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.blob_stores import hot_store
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.openlineage_emit import emit_mapped, mapped_live
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import LazyPool, lifespan, service_pages, stream_app
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.openlineage import routing_of
from cairn.core.domain.openlineage_schema import check_event
from cairn.readmodel.live_versions import live_digests
from cairn.readmodel.projects import all_projects

ACTOR = "openlineage"
CONSUMER = "openlineage-in"
TAKEN = Counter("cairn_openlineage_in_events_total", "OpenLineage events taken from Kafka")
DEAD = Counter("cairn_openlineage_in_dead_letters_total", "OpenLineage records refused",
               ["reason"])


@dataclass(frozen=True)
class OpenLineageTopics(Topics):
    """Cairn's topics plus the openlineage topic (CAIRN_OPENLINEAGE_TOPIC, prefixed like the
    others) and this consumer's dead letters, so `run_worker` makes sure all exist."""

    name: str = "openlineage"

    @property
    def openlineage(self) -> str:
        return f"{self.prefix}{self.name}"

    def all(self) -> list[str]:
        return [*super().all(), self.openlineage, self.dead_letter(CONSUMER)]


@dataclass(frozen=True)
class OpenLineageAdapters:
    """The consumer's clients: an emitter (Kafka and the registry), PostgreSQL (project
    settings, read only) and the blob store (each version's descriptor file)."""

    emitter: Emitter
    pool: LazyPool
    blobs: BlobStore

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenLineageAdapters:
        return cls(Emitter(settings, f"cairn-{CONSUMER}"), LazyPool(settings),
                   hot_store(settings))

    async def closing(self, stack: AsyncExitStack) -> None:
        stack.push_async_callback(asyncio.to_thread, self.emitter.close)
        stack.push_async_callback(self.pool.close)


@dataclass
class Outcome:
    taken: int = 0
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)


async def take(adapters: OpenLineageAdapters, settings: Settings, raws: list[RawRecord]
               ) -> Outcome:
    """Emit what each record maps to; note the refused ones (record, reason, message)."""
    outcome = Outcome()
    pool = await adapters.pool()
    routing = routing_of([(p.name, p.settings) for p in await all_projects(pool)],
                         settings.openlineage_project)
    for raw in raws:
        try:
            try:
                event = json.loads(raw.value or b"")
            except ValueError as exc:
                raise InvalidInput("invalid_json", f"the record is not JSON: {exc}") from None
            result = await mapped_live(check_event(event), routing, settings.kind_list,
                                       lambda artifact: live_digests(pool, artifact))
            await emit_mapped(adapters.emitter, adapters.blobs, result, actor=ACTOR,
                              tool=CONSUMER)
            outcome.taken += 1
        except InvalidInput as exc:
            outcome.dead.append((raw, exc.reason, str(exc)))
    return outcome


def create_app(settings: Settings) -> faust.App:
    return build(settings, OpenLineageAdapters.from_settings(settings))


def build(settings: Settings, adapters: OpenLineageAdapters) -> faust.App:
    log = configure(CONSUMER)
    topics = OpenLineageTopics(settings.topic_prefix, name=settings.openlineage_topic)
    app = stream_app(settings, f"cairn-{CONSUMER}", topics.partitions, commit_every=100)

    async def work(raws: list[RawRecord]) -> None:
        outcome = await take(adapters, settings, raws)
        await dead_letter(adapters.emitter.producer, topics.dead_letter(CONSUMER), outcome.dead,
                          DEAD, log, "openlineage record refused")
        TAKEN.inc(outcome.taken)
        if outcome.taken:
            log.info("openlineage events taken", events=outcome.taken)

    batch_agent(app, topics.openlineage, work, size=100, within=0.2, log=log, name=CONSUMER)
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def ready() -> None:
        log.info("openlineage-in ready", topic=topics.openlineage,
                 default_project=settings.openlineage_project)

    service_pages(app, lambda: {"topic": topics.openlineage})
    app.cairn_codecs = (adapters.emitter.codec, adapters.emitter.config_codec)  # type: ignore[attr-defined]
    return app
