"""Helpers for tests that drive the ledger directly through Kafka (no api in between)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import Any

import asyncpg

from cairn.core import payloads
from cairn.core.emitter import Emitter
from cairn.core.events import new_event
from cairn.core.settings import Settings


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(**{k: v for k, v in env.items()})  # type: ignore[arg-type]


def fake_file(path: str, content: bytes) -> dict[str, Any]:
    """A manifest entry for bytes (the ledger records manifests; blobs live elsewhere)."""
    return {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def publish_event(project: str, name: str, kind: str = "dataset", content: bytes | None = None,
                  links: list[dict[str, Any]] | None = None, actor: str = "tester") -> dict[str, Any]:
    content = content if content is not None else uuid.uuid4().bytes
    body = payloads.published(
        kind=kind, project=project, name=name, files=[fake_file("data/part-0.bin", content)],
        metadata_={"creator": actor, "tags": ["test"], "metrics": {"accuracy": 0.9}},
        links=links or [],
    )
    return new_event(f"{project}/{name}", "Published", body, actor=actor, tool="test")


async def wait_recorded(database_url: str, event_ids: list[str], timeout: float = 120.0
                        ) -> dict[str, asyncpg.Record]:
    """Poll the ledger until every event id is in event_log or rejected_events."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
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
