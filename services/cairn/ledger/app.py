"""The ledger's faust app: batches from cairn.artifact.events, recorded, republished.

Faust acknowledges a batch's offsets only after the loop body returns, and the body
returns only after PostgreSQL committed and Kafka acknowledged the changelog records, so
an offset is never committed ahead of what it stands for.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import faust
from prometheus_client import Counter, Gauge

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.kafka import produce_all_async, producer
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import service_pages, stream_app
from cairn.ledger import config, deliveries, usage
from cairn.ledger.batch import record_batch
from cairn.ledger.origins import Screen, artifact_needs

RECORDED = Counter("cairn_ledger_recorded_total", "Events recorded", ["outcome"])
DEAD = Counter("cairn_ledger_dead_letters_total", "Events refused", ["reason"])
REPEATS = Counter("cairn_ledger_redelivered_total", "Events seen again and republished")
LAST_SEQ = Gauge("cairn_ledger_last_seq", "Highest seq published to the changelog")


def create_app(settings: Settings) -> faust.App:
    log = configure("ledger")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-ledger", topics.partitions, commit_every=1000)
    registry = RegistryClient(settings.schema_registry_url)
    events_codec = AvroCodec(registry, topics.events, schemas.EVENT)
    changelog_codec = AvroCodec(registry, topics.changelog, schemas.RECORDED)
    kafka = producer(settings.kafka_bootstrap_servers, "cairn-ledger")
    screen = Screen.of(settings, lambda event: str(event["artifact"]), artifact_needs)
    state: dict[str, Any] = {"pool": None, "ready": False}

    async def pool() -> asyncpg.Pool:
        if state["pool"] is None:
            state["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        return state["pool"]

    async def record_and_publish(raws: list[RawRecord]) -> None:
        """Record in PostgreSQL, then publish; both idempotent, so a retry redoes both."""
        result = await record_batch(await pool(), raws, events_codec, settings.kind_list,
                                    screen)
        await produce_all_async(kafka, [
            (topics.changelog, r["event"]["artifact"].encode(), changelog_codec.encode(r), None)
            for r in result.recorded])
        await dead_letter(kafka, topics.dead_letter("ledger"), result.dead, DEAD, log,
                          "dead-lettered")
        for r in result.recorded:
            RECORDED.labels(r["outcome"]).inc()
            LAST_SEQ.set(max(LAST_SEQ._value.get(), r["seq"]))
        REPEATS.inc(result.repeats)

    batch_agent(app, topics.events, record_and_publish, size=500, within=0.05, log=log,
                name="ledger")

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await pool()
        state["ready"] = True
        log.info("ledger ready", events=topics.events, changelog=topics.changelog)

    service_pages(app, lambda: {} if state["ready"] else None)

    usage_codec = usage.install(app, settings, registry, pool, kafka)  # the second agent
    config_codec = config.install(app, settings, registry, pool, kafka)  # and the third
    deliveries_codec = deliveries.install(app, settings, registry, pool, kafka)  # fourth
    app.cairn_codecs = (  # type: ignore[attr-defined]
        events_codec, changelog_codec, usage_codec, config_codec, deliveries_codec)
    return app
