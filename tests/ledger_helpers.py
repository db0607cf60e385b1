"""Helpers for tests that drive the ledger directly through Kafka (no api in between)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.settings import Settings
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(**{k: v for k, v in env.items()})  # type: ignore[arg-type]


def fake_file(path: str, content: bytes) -> dict[str, Any]:
    """A manifest entry for bytes (the ledger records manifests; blobs live elsewhere)."""
    return {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def publish_event(project: str, name: str, kind: str = "dataset", content: bytes | None = None,
                  links: list[dict[str, Any]] | None = None, actor: str = "tester"
                  ) -> dict[str, Any]:
    content = content if content is not None else uuid.uuid4().bytes
    body = payloads.published(
        kind=kind, project=project, name=name, files=[fake_file("data/part-0.bin", content)],
        metadata_={"creator": actor, "tags": ["test"], "metrics": {"accuracy": 0.9}},
        links=links or [],
    )
    return new_event(f"{project}/{name}", "Published", body, actor=actor, tool="test")


async def wait_recorded(database_url: str, event_ids: list[str], patience_s: float = 120.0
                        ) -> dict[str, asyncpg.Record]:
    """Poll the ledger until every event id is in event_log or rejected_events (or
    patience_s passed: then the rows found so far)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + patience_s
        wanted = [uuid.UUID(e) for e in event_ids]
        while True:
            rows = await conn.fetch(
                "SELECT event_id, seq, outcome, version_id, NULL AS reason FROM event_log"
                " WHERE event_id = ANY($1::uuid[])"
                " UNION ALL SELECT event_id, NULL, 'rejected', NULL, reason FROM rejected_events"
                " WHERE event_id = ANY($1::uuid[])", wanted,
            )
            if len(rows) >= len(set(wanted)) or time.monotonic() > deadline:
                return {str(r["event_id"]): r for r in rows}
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def emitter_for(env: dict[str, str]) -> Emitter:
    return Emitter(settings_for(env), "cairn-test")


async def emit_recorded(env: dict[str, str], database_url: str, events: Sequence[dict[str, Any]]
                        ) -> dict[str, asyncpg.Record]:
    """Emit `events` in order, close the emitter, and wait until the ledger recorded (or
    rejected) each one: what a test that drives the ledger directly does first."""
    emitter = emitter_for(env)
    try:
        emitter.emit(*events)
    finally:
        emitter.close()
    return await wait_recorded(database_url, [e["event_id"] for e in events])


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record now in a topic, from the beginning of each partition to its end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        consumer.assign(parts)
        done = {p for p, end in ends.items() if end == 0}
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(done) < len(parts) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error():
                    continue
                out.append(msg)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return out
    finally:
        consumer.close()
