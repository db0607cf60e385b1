"""The indexer's faust app: batches from the changelog, bulk-indexed, then acknowledged.

It consumes cairn.artifact.changelog — what the ledger recorded — never the input topic, so
the index only ever shows states the ledger had. Faust acknowledges a batch's offsets only
after the loop body returns, and the body returns only after the engine took the bulk
request (retried with backoff while it is down) and Kafka took the dead letters.
One consumer group per index alias: a second indexer filling another engine or alias reads
the whole changelog for itself. Every batch runs inside `settle()`: faust would acknowledge
a batch that left by an exception, so the work is retried until done.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import faust
from prometheus_client import Counter, Gauge, Histogram

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.kafka import producer
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import service_pages, stream_app
from cairn.indexer.batch import index_batch
from cairn.indexer.sync import Refresher
from cairn.search.backend import alias_name, backend_for
from cairn.search.mappings import index_body

INDEXED = Counter("cairn_indexer_documents_total", "Documents written", ["outcome"])
DEAD = Counter("cairn_indexer_dead_letters_total", "Changelog records refused", ["reason"])
LAST_SEQ = Gauge("cairn_indexer_last_seq", "Highest changelog seq indexed")
BATCH = Histogram("cairn_indexer_batch_seconds", "Time to index one batch")


class IndexerTopics(Topics):
    """The shared topics plus the indexer's dead-letter topic."""

    def all(self) -> list[str]:
        return [*super().all(), self.dead_letter("indexer")]


def refresh_seconds(interval: str) -> float:
    """`1s`, `500ms`, `2m` → seconds; `-1` (refresh off) counts as one second."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in sorted(units, key=len, reverse=True):
        if interval.endswith(unit) and interval[: -len(unit)].replace(".", "", 1).isdigit():
            return float(interval[: -len(unit)]) * units[unit]
    return 1.0


def create_app(settings: Settings) -> faust.App:
    log = configure("indexer")
    topics = IndexerTopics(settings.topic_prefix)
    alias = alias_name(settings)
    app = stream_app(settings, f"cairn-indexer.{alias}", topics.partitions,
                     commit_every=1000)
    codec = AvroCodec(RegistryClient(settings.schema_registry_url), topics.changelog,
                      schemas.RECORDED)
    backend = backend_for(settings, patience=None)  # wait out engine restarts, never skip
    kafka = producer(settings.kafka_bootstrap_servers, "cairn-indexer")
    state: dict[str, Any] = {"pool": None, "ready": False, "index": None}

    async def pool() -> asyncpg.Pool:
        if state["pool"] is None:
            state["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1,
                                                      max_size=4)
        return state["pool"]

    creating = asyncio.Lock()  # the agent and warm_up may both find the alias missing

    async def ensure() -> str:
        async with creating:
            state["index"] = await backend.ensure_alias(alias,
                                                        index_body(settings.search_refresh))
        return str(state["index"])

    refresher = Refresher(backend, alias, pool, usage_every=settings.usage_sync,
                          visible_after=refresh_seconds(settings.search_refresh) + 0.5)

    async def index_and_report(raws: list[RawRecord]) -> None:
        """Bulk-index one batch and dead-letter what cannot be indexed; idempotent (external
        versions by seq), so settle() may redo it whole after any failure."""
        with BATCH.time():
            out = await index_batch(raws, codec, backend, alias, pool, ensure)
        await dead_letter(kafka, topics.dead_letter("indexer"), out.dead, DEAD, log,
                          "dead-lettered")
        for doc_id, reason in out.result.rejected:
            log.error("engine refused a document", id=doc_id, reason=reason)
        INDEXED.labels("indexed").inc(out.result.indexed)
        INDEXED.labels("older").inc(out.result.conflicts)
        INDEXED.labels("refused").inc(len(out.result.rejected))
        LAST_SEQ.set(max(LAST_SEQ._value.get(), out.last_seq))
        refresher.touch(out.artifacts)

    batch_agent(app, topics.changelog, index_and_report, size=500, within=0.2, log=log,
                name="indexer")

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await pool()
        index = await ensure()
        state["ready"] = True
        log.info("indexer ready", changelog=topics.changelog, alias=alias, index=index,
                 engine=backend.engine)

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def refresh_from_ledger() -> None:
        if not state["ready"]:
            return
        try:
            await refresher.run_once()
        except Exception as exc:  # PostgreSQL or the engine away: the next tick tries again
            log.warning("refresh from the ledger failed; retrying", error=repr(exc))

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_clients(_: faust.App, **__: Any) -> None:
        await backend.close()
        if state["pool"] is not None:
            await state["pool"].close()
        kafka.flush(10)

    service_pages(app, lambda: {"alias": alias, "index": state["index"], **refresher.status()}
                  if state["ready"] else None)
    return app
