"""The ledger's config agent: configuration changes chained and applied exactly once.

A ConfigEvent (a subscription, a retention policy, ...) is recorded like an artifact event:
appended to the same hash-chained event_log (so `cairn audit verify` covers who changed what
configuration) and applied to `config_items` in the same transaction. Refused events are
noted in `rejected_events` and dead-lettered with the reason; a redelivered event_id is found
in event_log and changes nothing. Offsets are acknowledged only after the commit (settle).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import faust
from confluent_kafka import Producer
from prometheus_client import Counter

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.domain.config_items import LOG_ONLY, check_item
from cairn.core.domain.events import now_ms
from cairn.ledger.batch import REFUSED, decode_screened
from cairn.ledger.origins import Screen, config_needs
from cairn.ledger.recorder import append_entry, lock_head, save_head

APPLIED = Counter("cairn_ledger_config_recorded_total", "Config changes recorded", ["kind"])
CONFIG_DEAD = Counter("cairn_ledger_config_dead_letters_total", "Config changes refused",
                      ["reason"])
EVENT_TYPE = "ConfigChanged"

UPSERT = """
INSERT INTO config_items AS c (kind, key, body, removed, actor, created_at, updated_at, seq)
VALUES ($1, $2, $3::jsonb, $4, $5, $6, $6, $7)
ON CONFLICT (kind, key) DO UPDATE SET body = EXCLUDED.body, removed = EXCLUDED.removed,
    actor = EXCLUDED.actor, updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
"""


@dataclass
class ConfigResult:
    recorded: list[dict[str, Any]] = field(default_factory=list)
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)
    repeats: int = 0


def subject(event: dict[str, Any]) -> str:
    return f"{event['kind']}/{event['key']}"


async def record_config(pool: asyncpg.Pool, raws: Sequence[RawRecord], codec: AvroCodec,
                        screen: Screen | None = None) -> ConfigResult:
    """One transaction for the batch; a savepoint per event so one refusal spares the rest."""
    result = ConfigResult()
    decoded = await decode_screened(pool, raws, codec, result.dead, screen)
    if not decoded:
        return result
    async with pool.acquire() as conn, conn.transaction():
        seen = {str(r["event_id"]) for r in await conn.fetch(
            "SELECT event_id FROM event_log WHERE event_id = ANY($1::uuid[])"
            " UNION SELECT event_id FROM rejected_events WHERE event_id = ANY($1::uuid[])",
            [str(e["event_id"]) for _, e in decoded])}
        head = await lock_head(conn)
        for raw, event in decoded:
            if str(event["event_id"]) in seen:
                result.repeats += 1
                continue
            seen.add(str(event["event_id"]))
            try:
                async with conn.transaction():
                    head = await _apply(conn, event, head)
                result.recorded.append(event)
            except REFUSED as exc:
                reason = getattr(exc, "reason", "invalid_config")
                await conn.execute(
                    "INSERT INTO rejected_events (event_id, artifact, reason, message,"
                    " rejected_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING",
                    str(event["event_id"]), subject(event), reason, str(exc))
                result.dead.append((raw, reason, str(exc)))
        await save_head(conn, head)
    return result


async def _apply(conn: asyncpg.Connection, event: dict[str, Any], head: tuple[int, str]
                 ) -> tuple[int, str]:
    item = check_item(event["kind"], event["key"], event["body"])
    seq, recorded_at = head[0] + 1, now_ms()
    at = dt.datetime.fromtimestamp(recorded_at / 1000, dt.UTC)
    digest = await append_entry(conn, head[1], {
        "seq": seq, "event_id": str(event["event_id"]), "artifact": subject(event),
        "event_type": LOG_ONLY.get(event["kind"], EVENT_TYPE), "outcome": "applied",
        "actor": event["actor"], "occurred_at_ms": event["occurred_at"],
        "recorded_at_ms": recorded_at, "event": event,
        "state": {"kind": event["kind"], "key": event["key"]}, "version_id": None})
    if event["kind"] in LOG_ONLY:  # a record of something that happened (a denial), no item
        return seq, digest
    await conn.execute(UPSERT, event["kind"], event["key"],
                       None if item is None else json.dumps(item), item is None,
                       event["actor"], at, seq)
    return seq, digest


def install(app: faust.App, settings: Settings, registry: RegistryClient,
            pool: Callable[[], Awaitable[asyncpg.Pool]], kafka: Producer) -> AvroCodec:
    """Add the config agent to the ledger's app; returns its codec (registered at start-up)."""
    log = configure("ledger")
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry, topics.config, schemas.CONFIG)
    screen = Screen.of(settings, subject, config_needs)  # signed, by Cairn's services only

    async def work(raws: list[RawRecord]) -> None:
        result = await record_config(await pool(), raws, codec, screen)
        await dead_letter(kafka, topics.dead_letter("ledger"), result.dead, CONFIG_DEAD, log,
                          "config dead-lettered")
        for event in result.recorded:
            APPLIED.labels(event["kind"]).inc()
            log.info("config recorded", kind=event["kind"], key=event["key"],
                     actor=event["actor"], removed=event["body"] is None)

    batch_agent(app, topics.config, work, size=100, within=0.05, log=log, name="config")

    return codec
