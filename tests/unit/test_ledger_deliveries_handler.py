"""The ledger's deliveries handler (deliveries.record_attempts) with hand-written fakes: no
Kafka, no PostgreSQL. The sensible reports are inserted (one statement, committed on return),
then the refused are dead-lettered; a failed insert dead-letters nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from cairn.core.adapters.batches import RawRecord
from cairn.ledger.deliveries import COLUMNS, DeliveryPorts, Row, record_attempts

from tests.unit.ledger_fakes import DeadLetters, Journal, decode_json, raw, signed_only

TOPIC = "t.cairn.notifier.deliveries"


def attempt(event_id: str, state: str = "delivered", attempt: int = 1,
            next_attempt_at: int | None = None) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": 1_700_000_000_000, "actor": "svc:notifier",
            "source": {"tool": "notifier", "host": None, "run_id": None},
            "artifact": "vision/resnet", "schema_version": 1, "subscription": "s1",
            "team": "vision", "delivery_id": "d1", "seq": 12, "event_type": "Published",
            "target": "http://127.0.0.1:9/hook", "attempt": attempt, "status_code": 200,
            "error": None, "duration_ms": 3.5, "state": state,
            "next_attempt_at": next_attempt_at}


class Deliveries:
    """Stands for deliveries.record: the table keyed by event_id; an event_id seen before
    inserts nothing (ON CONFLICT DO NOTHING)."""

    def __init__(self, journal: Journal, error: Exception | None = None) -> None:
        self.journal, self.error = journal, error
        self.table: dict[str, dict[str, Any]] = {}

    async def __call__(self, rows: Sequence[Row]) -> list[str]:
        if self.error is not None:
            raise self.error
        fresh = [dict(zip(COLUMNS, r, strict=True)) for r in rows
                 if str(r[0]) not in self.table]
        self.table.update((str(r["event_id"]), r) for r in fresh)
        self.journal.append(("commit", [str(r[0]) for r in rows]))
        return [r["state"] for r in fresh]


async def handle(table: Deliveries, raws: list[RawRecord]) -> None:
    await record_attempts(DeliveryPorts(signed_only, decode_json, table,
                                        DeadLetters(table.journal)), raws)


async def test_reports_become_rows_once_each() -> None:
    journal = Journal()
    table = Deliveries(journal)
    await handle(table, [raw(1, attempt("a1"), TOPIC),
                         raw(2, attempt("a2", "retrying", 2, 1_700_000_060_000), TOPIC),
                         raw(3, attempt("a1"), TOPIC)])  # the same report twice: one row
    assert journal == [("commit", ["a1", "a2"])]
    assert table.table["a2"]["attempted_at"] == dt.datetime(2023, 11, 14, 22, 13, 20,
                                                            tzinfo=dt.UTC)
    assert table.table["a2"]["next_attempt_at"] == dt.datetime(2023, 11, 14, 22, 14, 20,
                                                               tzinfo=dt.UTC)
    assert table.table["a1"]["next_attempt_at"] is None


async def test_refused_reports_are_dead_lettered_after_the_commit() -> None:
    journal = Journal()
    await handle(Deliveries(journal), [
        raw(1, attempt("a1"), TOPIC), raw(2, attempt("a2"), TOPIC, signed=False),
        raw(3, b"\x00", TOPIC), raw(4, attempt("a4", state="lost"), TOPIC),
        raw(5, attempt("a5", attempt=0), TOPIC), raw(6, {"event_id": "a6"}, TOPIC)])
    assert journal == [("commit", ["a1"]),
                       ("dead", [(2, "unsigned"), (3, "undecodable"), (4, "invalid_delivery"),
                                 (5, "invalid_delivery"), (6, "invalid_delivery")])]


async def test_nothing_is_dead_lettered_when_the_insert_fails() -> None:
    journal = Journal()
    with pytest.raises(ConnectionError):  # settle() redoes the batch
        await handle(Deliveries(journal, ConnectionError("postgres away")),
                     [raw(1, attempt("a1"), TOPIC), raw(2, b"\x00", TOPIC)])
    assert journal == []


async def test_a_redelivered_batch_inserts_nothing_again() -> None:
    journal = Journal()
    table = Deliveries(journal)
    batch = [raw(1, attempt("a1"), TOPIC), raw(2, attempt("a2", "dead", 5), TOPIC)]
    await handle(table, batch)
    before = dict(table.table)
    await handle(table, batch)
    assert journal == [("commit", ["a1", "a2"]), ("commit", ["a1", "a2"])]
    assert table.table == before
