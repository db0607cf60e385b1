"""The ledger's usage handler (usage.count_and_report) with hand-written fakes: no Kafka,
no PostgreSQL. Commit the counts, then produce the totals, then the dead letters; a failed
count produces nothing, and a redelivered batch produces its totals again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pytest
from cairn.core.adapters.batches import RawRecord
from cairn.core.domain.event_types import UsageTotals
from cairn.ledger.handler import Outgoing
from cairn.ledger.usage import Counted, UsagePorts, UsageResult, count_and_report

from tests.unit.ledger_fakes import DeadLetters, Journal, decode_json, raw, signed_only

TOTALS = "t.cairn.usage.totals"
DIGEST = "ab" * 32
VERSIONS = {("vision/resnet", DIGEST): 7, ("nlp/bert", DIGEST): 9}


def use(event_id: str, action: str = "view", artifact: str = "vision/resnet",
        retrieve_ms: int | None = None) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": 1_700_000_000_000, "actor": "ana",
            "source": {"tool": "api", "host": None, "run_id": None}, "artifact": artifact,
            "schema_version": 1, "digest": DIGEST, "action": action, "retrieve_ms": retrieve_ms}


class Counts:
    """Stands for count_batch: usage_events and usage_counts in one dict, committed on return;
    an event_id counted before counts nothing again (as the table's primary key does)."""

    def __init__(self, journal: Journal, error: Exception | None = None) -> None:
        self.journal, self.error = journal, error
        self.seen: set[str] = set()
        self.views: dict[int, int] = {}

    async def __call__(self, events: Counted) -> UsageResult:
        if self.error is not None:
            raise self.error
        result = UsageResult()
        for record, event in events:
            vid = VERSIONS.get((event["artifact"], event["digest"]))
            if vid is None:
                result.dead.append((record, "unknown_version", event["artifact"]))
                continue
            result.versions.add(vid)
            if event["event_id"] in self.seen:
                result.repeats += 1
                continue
            self.seen.add(event["event_id"])
            result.counted[event["action"]] = result.counted.get(event["action"], 0) + 1
            if event["action"] == "view":
                self.views[vid] = self.views.get(vid, 0) + 1
        self.journal.append(("commit", sorted(e["event_id"] for _, e in events)))
        return result


class Setup:
    def __init__(self, error: Exception | None = None) -> None:
        self.journal = Journal()
        self.counts = Counts(self.journal, error)

    async def totals(self, version_ids: set[int]) -> list[UsageTotals]:
        """Stands for totals_records: read what the count committed."""
        self.journal.append(("read", sorted(version_ids)))
        names = {vid: artifact for (artifact, _), vid in VERSIONS.items()}
        return [UsageTotals(as_of=100, views=self.counts.views.get(vid, 0), downloads=0,
                            state=cast(Any, {"content": dict(zip(
                                ("project", "name"), names[vid].split("/"), strict=True))}))
                for vid in sorted(version_ids)]

    async def produce(self, records: Sequence[Outgoing]) -> None:
        self.journal.append(("produce", [(topic, key, json.loads(value))
                                         for topic, key, value, _ in records]))

    def ports(self) -> UsagePorts:
        return UsagePorts(signed_only, decode_json, self.counts, self.totals,
                          lambda t: json.dumps(t).encode(), self.produce,
                          DeadLetters(self.journal), TOTALS)

    async def handle(self, raws: list[RawRecord]) -> None:
        await count_and_report(self.ports(), raws)


async def test_totals_are_produced_only_after_the_count_commits() -> None:
    setup = Setup()
    await setup.handle([raw(1, use("e1")), raw(2, use("e2", artifact="nlp/bert")),
                        raw(3, use("e3"))])
    assert setup.journal.kinds() == ["commit", "read", "produce"]
    (_, produced), = [entry for entry in setup.journal if entry[0] == "produce"]
    assert [(topic, key, t["views"]) for topic, key, t in produced] == [
        (TOTALS, b"vision/resnet", 2), (TOTALS, b"nlp/bert", 1)]


async def test_nothing_is_produced_when_counting_fails() -> None:
    setup = Setup(error=ConnectionError("postgres away"))
    with pytest.raises(ConnectionError):  # settle() redoes the batch; nothing went out
        await setup.handle([raw(1, use("e1")), raw(2, b"not avro")])
    assert setup.journal == []


async def test_a_redelivered_batch_produces_its_totals_again() -> None:
    """A crash between the commit and the produce: the batch comes again, counts nothing new,
    and still produces the totals (the same views), so none is lost."""
    setup = Setup()
    batch = [raw(1, use("e1")), raw(2, use("e2", artifact="nlp/bert"))]
    await setup.handle(batch)
    first = [entry for entry in setup.journal if entry[0] == "produce"]
    setup.journal.clear()
    await setup.handle(batch)
    assert setup.journal.kinds() == ["commit", "read", "produce"]
    assert [entry for entry in setup.journal if entry[0] == "produce"] == first
    assert setup.counts.views == {7: 1, 9: 1}


async def test_refused_records_are_dead_lettered_after_the_totals() -> None:
    setup = Setup()
    await setup.handle([raw(1, use("e1")), raw(2, use("e2"), signed=False), raw(3, b"\x00"),
                        raw(4, use("e4", action="like")),
                        raw(5, use("e5", retrieve_ms=-1)),
                        raw(6, use("e6", artifact="vision/gone")),
                        raw(7, use("e1"))])  # the same event twice in a batch counts once
    assert setup.journal.kinds() == ["commit", "read", "produce", "dead"]
    assert setup.journal[0][1] == ["e1", "e6"]
    assert setup.journal[-1][1] == [(6, "unknown_version"), (2, "unsigned"),
                                    (3, "undecodable"), (4, "invalid_action"),
                                    (5, "invalid_retrieve_ms")]
    assert setup.counts.views == {7: 1}


async def test_a_batch_of_refused_records_produces_no_totals() -> None:
    setup = Setup()
    await setup.handle([raw(1, b"\x00")])
    assert setup.journal.kinds() == ["commit", "read", "produce", "dead"]
    assert setup.journal[2][1] == []  # an empty produce sends nothing
