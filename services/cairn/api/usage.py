"""Usage events from the api: a view per version read, a download per blob fetched.

Counting a use must never cost the user anything, so reads emit after their response was
sent (background tasks), without waiting for Kafka, and swallow every failure: a lost view
is better than a failed or slow read. A reported pull (POST /v1/usage) is a write and waits
for Kafka's ack like every other write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import Producer
from fastapi import Request
from prometheus_client import Counter

from cairn.api.downloads import Downloaded
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import Header, kafka_headers, produce_all_async
from cairn.core.adapters.topics import Topics
from cairn.core.domain.usage import ANONYMOUS, REPORTED, REPORTED_HEADER, usage_event

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


def count_download(emitter: UsageEmitter, request: Request, found: Downloaded | None
                   ) -> None:
    """Runs once the response was sent, so counting never delays the bytes. `found` is the
    version the caller may read that the download is of (cairn.api.downloads): a blob
    fetched through a version one may not read counts for nobody."""
    if found is not None and not reported_by_client(request):
        emitter.emit_soon(found.artifact, found.digest, "download", reader(request))
