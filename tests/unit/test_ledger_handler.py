"""The ledger's batch handler with hand-written fakes: no Kafka, no PostgreSQL.

The fakes write what happened, in order, to one shared journal, so a test can check that
nothing is produced before the batch committed and in which order the records go out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from cairn.core.adapters.batches import RawRecord, event_type_header
from cairn.ledger.batch import BatchResult
from cairn.ledger.handler import Outgoing, Ports, record_and_publish

CHANGELOG, DLQ = "t.cairn.artifact.changelog", "t.cairn.artifact.events.ledger.dlq"
PUBLISHED = event_type_header("Published")


class Journal(list[tuple[str, Any]]):
    """What the fakes did, in order."""


class FakeRecorder:
    """Stands for record_batch: returns a prepared result and notes the commit, or fails."""

    def __init__(self, journal: Journal, result: BatchResult | None = None,
                 error: Exception | None = None) -> None:
        self.journal, self.result, self.error = journal, result or BatchResult(), error

    async def __call__(self, raws: list[RawRecord]) -> BatchResult:
        if self.error is not None:
            raise self.error
        self.journal.append(("commit", [r.offset for r in raws]))
        return self.result


class FakeProducer:
    """Collects what would be produced; each call is one acknowledged produce_all."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def __call__(self, records: Sequence[Outgoing]) -> None:
        self.journal.append(("produce", list(records)))


class Log:
    def __init__(self) -> None:
        self.warnings: list[dict[str, Any]] = []

    def warning(self, what: str, **fields: Any) -> None:
        self.warnings.append({"what": what, **fields})


def raw(offset: int, value: bytes = b"v") -> RawRecord:
    return RawRecord(b"k%d" % offset, value, "t.cairn.artifact.events", 0, offset)


def recorded(seq: int, artifact: str = "vision/resnet") -> dict[str, Any]:
    return {"seq": seq, "outcome": "applied",
            "event": {"artifact": artifact, "payload": ("dev.cairn.events.Published", {})}}


def ports(journal: Journal, recorder: FakeRecorder, log: Log | None = None) -> Ports:
    def encode(record: dict[str, Any]) -> bytes:
        return json.dumps(record["seq"]).encode()

    return Ports(recorder, FakeProducer(journal), encode, CHANGELOG, DLQ, log or Log())


async def test_nothing_is_produced_when_recording_fails() -> None:
    journal = Journal()
    with pytest.raises(ConnectionError):  # settle() retries the batch; nothing went out
        await record_and_publish(ports(journal, FakeRecorder(journal,
                                                             error=ConnectionError())),
                                 [raw(1)])
    assert journal == []


async def test_changelog_records_go_out_in_order_after_the_commit() -> None:
    journal = Journal()
    result = BatchResult(recorded=[recorded(7), recorded(8, "nlp/bert"), recorded(9)])
    await record_and_publish(ports(journal, FakeRecorder(journal, result)),
                             [raw(1), raw(2), raw(3)])
    assert [what for what, _ in journal] == ["commit", "produce"]
    assert journal[1][1] == [(CHANGELOG, b"vision/resnet", b"7", [PUBLISHED]),
                             (CHANGELOG, b"nlp/bert", b"8", [PUBLISHED]),
                             (CHANGELOG, b"vision/resnet", b"9", [PUBLISHED])]


async def test_dead_letters_go_as_they_came_with_their_reasons_after_the_changelog() -> None:
    journal, log = Journal(), Log()
    refused, broken = raw(2, b"forged"), raw(3, b"\x00")
    result = BatchResult(recorded=[recorded(7)],
                         dead=[(refused, "unsigned", "no signature"),
                               (broken, "undecodable", "not Avro")])
    await record_and_publish(ports(journal, FakeRecorder(journal, result), log),
                             [raw(1), refused, broken])
    assert [what for what, _ in journal] == ["commit", "produce", "produce"]
    assert [r[0] for r in journal[1][1]] == [CHANGELOG]
    letters = journal[2][1]
    assert [(topic, key, value) for topic, key, value, _ in letters] == [
        (DLQ, b"k2", b"forged"), (DLQ, b"k3", b"\x00")]
    headers = [dict(h) for *_, h in letters]
    assert [h["cairn.dlq.reason"] for h in headers] == [b"unsigned", b"undecodable"]
    assert headers[0]["cairn.dlq.message"] == b"no signature"
    assert json.loads(headers[1]["cairn.dlq.source"]) == {
        "topic": "t.cairn.artifact.events", "partition": 0, "offset": 3}
    assert [(w["reason"], w["detail"]) for w in log.warnings] == [
        ("unsigned", "no signature"), ("undecodable", "not Avro")]


async def test_a_batch_of_repeats_republishes_and_sends_no_dead_letters() -> None:
    journal = Journal()
    result = BatchResult(recorded=[recorded(4)], repeats=1)
    assert (await record_and_publish(ports(journal, FakeRecorder(journal, result)),
                                     [raw(1)])).repeats == 1
    assert journal == [("commit", [1]),
                       ("produce", [(CHANGELOG, b"vision/resnet", b"4", [PUBLISHED])])]


async def test_a_failed_produce_raises_so_the_batch_is_redone() -> None:
    journal = Journal()

    async def down(records: Sequence[Outgoing]) -> None:
        raise RuntimeError("broker away")

    handler_ports = Ports(FakeRecorder(journal, BatchResult(recorded=[recorded(1)])), down,
                          lambda r: b"", CHANGELOG, DLQ, Log())
    with pytest.raises(RuntimeError):
        await record_and_publish(handler_ports, [raw(1)])
