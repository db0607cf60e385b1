"""What every Cairn stream consumer shares: faust's settings, its health and metrics pages,
the changelog agent and the start-up of `python -m cairn.<service>`.

Raw bytes in (each service decodes with its own Avro codec), offsets from the beginning for
a new consumer group, and a short broker session so a killed member's partitions move to
another within seconds (faust's default is 60 s). The ledger, indexer, validator, archiver
and notifier are all built by `stream_app` and started by `run_worker`.

Each service's composition root (`build(settings, adapters)`) takes its I/O clients as one
adapters value and hands them to `lifespan`, which closes each of them once the app stopped.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import faust
from confluent_kafka import Producer
from prometheus_client import Counter, generate_latest

from cairn.core.adapters import postgres, schemas
from cairn.core.adapters.batches import RawRecord, batch_agent, of_types
from cairn.core.adapters.codec import AvroCodec, RegistryClient, UndecodableRecord
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics, ensure_topics
from cairn.core.domain.event_types import RecordedEvent


def stream_app(settings: Settings, group: str, partitions: int, commit_every: int) -> faust.App:
    """A faust App whose consumer group is `group` (prefixed like the topics)."""
    return faust.App(
        f"{settings.topic_prefix}{group}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        value_serializer="raw",
        key_serializer="raw",
        topic_replication_factor=settings.topic_replication,  # its own topics, as Cairn's
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        web_host=settings.http_host,
        web_port=settings.http_port,
        web_in_thread=False,
        broker_commit_every=commit_every,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=1.0,
    )


CLOSE_WAIT = 10.0  # seconds a client may take to close at shutdown


class LazyPool:
    """A PostgreSQL pool opened on first use, inside the worker's event loop (asyncpg binds a
    pool to the loop that made it, and faust's loop runs only once the worker starts); its
    statements bounded like every Cairn pool's (cairn.core.adapters.postgres)."""

    def __init__(self, settings: Settings, *, min_size: int = 1, max_size: int = 4) -> None:
        self._settings, self._sizes = settings, (min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def __call__(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:  # two first uses at once make one pool, not two
            if self._pool is None:
                self._pool = await postgres.create_pool(
                    self._settings, min_size=self._sizes[0], max_size=self._sizes[1])
        return self._pool

    @property
    def opened(self) -> bool:
        return self._pool is not None

    async def close(self) -> None:
        """Wait up to CLOSE_WAIT seconds for borrowed connections to come back, then cut
        them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_WAIT)
            except TimeoutError:
                pool.terminate()


async def flush(producer: Producer) -> None:
    """Deliver what a producer still holds before it goes (librdkafka's flush blocks)."""
    await asyncio.to_thread(producer.flush, CLOSE_WAIT)


def lifespan(app: faust.App, closing: Callable[[AsyncExitStack], Awaitable[None]],
             log: Any) -> None:
    """Run `closing` as the app starts: it pushes the close of each of the service's clients
    onto the stack (opening any it wants open first). mode leaves an app's async exit stack
    only once its agents and tasks stopped, so a batch still settling at shutdown keeps its
    clients; every close runs even when one before it fails (an exit stack is nested
    try/finally), and "clients closed" is logged last."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(log.info, "clients closed")
            await closing(stack)
            yield

    async def open_clients() -> None:
        await app.add_async_context(opened())

    app.task(open_clients)


def service_pages(app: faust.App, readiness: Callable[[], dict[str, Any] | None]) -> None:
    """/healthz (the process answers), /readyz (`readiness()` is not None), /metrics."""

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        detail = readiness()
        if detail is None:
            return web.json({"status": "starting"}, status=503)
        return web.json({"status": "ready", **detail})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type="text/plain")


def changelog_agent(app: faust.App, settings: Settings, topics: Topics, log: Any,
                    undecodable: Counter, name: str,
                    work: Callable[[list[RecordedEvent]], Awaitable[None]], *,
                    registry: RegistryClient | None = None,
                    types: Collection[str] | None = None,
                    fields: Mapping[str, Collection[str]] | None = None) -> None:
    """Feed the changelog to `work` in decoded batches (up to 100, or what came in 0.2 s),
    each inside settle(), so its offsets are acknowledged only once `work` has finished.
    Decoding uses the service's `registry` client (which its lifespan closes), else one of
    its own. With `types`, records whose event-type header names another type are not even
    decoded (`work` must still check the type: a record without the header comes through).
    With `fields`, only those fields are decoded (`schemas.projected`), the rest skipped."""
    registry = registry or RegistryClient(settings.schema_registry_url)
    codec = AvroCodec[RecordedEvent](
        registry, topics.changelog, schemas.RECORDED,
        None if fields is None else schemas.projected(schemas.RECORDED, fields))

    async def decoded(raws: list[RawRecord]) -> None:
        values = (r.value for r in raws if types is None or of_types(r, types))
        await work(decode_changelog(codec, values, log, undecodable))

    batch_agent(app, topics.changelog, decoded, size=100, within=0.2, log=log, name=name)


def run_worker(create_app: Callable[[Settings], faust.App], *,
               topics: Callable[[str], Topics] = Topics,
               before: Callable[[Settings], None] | None = None) -> None:
    """`python -m cairn.<service>`: run `before` (the ledger migrates), make sure `topics`
    exist, register the app's codecs (`app.cairn_codecs`), run the faust worker; in that
    order, since each step needs the one before it."""
    settings = Settings()
    if before is not None:
        before(settings)
    ensure_topics(settings.kafka_bootstrap_servers, topics(settings.topic_prefix),
                  replication=settings.topic_replication, min_isr=settings.topic_min_isr)
    app = create_app(settings)
    for codec in getattr(app, "cairn_codecs", ()):
        codec.register()
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()


def decode_changelog(codec: AvroCodec[RecordedEvent], values: Iterable[bytes | None], log: Any,
                     undecodable: Counter) -> list[RecordedEvent]:
    """The decodable records of a changelog batch. One that is not is counted and logged,
    never dead-lettered: the ledger wrote it, so it is not a consumer's to refuse."""
    records = []
    for value in values:
        try:
            records.append(codec.decode(value))
        except UndecodableRecord as exc:
            undecodable.inc()
            log.warning("undecodable changelog record", error=str(exc))
    return records
