"""The ledger's config handler (config_changes.record_and_report) with hand-written fakes:
no Kafka, no PostgreSQL. The batch is recorded (one transaction), then the refused are
dead-lettered; a failed recording dead-letters nothing, so settle() redoes the whole batch."""

from __future__ import annotations

from typing import cast

import pytest
from cairn.core.adapters.batches import RawRecord
from cairn.core.domain.event_types import ConfigEvent
from cairn.ledger.config_changes import ConfigPorts, ConfigResult, record_and_report

from tests.unit.ledger_fakes import DeadLetters, Journal, Log, raw

TOPIC = "t.cairn.config.events"


def change(event_id: str, kind: str = "team", key: str = "vision",
           body: str | None = '{"members": ["ana"]}') -> ConfigEvent:
    return cast(ConfigEvent, {
        "event_id": event_id, "occurred_at": 1_700_000_000_000, "actor": "svc:api",
        "source": {"tool": "api", "host": None, "run_id": None}, "schema_version": 1,
        "kind": kind, "key": key, "body": body})


class Recorder:
    """Stands for record_config: returns a prepared result once 'committed', or fails."""

    def __init__(self, journal: Journal, result: ConfigResult | None = None,
                 error: Exception | None = None) -> None:
        self.journal, self.result, self.error = journal, result or ConfigResult(), error

    async def __call__(self, raws: list[RawRecord]) -> ConfigResult:
        if self.error is not None:
            raise self.error
        self.journal.append(("commit", [r.offset for r in raws]))
        return self.result


async def handle(recorder: Recorder, raws: list[RawRecord], log: Log | None = None) -> None:
    await record_and_report(ConfigPorts(recorder, DeadLetters(recorder.journal),
                                        log or Log()), raws)


async def test_recorded_changes_are_logged_and_nothing_is_dead_lettered() -> None:
    journal, log = Journal(), Log()
    result = ConfigResult(recorded=[change("e1"), change("e2", key="nlp", body=None)])
    await handle(Recorder(journal, result), [raw(1, b"a", TOPIC), raw(2, b"b", TOPIC)], log)
    assert journal == [("commit", [1, 2])]
    assert [(i["what"], i["kind"], i["key"], i["removed"]) for i in log.infos] == [
        ("config recorded", "team", "vision", False), ("config recorded", "team", "nlp", True)]


async def test_refused_changes_are_dead_lettered_after_the_commit() -> None:
    journal, log = Journal(), Log()
    refused, forged = raw(2, b"bad", TOPIC), raw(3, b"forged", TOPIC)
    result = ConfigResult(recorded=[change("e1")],
                          dead=[(refused, "invalid_config", "no members"),
                                (forged, "bad_signature", "signature does not match")])
    await handle(Recorder(journal, result), [raw(1, b"a", TOPIC), refused, forged], log)
    assert journal == [("commit", [1, 2, 3]),
                       ("dead", [(2, "invalid_config"), (3, "bad_signature")])]
    assert [i["key"] for i in log.infos] == ["vision"]  # only what was recorded is logged


async def test_nothing_is_dead_lettered_when_recording_fails() -> None:
    journal, log = Journal(), Log()
    with pytest.raises(ConnectionError):
        await handle(Recorder(journal, error=ConnectionError("postgres away")),
                     [raw(1, b"\x00", TOPIC)], log)
    assert journal == [] and log.infos == []


async def test_a_redelivered_batch_records_nothing_again() -> None:
    journal, log = Journal(), Log()
    await handle(Recorder(journal, ConfigResult(repeats=2)),
                 [raw(1, b"a", TOPIC), raw(2, b"b", TOPIC)], log)
    assert journal == [("commit", [1, 2])] and log.infos == []

