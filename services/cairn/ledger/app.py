"""The ledger's faust app: batches from cairn.artifact.events, recorded, republished.

Faust acknowledges a batch's offsets only after the loop body returns, and the body
returns only after PostgreSQL committed and Kafka acknowledged the changelog records, so
an offset is never committed ahead of what it stands for. `build` is the composition root:
it takes the ledger's clients (`LedgerAdapters`) and wires them to the handlers, plain
functions of their ports: `handler.record_and_publish` (artifact events),
`usage.count_and_report`, `config_changes.record_and_report` and
`deliveries.record_attempts`, each fed by its own batch agent; the clients are closed once
the app stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from confluent_kafka import Producer
from prometheus_client import Counter

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.kafka import produce_all_async, producer_for
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import LazyPool, flush, lifespan, service_pages, stream_app
from cairn.core.domain.event_types import (
    ArtifactEvent,
    ConfigEvent,
    DeliveryAttempt,
    UsageEvent,
    UsageTotals,
)
from cairn.ledger import config_changes, deliveries, handler, usage
from cairn.ledger.batch import BatchResult, record_batch
from cairn.ledger.config_changes import ConfigPorts, ConfigResult
from cairn.ledger.deliveries import DeliveryPorts
from cairn.ledger.origins import (
    Screen,
    artifact_needs,
    config_needs,
    internal_records,
    ledger_master,
)
from cairn.ledger.ports import Dead, DeadLetter, Internal
from cairn.ledger.usage import UsagePorts


@dataclass(frozen=True)
class LedgerAdapters:
    """The ledger's clients: the schema registry, one Kafka producer, PostgreSQL, and the
    clock (seconds) that stamps recorded configuration changes."""

    registry: RegistryClient
    producer: Producer
    pool: LazyPool
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerAdapters:
        return cls(RegistryClient(settings.schema_registry_url),
                   producer_for(settings, "cairn-ledger"),
                   LazyPool(settings))

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
    events_codec = AvroCodec[ArtifactEvent](adapters.registry, topics.events, schemas.EVENT)
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

    # A batch waits at most 10 ms for more events: a lone publish is recorded that much
    # sooner (24 ms less p50 measured than with 50 ms), and a backlog fills 500 at once.
    # (Cutting it after 1 ms without events, d6997a2, lowered the backlog rate: reverted.)
    batch_agent(app, topics.events, work, size=500, within=0.01, log=log, name="ledger")
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await adapters.pool()
        ready.append(True)
        log.info("ledger ready", events=topics.events, changelog=topics.changelog)

    service_pages(app, lambda: {} if ready else None)

    # the other agents: usage, configuration changes, the notifier's delivery reports
    master = ledger_master(settings)  # usage and reports come only from Cairn's services

    def internal(raws: Sequence[RawRecord], dead: Dead) -> list[RawRecord]:
        return internal_records(raws, master, dead)

    def refusals(counter: Counter, what: str) -> DeadLetter:
        return partial(dead_letter, adapters.producer, topics.dead_letter("ledger"),
                       counter=counter, log=log, what=what)

    usage_codec = add_usage(app, adapters, topics, internal,
                            refusals(usage.USAGE_DEAD, "usage dead-lettered"), log)
    config_codec = add_config(app, settings, adapters, topics,
                              refusals(config_changes.CONFIG_DEAD, "config dead-lettered"), log)
    deliveries_codec = add_deliveries(
        app, adapters, topics, internal,
        refusals(deliveries.DELIVERY_DEAD, "delivery report dead-lettered"), log)
    app.cairn_codecs = (  # type: ignore[attr-defined]
        events_codec, changelog_codec, usage_codec, config_codec, deliveries_codec)
    return app


def add_usage(app: faust.App, adapters: LedgerAdapters, topics: Topics, internal: Internal,
              refused: DeadLetter, log: Any) -> AvroCodec[UsageEvent]:
    """The usage agent (usage.count_and_report); returns its codec (registered at start-up).
    The totals codec registers its schema on first use."""
    codec = AvroCodec[UsageEvent](adapters.registry, topics.usage, schemas.USAGE)
    totals_codec = AvroCodec[UsageTotals](adapters.registry, topics.usage_totals,
                                          schemas.USAGE_TOTALS)

    async def count(events: usage.Counted) -> usage.UsageResult:
        return await usage.count_batch(await adapters.pool(), events)

    async def totals(version_ids: set[int]) -> list[UsageTotals]:
        return await usage.totals_records(await adapters.pool(), version_ids)

    ports = UsagePorts(internal, codec.decode, count, totals, totals_codec.encode,
                       partial(produce_all_async, adapters.producer), refused,
                       topics.usage_totals)
    # PostgreSQL or Kafka away: the batch is redone until done, and only then acknowledged.
    batch_agent(app, topics.usage, partial(usage.count_and_report, ports), size=500,
                within=0.2, log=log, name="usage")
    return codec


def add_config(app: faust.App, settings: Settings, adapters: LedgerAdapters, topics: Topics,
               refused: DeadLetter, log: Any) -> AvroCodec[ConfigEvent]:
    """The config agent (config_changes.record_and_report); returns its codec."""
    codec = AvroCodec[ConfigEvent](adapters.registry, topics.config, schemas.CONFIG)
    # signed, by Cairn's services only
    screen = Screen.of(settings, config_changes.subject, config_needs)

    async def record(raws: list[RawRecord]) -> ConfigResult:
        return await config_changes.record_config(await adapters.pool(), raws, codec, screen,
                                                  adapters.clock)

    batch_agent(app, topics.config,
                partial(config_changes.record_and_report, ConfigPorts(record, refused, log)),
                size=100, within=0.05, log=log, name="config")
    return codec


def add_deliveries(app: faust.App, adapters: LedgerAdapters, topics: Topics,
                   internal: Internal, refused: DeadLetter, log: Any
                   ) -> AvroCodec[DeliveryAttempt]:
    """The deliveries agent (deliveries.record_attempts); returns its codec."""
    codec = AvroCodec[DeliveryAttempt](adapters.registry, topics.deliveries, schemas.DELIVERY)

    async def record(rows: Sequence[deliveries.Row]) -> list[str]:
        return await deliveries.record(await adapters.pool(), rows)

    batch_agent(app, topics.deliveries,
                partial(deliveries.record_attempts, DeliveryPorts(internal, codec.decode,
                                                                  record, refused)),
                size=500, within=0.1, log=log, name="deliveries")
    return codec
