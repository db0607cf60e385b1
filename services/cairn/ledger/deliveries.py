"""The ledger's deliveries agent: the notifier's webhook attempts, recorded once each.

A delivery attempt changes no artifact, so like usage it bypasses the hash chain and the
changelog: each DeliveryAttempt from cairn.notifier.deliveries becomes one row of
`deliveries`, whose primary key is the attempt's event_id, so a redelivered report inserts
nothing. A report that cannot be decoded or makes no sense is dead-lettered with the reason.
Each batch runs inside settle(): its offsets are acknowledged only after the commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import faust
from confluent_kafka import Producer
from prometheus_client import Counter

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, batch_agent
from cairn.core.adapters.codec import AvroCodec, RegistryClient, UndecodableRecord
from cairn.core.adapters.dead_letters import dead_letter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.ledger.origins import internal_records, ledger_master

RECORDED = Counter("cairn_ledger_deliveries_recorded_total", "Delivery attempts recorded",
                   ["state"])
DELIVERY_DEAD = Counter("cairn_ledger_deliveries_dead_letters_total",
                        "Delivery attempt reports refused", ["reason"])
STATES = ("delivered", "retrying", "dead")
COLUMNS = ("event_id", "subscription", "team", "delivery_id", "seq", "event_type", "artifact",
           "target", "attempt", "status_code", "error", "duration_ms", "state", "attempted_at",
           "next_attempt_at")
TYPES = ("uuid", "text", "text", "text", "bigint", "text", "text", "text", "int", "int", "text",
         "float8", "text", "timestamptz", "timestamptz")
INSERT = (f"INSERT INTO deliveries ({', '.join(COLUMNS)}) SELECT * FROM unnest("
          + ", ".join(f"${i}::{t}[]" for i, t in enumerate(TYPES, 1))
          + ") ON CONFLICT (event_id) DO NOTHING RETURNING state")

Dead = list[tuple[RawRecord, str, str]]


def _at(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def row(report: dict[str, Any]) -> tuple[Any, ...]:
    """The table row of a decoded DeliveryAttempt; ValueError if it makes no sense."""
    if report["state"] not in STATES:
        raise ValueError(f"state {report['state']!r}: use one of {', '.join(STATES)}")
    if report["attempt"] < 1:
        raise ValueError(f"attempt {report['attempt']}: attempts count from 1")
    values = {**report, "attempted_at": _at(report["occurred_at"]),
              "next_attempt_at": _at(report["next_attempt_at"])}
    return tuple(values[c] for c in COLUMNS)


def decode(raws: Sequence[RawRecord], codec: AvroCodec, dead: Dead) -> list[tuple[Any, ...]]:
    """Rows of the batch's sensible reports, first copy of each event_id."""
    rows: dict[str, tuple[Any, ...]] = {}
    for raw in raws:
        try:
            report = codec.decode(raw.value)
            rows.setdefault(str(report["event_id"]), row(report))
        except UndecodableRecord as exc:
            dead.append((raw, "undecodable", str(exc)))
        except (KeyError, TypeError, ValueError) as exc:
            dead.append((raw, "invalid_delivery", str(exc)))
    return list(rows.values())


async def record(pool: asyncpg.Pool, rows: Sequence[tuple[Any, ...]]) -> list[str]:
    """Insert the rows not seen before; the states of the ones that went in."""
    if not rows:
        return []
    columns = [list(col) for col in zip(*rows, strict=True)]
    async with pool.acquire() as conn:
        return [r["state"] for r in await conn.fetch(INSERT, *columns)]


def install(app: faust.App, settings: Settings, registry: RegistryClient,
            pool: Callable[[], Awaitable[asyncpg.Pool]], kafka: Producer) -> AvroCodec:
    """Add the deliveries agent to the ledger's app; returns its codec (registered at start)."""
    log = configure("ledger")
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry, topics.deliveries, schemas.DELIVERY)
    master = ledger_master(settings)  # reports only from the notifier (a Cairn service)

    async def work(raws: list[RawRecord]) -> None:
        dead: Dead = []
        rows = decode(internal_records(raws, master, dead), codec, dead)
        states = await record(await pool(), rows)
        await dead_letter(kafka, topics.dead_letter("ledger"), dead, DELIVERY_DEAD, log,
                          "delivery report dead-lettered")
        for state in states:
            RECORDED.labels(state).inc()

    batch_agent(app, topics.deliveries, work, size=500, within=0.1, log=log, name="deliveries")

    return codec
