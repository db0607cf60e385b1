"""The ledger's deliveries agent: the notifier's webhook attempts, recorded once each.

A delivery attempt changes no artifact, so like usage it bypasses the hash chain and the
changelog: each DeliveryAttempt from cairn.notifier.deliveries becomes one row of
`deliveries`, whose primary key is the attempt's event_id, so a redelivered report inserts
nothing. A report that cannot be decoded or makes no sense is dead-lettered with the reason.
Each batch runs inside settle(): its offsets are acknowledged only after the commit.
`record_attempts` is the handler of a batch, a plain function of its ports (`DeliveryPorts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Counter

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import UndecodableRecord
from cairn.core.domain.event_types import DeliveryAttempt
from cairn.ledger.ports import Dead, DeadLetter, Internal

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

Row = tuple[Any, ...]


@dataclass(frozen=True)
class DeliveryPorts:
    """What the deliveries handler needs from outside: each a plain callable, so a test
    passes fakes (app.py wires the real ones)."""

    internal: Internal  # reports only from the notifier (a Cairn service)
    decode: Callable[[bytes | None], DeliveryAttempt]  # raises UndecodableRecord
    record: Callable[[Sequence[Row]], Awaitable[list[str]]]  # returns once committed
    dead_letter: DeadLetter


def _at(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def row(report: DeliveryAttempt) -> Row:
    """The table row of a decoded DeliveryAttempt; ValueError if it makes no sense."""
    if report["state"] not in STATES:
        raise ValueError(f"state {report['state']!r}: use one of {', '.join(STATES)}")
    if report["attempt"] < 1:
        raise ValueError(f"attempt {report['attempt']}: attempts count from 1")
    values = {**report, "attempted_at": _at(report["occurred_at"]),
              "next_attempt_at": _at(report["next_attempt_at"])}
    return tuple(values[c] for c in COLUMNS)


def decode(raws: Sequence[RawRecord], decoder: Callable[[bytes | None], DeliveryAttempt],
           dead: Dead) -> list[Row]:
    """Rows of the batch's sensible reports, first copy of each event_id."""
    rows: dict[str, Row] = {}
    for raw in raws:
        try:
            report = decoder(raw.value)
            rows.setdefault(str(report["event_id"]), row(report))
        except UndecodableRecord as exc:
            dead.append((raw, "undecodable", str(exc)))
        except (KeyError, TypeError, ValueError) as exc:
            dead.append((raw, "invalid_delivery", str(exc)))
    return list(rows.values())


async def record(pool: asyncpg.Pool, rows: Sequence[Row]) -> list[str]:
    """Insert the rows not seen before; the states of the ones that went in."""
    if not rows:
        return []
    columns = [list(col) for col in zip(*rows, strict=True)]
    async with pool.acquire() as conn:
        return [r["state"] for r in await conn.fetch(INSERT, *columns)]


async def record_attempts(ports: DeliveryPorts, raws: list[RawRecord]) -> None:
    """Insert the batch's sensible reports (one statement), then dead-letter the rest;
    idempotent by event_id, so settle() may redo it whole."""
    dead: Dead = []
    rows = decode(ports.internal(raws, dead), ports.decode, dead)
    states = await ports.record(rows)
    await ports.dead_letter(dead)
    for state in states:
        RECORDED.labels(state).inc()
