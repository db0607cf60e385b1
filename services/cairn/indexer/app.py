"""The indexer's faust app: batches from the changelog and the usage totals, bulk-merged into
the search index, then acknowledged.

It consumes cairn.artifact.changelog — what the ledger recorded — and cairn.usage.totals —
what the ledger counted — never an input topic, so the index only ever shows states the
ledger had; it reads no PostgreSQL table (batch.py says why it needs none). Faust
acknowledges a batch's offsets only after the loop body returns, and the body returns only
after the engine took the bulk request (retried with backoff while it is down) and Kafka took
the dead letters. One consumer group per index alias: a second indexer filling another engine
or alias reads both topics whole for itself. Every batch runs inside `settle()`: faust would
acknowledge a batch that left by an exception, so the work is retried until done.

`build` is the composition root: it takes the indexer's clients (`IndexerAdapters`: the
schema registry, the search backend, a Kafka producer for dead letters) and wires them to
the batch handlers; the clients are closed once the app stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import faust
from confluent_kafka import Producer
from prometheus_client import Counter, Gauge, Histogram

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.kafka import producer_for
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import flush, lifespan, service_pages, stream_app
from cairn.indexer.batch import ToMerges, changelog_merges, index_batch, usage_merges
from cairn.search.backend import SearchBackend, alias_name, backend_for
from cairn.search.mappings import index_body

INDEXED = Counter("cairn_indexer_documents_total", "Documents written", ["outcome"])
DEAD = Counter("cairn_indexer_dead_letters_total", "Records refused", ["reason"])
LAST_SEQ = Gauge("cairn_indexer_last_seq", "Highest changelog seq indexed")
BATCH = Histogram("cairn_indexer_batch_seconds", "Time to index one batch")


class IndexerTopics(Topics):
    """The shared topics plus the indexer's dead-letter topic."""

    def all(self) -> list[str]:
        return [*super().all(), self.dead_letter("indexer")]


@dataclass(frozen=True)
class IndexerAdapters:
    """The indexer's clients: the schema registry, the search engine, one Kafka producer."""

    registry: RegistryClient
    backend: SearchBackend
    producer: Producer

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexerAdapters:
        return cls(RegistryClient(settings.schema_registry_url),
                   backend_for(settings, patience=None),  # wait out engine restarts
                   producer_for(settings, "cairn-indexer"))

    async def closing(self, stack: AsyncExitStack) -> None:
        """Close each client at the stack's end, the last opened first."""
        stack.callback(self.registry.close)
        stack.push_async_callback(self.backend.close)
        stack.push_async_callback(flush, self.producer)


def create_app(settings: Settings) -> faust.App:
    return build(settings, IndexerAdapters.from_settings(settings))


def build(settings: Settings, adapters: IndexerAdapters) -> faust.App:
    log = configure("indexer")
    topics = IndexerTopics(settings.topic_prefix)
    alias = alias_name(settings)
    app = stream_app(settings, f"cairn-indexer.{alias}", topics.partitions,
                     commit_every=1000)
    backend = adapters.backend
    creating = asyncio.Lock()  # the agents and warm_up may all find the alias missing
    index: list[str] = []
    body = index_body(settings.search_refresh, settings.search_replicas)

    async def ensure() -> str:
        async with creating:
            index[:] = [await backend.ensure_alias(alias, body)]
        return index[0]

    def indexing(codec: AvroCodec, to_merges: ToMerges
                 ) -> Callable[[list[RawRecord]], Awaitable[None]]:
        async def index_and_report(raws: list[RawRecord]) -> None:
            """Bulk-merge one batch and dead-letter what cannot be indexed; idempotent (a
            merge never makes a document older), so settle() may redo it whole."""
            with BATCH.time():
                out = await index_batch(raws, codec, to_merges, backend, alias, ensure)
            await dead_letter(adapters.producer, topics.dead_letter("indexer"), out.dead, DEAD,
                              log, "dead-lettered")
            for doc_id, reason in out.result.rejected:
                log.error("engine refused a document", id=doc_id, reason=reason)
            INDEXED.labels("indexed").inc(out.result.indexed)
            INDEXED.labels("older").inc(out.result.conflicts)
            INDEXED.labels("refused").inc(len(out.result.rejected))
            LAST_SEQ.set(max(LAST_SEQ._value.get(), out.last_seq))
        return index_and_report

    changelog = AvroCodec(adapters.registry, topics.changelog, schemas.RECORDED)
    totals = AvroCodec(adapters.registry, topics.usage_totals, schemas.USAGE_TOTALS)
    batch_agent(app, topics.changelog, indexing(changelog, changelog_merges), size=500,
                within=0.2, log=log, name="indexer")
    batch_agent(app, topics.usage_totals, indexing(totals, usage_merges), size=500,
                within=0.2, log=log, name="usage")
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await ensure()
        log.info("indexer ready", changelog=topics.changelog, usage=topics.usage_totals,
                 alias=alias, index=index[0], engine=backend.engine)

    service_pages(app, lambda: {"alias": alias, "index": index[0]} if index else None)
    return app
