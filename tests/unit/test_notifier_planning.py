"""The notifier's planning and its run of one job, with hand-written fakes: no Kafka, no
PostgreSQL, no HTTP. A fake delivery log answers (attempts, ended) per delivery id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cairn.core.domain import webhook_signing as signing
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


def owed(plan: list[list[jobs.Job]]) -> list[list[tuple[str, int, int]]]:
    return [[(j.subscription.id, j.seq, j.first_attempt) for j in js] for js in plan]


async def test_each_record_owes_a_delivery_per_subscription_that_wants_it() -> None:
    subs = [subscription("all"), subscription("nlp-only", projects=["nlp"]),
            subscription("new", since=11)]
    decoded = [[record(10)], [record(11, project="nlp")], [record(12, outcome="duplicate")], []]
    plan = await planning.plan(ports(subs), decoded)
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
    plan = await planning.plan(ports(subs, log, seen), [[record(10)]])
    assert owed(plan) == [[("c", 10, 3)]]
    assert log.asked == [[signing.delivery_id("b", 10), signing.delivery_id("c", 10)]]


async def test_a_record_met_twice_in_a_batch_owes_its_deliveries_once() -> None:
    plan = await planning.plan(ports([subscription("a")]), [[record(10)], [record(10)]])
    assert owed(plan) == [[("a", 10, 1)], []]


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

