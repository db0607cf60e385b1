"""The ledger's faust app: batches from cairn.artifact.events, recorded, republished.

Faust acknowledges a batch's offsets only after the loop body returns, and the body
returns only after PostgreSQL committed and Kafka acknowledged the changelog records, so
an offset is never committed ahead of what it stands for. `build` is the composition root:
it takes the ledger's clients (`LedgerAdapters`) and wires them to the handlers
(`handler.record_and_publish` and the usage, config and delivery agents); the clients are
closed once the app stopped.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import faust
from confluent_kafka import Producer

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import produce_all_async, producer
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import LazyPool, flush, lifespan, service_pages, stream_app
from cairn.ledger import config, deliveries, handler, usage
from cairn.ledger.batch import BatchResult, record_batch
from cairn.ledger.origins import Screen, artifact_needs


@dataclass(frozen=True)
class LedgerAdapters:
    """The ledger's clients: the schema registry, one Kafka producer, PostgreSQL."""

    registry: RegistryClient
    producer: Producer
    pool: LazyPool

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerAdapters:
        return cls(RegistryClient(settings.schema_registry_url),
                   producer(settings.kafka_bootstrap_servers, "cairn-ledger"),
                   LazyPool(settings.database_url))

    async def closing(self, stack: AsyncExitStack) -> None:
        """Close each client at the stack's end, the last opened first."""
        stack.callback(self.registry.close)
        stack.push_async_callback(flush, self.producer)
        stack.push_async_callback(self.pool.close)


def create_app(settings: Settings) -> faust.App:
    return build(settings, LedgerAdapters.from_settings(settings))


def build(settings: Settings, adapters: LedgerAdapters) -> faust.App:
    log = configure("ledger")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-ledger", topics.partitions, commit_every=1000)
    events_codec = AvroCodec(adapters.registry, topics.events, schemas.EVENT)
    changelog_codec = AvroCodec(adapters.registry, topics.changelog, schemas.RECORDED)
    screen = Screen.of(settings, lambda event: str(event["artifact"]), artifact_needs)
    ready: list[bool] = []

    async def record(raws: list[RawRecord]) -> BatchResult:
        return await record_batch(await adapters.pool(), raws, events_codec, settings.kind_list,
                                  screen)

    ports = handler.Ports(record, partial(produce_all_async, adapters.producer),
                          changelog_codec.encode, topics.changelog,
                          topics.dead_letter("ledger"), log)

    async def work(raws: list[RawRecord]) -> None:
        await handler.record_and_publish(ports, raws)

    batch_agent(app, topics.events, work, size=500, within=0.05, log=log, name="ledger")
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await adapters.pool()
        ready.append(True)
        log.info("ledger ready", events=topics.events, changelog=topics.changelog)

    service_pages(app, lambda: {} if ready else None)

    pool, kafka, registry = adapters.pool, adapters.producer, adapters.registry
    usage_codec = usage.install(app, settings, registry, pool, kafka)  # the second agent
    config_codec = config.install(app, settings, registry, pool, kafka)  # and the third
    deliveries_codec = deliveries.install(app, settings, registry, pool, kafka)  # fourth
    app.cairn_codecs = (  # type: ignore[attr-defined]
        events_codec, changelog_codec, usage_codec, config_codec, deliveries_codec)
    return app
