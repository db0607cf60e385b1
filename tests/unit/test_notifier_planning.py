"""The notifier's planning and its run of one job, with hand-written fakes: no Kafka, no
PostgreSQL, no HTTP. A fake delivery log answers (attempts, ended) per delivery id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from cairn.core.adapters.batches import RawRecord, event_type_header
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.events import PAYLOAD_TYPES, payload_of
from cairn.core.domain.subscriptions import matches
from cairn.notifier import jobs, planning
from cairn.notifier.store import Subscription

from tests.unit.notifier_records import record, subscription

MASTER = b"k" * 32


class FakeLog:
    """The delivery log: what it knows per delivery id, and which ids it was asked about."""

    def __init__(self, known: Mapping[str, tuple[int, bool]] | None = None) -> None:
        self.known, self.asked = dict(known or {}), list[list[str]]()

    async def __call__(self, ids: Sequence[str]) -> Mapping[str, tuple[int, bool]]:
        self.asked.append(list(ids))
        return {i: self.known[i] for i in ids if i in self.known}


def ports(subs: list[Subscription], log: FakeLog | None = None,
          ended: planning.Ended | None = None) -> planning.Planning:
    async def current() -> list[Subscription]:
        return subs

    return planning.Planning(current, log or FakeLog(), ended or planning.Ended(), MASTER)


class Changelog:
    """Consumed changelog records, each carrying its type in the header like the ledger's (or
    not, like one written before the header), and the decoder of them, which remembers what it
    decoded (by seq)."""

    def __init__(self) -> None:
        self.bodies: dict[bytes, list[Any]] = {}
        self.decoded: list[int] = []

    def consumed(self, *records: list[Any], header: bool = True) -> list[RawRecord]:
        out = []
        for rs in records:
            value = str(len(self.bodies)).encode()
            self.bodies[value] = rs
            named = [event_type_header(payload_of(r["event"])[0]) for r in rs[:1] if header]
            out.append(RawRecord(None, value, "changelog", 0, len(self.bodies), tuple(named)))
        return out

    def decode(self, raw: RawRecord) -> list[Any]:
        assert raw.value is not None
        rs = self.bodies[raw.value]
        self.decoded += [r["seq"] for r in rs]
        return rs


async def planned(ports: planning.Planning, *records: list[Any]) -> list[list[jobs.Job]]:
    changelog = Changelog()
    return await planning.plan(ports, changelog.consumed(*records), changelog.decode)


def owed(plan: list[list[jobs.Job]]) -> list[list[tuple[str, int, int]]]:
    return [[(j.subscription.id, j.seq, j.first_attempt) for j in js] for js in plan]


async def test_each_record_owes_a_delivery_per_subscription_that_wants_it() -> None:
    subs = [subscription("all"), subscription("nlp-only", projects=["nlp"]),
            subscription("new", since=11)]
    decoded = [[record(10)], [record(11, project="nlp")], [record(12, outcome="duplicate")], []]
    plan = await planned(ports(subs), *decoded)
    assert owed(plan) == [[("all", 10, 1)],
                          [("all", 11, 1), ("nlp-only", 11, 1)],  # "new" was made at 11
                          [], []]  # a duplicate notifies nobody; an undecodable record neither
    job = plan[1][1]
    assert job.delivery_id == signing.delivery_id("nlp-only", 11)
    assert job.secret == signing.secret_for(MASTER, "nlp-only")
    assert (job.artifact, job.event_type) == ("nlp/resnet", "Published")


async def test_ended_deliveries_are_dropped_and_retrying_ones_continue_their_count() -> None:
    subs = [subscription("a"), subscription("b"), subscription("c")]
    seen = planning.Ended()
    seen.add(signing.delivery_id("a", 10))  # this process delivered it
    log = FakeLog({signing.delivery_id("b", 10): (5, True),  # a previous process did
                   signing.delivery_id("c", 10): (2, False)})  # tried twice, retrying
    plan = await planned(ports(subs, log, seen), [record(10)])
    assert owed(plan) == [[("c", 10, 3)]]
    assert log.asked == [[signing.delivery_id("b", 10), signing.delivery_id("c", 10)]]


async def test_a_record_met_twice_in_a_batch_owes_its_deliveries_once() -> None:
    plan = await planned(ports([subscription("a")]), [record(10)], [record(10)])
    assert owed(plan) == [[("a", 10, 1)], []]


async def test_a_record_no_subscription_could_want_is_not_decoded() -> None:
    """Its type, in the header, is none a subscription names; with no subscriptions at all,
    nothing is decoded. A record without the header is decoded and judged by its body."""
    verdict = record(11, "VerdictSet", body={"checks": []})
    stage = record(12, "StageChanged", body={"version": "v1", "stage": "production"})
    for subs, decoded, owes in [
            ([], [], [[], [], []]),
            ([subscription("s", event_types=["StageChanged"])], [12], [[], [], [("s", 12, 1)]]),
            ([subscription("v", event_types=["Verdict"])], [11], [[], [("v", 11, 1)], []]),
            ([subscription("s", event_types=["StageChanged"]), subscription("any")],
             [10, 11, 12], [[("any", 10, 1)], [("any", 11, 1)],
                            [("s", 12, 1), ("any", 12, 1)]])]:
        changelog = Changelog()
        plan = await planning.plan(ports(subs), changelog.consumed(
            [record(10)], [verdict], [stage]), changelog.decode)
        assert changelog.decoded == decoded
        assert owed(plan) == owes
    changelog = Changelog()
    plan = await planning.plan(ports([subscription("s", event_types=["StageChanged"])]),
                               changelog.consumed([record(10)], [stage], header=False),
                               changelog.decode)
    assert changelog.decoded == [10, 12] and owed(plan) == [[], [("s", 12, 1)]]


async def test_subscriptions_are_read_once_per_batch_after_it_came() -> None:
    """One read serves the skipping and the matching: a subscription made meanwhile is not
    half-seen (its types skipped by an older list, then matched by a newer one)."""
    lists = [[], [subscription("s", event_types=["StageChanged"])]]

    async def current() -> list[Subscription]:
        return lists.pop(0)

    changelog = Changelog()
    stage = record(12, "StageChanged", body={"version": "v1", "stage": "production"})
    plan = await planning.plan(planning.Planning(current, FakeLog(), planning.Ended(), MASTER),
                               changelog.consumed([stage]), changelog.decode)
    assert (changelog.decoded, owed(plan), len(lists)) == ([], [[]], 1)


FILTERS: list[dict[str, list[str]]] = [
    {}, {"event_types": ["Published"]}, {"event_types": ["Verdict"]},
    {"event_types": ["VerdictSet", "AliasMoved"]}, {"projects": ["nlp"]},
    {"projects": ["nlp"], "event_types": ["StageChanged"]}]


@pytest.mark.parametrize("flt", FILTERS)
def test_wanted_types_hold_every_type_the_filter_matches(flt: dict[str, list[str]]) -> None:
    wanted = planning.wanted_types([subscription("s", **flt)])
    matched = {t for t in PAYLOAD_TYPES if matches(flt, project="nlp", kind="model",
                                                    stage=None, tags=[], event_type=t)}
    assert matched == (set(PAYLOAD_TYPES) if wanted is None else wanted)
    inactive = Subscription("off", "t", "http://93.184.216.34/", "json", flt, False, 0, "ana")
    assert planning.wanted_types([inactive]) == frozenset()


def test_ended_forgets_the_oldest_past_its_size() -> None:
    ended = planning.Ended(size=2)
    for delivery in ("d1", "d2", "d3"):
        ended.add(delivery)
    assert "d1" not in ended and "d2" in ended and "d3" in ended


class FakeDelivery:
    def __init__(self, final: str = "delivered") -> None:
        self.final, self.sent = final, list[tuple[str, int]]()

    async def __call__(self, job: jobs.Job) -> str:
        self.sent.append((job.delivery_id, job.first_attempt))
        return self.final


def one_job() -> jobs.Job:
    return jobs.plan([record(10)], [subscription("a")], MASTER)[0]


async def test_run_delivers_and_remembers_the_delivery_ended() -> None:
    job, ended, send = one_job(), planning.Ended(), FakeDelivery("dead")
    log = FakeLog()
    assert await planning.run(job, False, progress=log, ended=ended, deliver=send) == "dead"
    assert send.sent == [(job.delivery_id, 1)] and job.delivery_id in ended
    assert log.asked == []  # a first run does not ask the delivery log


async def test_a_rerun_after_an_error_asks_the_delivery_log_first() -> None:
    job, send = one_job(), FakeDelivery()
    done = FakeLog({job.delivery_id: (3, True)})  # its final report reached the log
    ended = planning.Ended()
    assert await planning.run(job, True, progress=done, ended=ended, deliver=send) == "ended"
    assert send.sent == [] and job.delivery_id in ended
    retrying = FakeLog({job.delivery_id: (3, False)})
    assert await planning.run(job, True, progress=retrying, ended=planning.Ended(),
                              deliver=send) == "delivered"
    assert send.sent == [(job.delivery_id, 4)]  # attempts go on from the log's count

