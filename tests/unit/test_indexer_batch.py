"""The indexer's pure parts: which records become documents and which are dead letters."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import UndecodableRecord
from cairn.indexer.app import IndexerTopics, refresh_seconds
from cairn.indexer.batch import Outcome, decode

from tests.unit.test_search_documents import state


class FakeCodec:
    """Decodes b"ok" to a changelog record, b"bad-state" to one without a usable state."""

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data == b"ok":
            return {"seq": 1, "event": {"artifact": "vision/resnet50"}, "state": state()}
        if data == b"bad-state":
            return {"seq": 2, "event": {"artifact": "x/y"}, "state": {"content": {}}}
        raise UndecodableRecord("not in the Confluent wire format")


def raw(value: bytes) -> RawRecord:
    return RawRecord(b"k", value, "changelog", 0, 7)


def test_only_undecodable_or_unusable_records_are_dead_letters() -> None:
    out, codec = Outcome(), FakeCodec()
    given = [raw(b"ok"), raw(b"garbage"), raw(b"bad-state")]
    records = decode(given, codec, out)  # type: ignore[arg-type]  # a fake, not an AvroCodec
    assert [r["seq"] for r in records] == [1]
    assert [(r.value, reason) for r, reason, _ in out.dead] == [(b"garbage", "undecodable"),
                                                                 (b"bad-state", "malformed")]


@pytest.mark.parametrize("interval,seconds", [("1s", 1.0), ("500ms", 0.5), ("2m", 120.0),
                                              ("1.5s", 1.5), ("-1", 1.0), ("soon", 1.0)])
def test_refresh_interval_in_seconds(interval: str, seconds: float) -> None:
    assert refresh_seconds(interval) == seconds


def test_the_indexer_has_its_own_dead_letter_topic() -> None:
    topics = IndexerTopics("p.")
    assert "p.cairn.deadletter.indexer" in topics.all()
    assert topics.changelog in topics.all()
