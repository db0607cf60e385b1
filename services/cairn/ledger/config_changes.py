"""The ledger's recorder of configuration changes: each chained and applied exactly once.

A ConfigEvent (a subscription, a retention policy, ...) is recorded like an artifact event:
appended to the same hash-chained event_log (so `cairn audit verify` covers who changed what
configuration) and applied to `config_items` in the same transaction. Refused events are
noted in `rejected_events` and dead-lettered with the reason; a redelivered event_id is found
in event_log and changes nothing. Offsets are acknowledged only after the commit (settle).
`record_and_report` is the handler of a batch, a plain function of its ports (`ConfigPorts`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from prometheus_client import Counter

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec
from cairn.core.domain.config_items import LOG_ONLY, check_item
from cairn.core.domain.event_types import ConfigEvent
from cairn.ledger.batch import REFUSED, decode_screened
from cairn.ledger.entries import append_entry
from cairn.ledger.origins import Screen
from cairn.ledger.ports import Dead, DeadLetter
from cairn.ledger.recorder import lock_head, save_head

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
    recorded: list[ConfigEvent] = field(default_factory=list)
    dead: Dead = field(default_factory=list)
    repeats: int = 0


@dataclass(frozen=True)
class ConfigPorts:
    """What the config handler needs from outside: each a plain callable, so a test passes
    fakes (app.py wires the real ones)."""

    record: Callable[[list[RawRecord]], Awaitable[ConfigResult]]  # returns once committed
    dead_letter: DeadLetter
    log: Any


def subject(event: ConfigEvent) -> str:
    return f"{event['kind']}/{event['key']}"


async def record_config(pool: asyncpg.Pool, raws: Sequence[RawRecord],
                        codec: AvroCodec[ConfigEvent], screen: Screen[ConfigEvent] | None = None,
                        clock: Callable[[], float] = time.time) -> ConfigResult:
    """One transaction for the batch; a savepoint per event so one refusal spares the rest.
    `clock` (seconds) stamps each change's recorded_at."""
    result = ConfigResult()
    decoded = await decode_screened(pool, raws, codec, result.dead, screen)
    if not decoded:
        return result
    async with pool.acquire() as conn, conn.transaction():
        # the head first: a second ledger (a rebalance) waits here, then sees what we wrote
        head = await lock_head(conn)
        seen = {str(r["event_id"]) for r in await conn.fetch(
            "SELECT event_id FROM event_log WHERE event_id = ANY($1::uuid[])"
            " UNION SELECT event_id FROM rejected_events WHERE event_id = ANY($1::uuid[])",
            [str(e["event_id"]) for _, e in decoded])}
        for raw, event in decoded:
            if str(event["event_id"]) in seen:
                result.repeats += 1
                continue
            seen.add(str(event["event_id"]))
            try:
                async with conn.transaction():
                    head = await _apply(conn, event, head, int(clock() * 1000))
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


async def _apply(conn: asyncpg.Connection, event: ConfigEvent, head: tuple[int, str],
                 recorded_at: int) -> tuple[int, str]:
    item = check_item(event["kind"], event["key"], event["body"])
    seq = head[0] + 1
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


async def record_and_report(ports: ConfigPorts, raws: list[RawRecord]) -> None:
    """Record the batch (one transaction), then dead-letter the refused; idempotent by
    event_id, so settle() may redo it whole."""
    result = await ports.record(raws)
    await ports.dead_letter(result.dead)
    for event in result.recorded:
        APPLIED.labels(event["kind"]).inc()
        ports.log.info("config recorded", kind=event["kind"], key=event["key"],
                       actor=event["actor"], removed=event["body"] is None)
