"""The indexer's handlers with fakes: which records become which merges, which are dead
letters, and that a batch is one bulk of merges (no database anywhere)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import UndecodableRecord
from cairn.indexer.app import IndexerTopics
from cairn.indexer.batch import Outcome, changelog_merges, decode, index_batch, usage_merges
from cairn.search.backend import BulkResult

from tests.unit.test_search_documents import state


def loser(number: int) -> dict[str, Any]:
    return {**state(), "version_number": number, "aliases": []}


class FakeCodec:
    """b"ok": a publish record whose event took `latest` from v2; b"later": v3 again at a
    later seq; b"bad-state": a record without a usable state; b"usage": usage totals."""

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data == b"ok":
            return {"seq": 7, "state": state(), "alias_losers": [loser(2)]}
        if data == b"later":
            return {"seq": 9, "state": {**state(), "stage": "production"}, "alias_losers": []}
        if data == b"bad-state":
            return {"seq": 8, "state": {"content": {}}, "alias_losers": []}
        if data == b"usage":
            return {"as_of": 8, "views": 4, "downloads": 1, "state": state()}
        raise UndecodableRecord("not in the Confluent wire format")


class FakeBackend:
    def __init__(self) -> None:
        self.bulks: list[tuple[str, list[tuple[str, Mapping[str, Any]]]]] = []

    async def bulk_merge(self, target: str, updates: Sequence[tuple[str, Mapping[str, Any]]],
                         *, require_alias: bool = True) -> BulkResult:
        self.bulks.append((target, list(updates)))
        return BulkResult(indexed=len(updates))


def raw(value: bytes) -> RawRecord:
    return RawRecord(b"k", value, "changelog", 0, 7)


def params(body: Mapping[str, Any]) -> dict[str, Any]:
    return body["script"]["params"]  # type: ignore[no-any-return]


def test_only_undecodable_or_unusable_records_are_dead_letters() -> None:
    out, codec = Outcome(), FakeCodec()
    given = [raw(b"ok"), raw(b"garbage"), raw(b"bad-state")]
    merges = decode(given, codec, changelog_merges, out)  # type: ignore[arg-type]  # a fake
    assert [doc_id for doc_id, _ in merges] == ["vision/resnet50@v3", "vision/resnet50@v2"]
    assert [(r.value, reason) for r, reason, _ in out.dead] == [(b"garbage", "undecodable"),
                                                                 (b"bad-state", "malformed")]


def test_a_record_writes_its_version_and_the_versions_it_took_an_alias_from_as_of_its_seq(
) -> None:
    [(_, (v3, body3))] = list(changelog_merges({"seq": 7, "state": state()}))
    assert v3 == "vision/resnet50@v3" and params(body3)["as_of"] == 7
    assert params(body3)["usage"] is None  # a state alone keeps the indexed usage
    assert "usage" not in params(body3)["doc"]
    pairs = list(changelog_merges({"seq": 7, "state": state(), "alias_losers": [loser(2)]}))
    assert [(as_of, doc_id, params(b)["doc"]["aliases"]) for as_of, (doc_id, b) in pairs] == [
        (7, "vision/resnet50@v3", ["latest", "prod"]), (7, "vision/resnet50@v2", [])]


def test_usage_totals_carry_state_and_counts_as_of_the_ledgers_head() -> None:
    [(as_of, (doc_id, body))] = list(usage_merges(
        {"as_of": 8, "views": 4, "downloads": 1, "state": state()}))
    assert (as_of, doc_id) == (8, "vision/resnet50@v3")
    assert params(body)["usage"] == {"views": 4, "downloads": 1, "total": 5}
    assert body["scripted_upsert"] is True  # a version not indexed yet is made whole


def test_a_batch_is_one_bulk_with_the_newest_state_per_version_and_every_usage() -> None:
    backend = FakeBackend()
    given = [raw(b"ok"), raw(b"usage"), raw(b"later"), raw(b"garbage")]
    out = asyncio.run(index_batch(given, FakeCodec(), changelog_or_usage,  # type: ignore[arg-type]
                                  backend, "alias", ensure))  # type: ignore[arg-type]
    [(target, merges)] = backend.bulks
    assert target == "alias" and out.last_seq == 9 and len(out.dead) == 1
    assert [(doc_id, params(b)["as_of"], params(b)["usage"] is not None)
            for doc_id, b in merges] == [("vision/resnet50@v3", 9, False),
                                         ("vision/resnet50@v2", 7, False),
                                         ("vision/resnet50@v3", 8, True)]


def changelog_or_usage(record: dict[str, Any]) -> Any:
    return usage_merges(record) if "as_of" in record else changelog_merges(record)


async def ensure() -> str:
    return "alias"


def test_the_indexer_has_its_own_dead_letter_topic_and_reads_usage_totals() -> None:
    topics = IndexerTopics("p.")
    assert "p.cairn.deadletter.indexer" in topics.all()
    assert topics.changelog in topics.all() and topics.usage_totals in topics.all()
