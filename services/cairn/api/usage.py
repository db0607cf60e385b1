"""Usage events from the api: a view per version read, a download per blob fetched.

Counting a use must never cost the user anything, so reads emit after their response was
sent (background tasks), without waiting for Kafka, and swallow every failure: a lost view
is better than a failed or slow read. A reported pull (POST /v1/usage) is a write and waits
for Kafka's ack like every other write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from confluent_kafka import Producer
from fastapi import Request
from prometheus_client import Counter

from cairn.core import schemas
from cairn.core.codec import AvroCodec, RegistryClient
from cairn.core.identity import InvalidInput, Ref
from cairn.core.kafka import Header, kafka_headers, produce_all_async
from cairn.core.topics import Topics
from cairn.core.usage import ANONYMOUS, REPORTED, REPORTED_HEADER, usage_event
from cairn.ledger.queries import artifact_row, resolve_version

log = structlog.get_logger("api")
EMITTED = Counter("cairn_api_usage_emitted_total", "Usage events emitted", ["action"])
LOST = Counter("cairn_api_usage_lost_total", "Usage events that could not be emitted")


class UsageEmitter:
    """Produces UsageEvents to `cairn.usage`, keyed by project/name like artifact events."""

    def __init__(self, registry: RegistryClient, producer: Producer, topics: Topics,
                 sign: Callable[[bytes], list[Header]]) -> None:
        self.topic = topics.usage
        self.codec = AvroCodec(registry, self.topic, schemas.USAGE)
        self.producer = producer
        self.sign = sign  # the ledger counts only what a Cairn service signed

    def register(self) -> None:
        """At start-up (blocking HTTP), so no read ever waits for the registry."""
        self.codec.register()

    def _record(self, event: Any) -> tuple[str, bytes, bytes, list[Header]]:
        value = self.codec.encode(event)
        return self.topic, event["artifact"].encode(), value, self.sign(value)

    def emit_soon(self, artifact: str, digest: str, action: str, actor: str) -> None:
        """Queue one event without waiting for the broker; never raises."""
        try:
            topic, key, value, headers = self._record(
                usage_event(artifact, digest, action, actor=actor, tool="api"))
            self.producer.produce(topic, key=key, value=value, headers=kafka_headers(headers))
            self.producer.poll(0)
            EMITTED.labels(action).inc()
        except Exception as exc:  # Kafka queue full, registry gone, ...: the read still succeeded
            LOST.inc()
            log.warning("usage event lost", artifact=artifact, action=action, error=repr(exc))

    async def emit_acked(self, artifact: str, digest: str, action: str, actor: str,
                         retrieve_ms: int | None) -> str:
        """A client's report: wait for Kafka's ack and answer with the event id."""
        event = usage_event(artifact, digest, action, actor=actor, tool="sdk",
                            retrieve_ms=retrieve_ms)
        await produce_all_async(self.producer, [self._record(event)])
        EMITTED.labels(action).inc()
        return event["event_id"]


def reader(request: Request) -> str:
    """Who read: the caller the policy dependency resolved (cairn.api.principals), whose
    name is `anonymous` without a token that counts."""
    principal = getattr(request.state, "principal", None)
    return principal.name if principal is not None else ANONYMOUS


def reported_by_client(request: Request) -> bool:
    """The SDK's pull reports itself once (POST /v1/usage): its reads are not counted."""
    return request.headers.get(REPORTED_HEADER, "").lower() == REPORTED


def count_view(emitter: UsageEmitter, request: Request, detail: dict[str, Any]) -> None:
    if not reported_by_client(request):
        emitter.emit_soon(f"{detail['project']}/{detail['name']}", detail["digest"], "view",
                          reader(request))


BLOB_VERSIONS_SQL = """
SELECT a.project, a.name, v.digest FROM files f
JOIN versions v ON v.id = f.version_id JOIN artifacts a ON a.id = v.artifact_id
WHERE f.sha256 = $1 ORDER BY v.id LIMIT 2
"""


async def count_download(emitter: UsageEmitter, request: Request, pool: asyncpg.Pool,
                         sha256: str, ref: Ref | None) -> None:
    """Runs once the response was sent, so counting never delays the bytes."""
    if reported_by_client(request):
        return
    try:
        async with pool.acquire() as conn:
            found = await _downloaded_version(conn, sha256, ref)
        if found is not None:
            emitter.emit_soon(*found, "download", reader(request))
    except Exception as exc:  # PostgreSQL away, say: the bytes were served all the same
        LOST.inc()
        log.warning("usage event lost", sha256=sha256, error=repr(exc))


async def _downloaded_version(conn: asyncpg.Connection, sha256: str, ref: Ref | None
                              ) -> tuple[str, str] | None:
    """(artifact, digest) of the version downloaded. A blob belongs to every version whose
    manifest lists it: `?ref=` says which one; without it, only a blob of exactly one
    version can be counted."""
    if ref is None:
        rows = await conn.fetch(BLOB_VERSIONS_SQL, sha256)
        return (f"{rows[0]['project']}/{rows[0]['name']}", rows[0]["digest"]) \
            if len(rows) == 1 else None
    art = await artifact_row(conn, ref.artifact)
    if art is None:
        return None
    try:
        version = await resolve_version(conn, art["id"], ref.selector or "latest")
    except InvalidInput:  # the client named a version that does not exist: nothing to count
        return None
    listed = await conn.fetchval("SELECT 1 FROM files WHERE version_id = $1 AND sha256 = $2",
                                 version["id"], sha256)
    return (ref.artifact, version["digest"]) if listed else None
