"""The notifier's lanes and low-water-mark acks, with a fake `run` instead of HTTP.

What the scheduler promises: a blocked target delays no other target; one target's
deliveries run one at a time in submission order; a record is acknowledged only once all its
deliveries ended and every earlier record of its partition was acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest
from cairn.notifier.jobs import Job
from cairn.notifier.scheduler import Scheduler

from tests.unit.notifier_records import subscription


class Log:
    def __init__(self) -> None:
        self.warnings: list[dict[str, Any]] = []

    def warning(self, message: str, **fields: Any) -> None:
        self.warnings.append({"message": message, **fields})


def job(target: str, seq: int) -> Job:
    return Job(subscription(sub_id=target), seq, "Published", "vision/resnet",
               f"{target}:{seq}", b"{}", "secret")


class Harness:
    """A scheduler whose `run` waits on a per-target gate and records what it ran."""

    def __init__(self, backlog: int = 100) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.ran: list[tuple[str, int]] = []
        self.running: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}
        self.acked: list[Hashable] = []
        self.log = Log()
        self.scheduler = Scheduler(self.run, backlog, self.log)

    def block(self, target: str) -> None:
        self.gates[target] = asyncio.Event()

    def release(self, target: str) -> None:
        self.gates[target].set()

    async def run(self, the_job: Job, again: bool) -> str:
        target = the_job.subscription.id
        self.running[target] = self.running.get(target, 0) + 1
        self.most_at_once[target] = max(self.most_at_once.get(target, 0), self.running[target])
        try:
            if target in self.gates:
                await self.gates[target].wait()
            await asyncio.sleep(0)
            self.ran.append((target, the_job.seq))
            return "delivered"
        finally:
            self.running[target] -= 1

    def ack(self, name: Hashable) -> Callable[[], Awaitable[None]]:
        async def acknowledge() -> None:
            self.acked.append(name)
        return acknowledge

    async def submit(self, partition: int, name: Hashable, *jobs: Job) -> None:
        await self.scheduler.submit(partition, self.ack(name), jobs)

    def ran_for(self, target: str) -> list[int]:
        return [seq for t, seq in self.ran if t == target]


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):  # about 2 s
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the scheduler did not get there")


async def test_a_blocked_target_delays_no_other_and_holds_only_its_records_acks() -> None:
    h = Harness()
    h.block("a")
    for seq in range(1, 5):
        await h.submit(0, seq, job("a", seq), job("b", seq))
    await h.submit(1, "b-only", job("b", 10))
    await until(lambda: len(h.ran_for("b")) == 5)
    assert h.ran_for("b") == [1, 2, 3, 4, 10] and h.ran_for("a") == []
    # Partition 0's records each wait for a's delivery; partition 1 owes nothing to a.
    assert h.acked == ["b-only"]
    assert len(h.scheduler) == 4 and h.scheduler.unacked == 4

    h.release("a")
    await until(lambda: len(h.acked) == 5)
    assert h.ran_for("a") == [1, 2, 3, 4]
    assert h.acked == ["b-only", 1, 2, 3, 4]
    assert len(h.scheduler) == 0 and h.scheduler.lanes == 0 and h.scheduler.unacked == 0


async def test_a_target_gets_one_delivery_at_a_time_in_order_and_targets_run_together() -> None:
    h = Harness()
    for seq in range(1, 21):
        await h.submit(seq % 3, seq, *(job(t, seq) for t in ("a", "b", "c")))
    await until(lambda: len(h.acked) == 20)
    for target in ("a", "b", "c"):
        assert h.ran_for(target) == list(range(1, 21))
        assert h.most_at_once[target] == 1
    # Each partition's records are acknowledged in the order they came.
    for partition in range(3):
        mine = [s for s in h.acked if isinstance(s, int) and s % 3 == partition]
        assert mine == sorted(mine)


async def test_a_later_record_waits_for_an_earlier_one_of_its_partition() -> None:
    h = Harness()
    h.block("a")
    await h.submit(0, "slow", job("a", 1))
    await h.submit(0, "nothing owed")
    await h.submit(0, "fast", job("b", 3))
    await until(lambda: h.ran_for("b") == [3])
    await asyncio.sleep(0.01)
    assert h.acked == []
    h.release("a")
    await until(lambda: len(h.acked) == 3)
    assert h.acked == ["slow", "nothing owed", "fast"]


async def test_a_replayed_record_waits_for_the_queued_delivery_instead_of_repeating_it() -> None:
    h = Harness()
    h.block("a")
    await h.submit(0, "first", job("a", 1))
    h.scheduler.forget([0])  # a rebalance: the partition comes back and is replayed
    await h.submit(0, "replayed", job("a", 1))
    assert len(h.scheduler) == 1
    h.release("a")
    await until(lambda: h.acked == ["replayed"])
    await asyncio.sleep(0.01)
    assert h.ran_for("a") == [1]
    assert h.acked == ["replayed"]  # the revoked copy is never acknowledged


async def test_a_revoked_partitions_queued_deliveries_are_dropped_not_sent_twice() -> None:
    """A rebalance: the new owner replays the revoked records and sends what they owe, so
    this process sends only what was in flight (the lane's first delivery), and what another
    partition it keeps still owes."""
    h = Harness()
    h.block("a")
    for seq in (1, 2, 3):
        await h.submit(0, seq, job("a", seq))
    await h.submit(1, "kept", job("a", 4))
    await until(lambda: h.running.get("a") == 1)  # a:1 in flight
    h.scheduler.forget([0])
    assert len(h.scheduler) == 2  # a:1 (in flight) and a:4 (partition 1's)
    h.release("a")
    await until(lambda: h.acked == ["kept"])
    assert h.ran_for("a") == [1, 4]
    assert len(h.scheduler) == 0 and h.scheduler.lanes == 0 and h.scheduler.unacked == 0


async def test_submit_waits_while_the_backlog_is_full() -> None:
    h = Harness(backlog=2)
    h.block("a")
    await h.submit(0, 1, job("a", 1))
    await h.submit(0, 2, job("a", 2))
    third = asyncio.ensure_future(h.submit(0, 3, job("b", 3)))
    await asyncio.sleep(0.02)
    assert not third.done() and h.ran_for("b") == []
    h.release("a")
    await asyncio.wait_for(third, 2)
    await until(lambda: len(h.acked) == 3)
    assert h.acked == [1, 2, 3]


async def test_an_error_is_retried_after_a_pause_with_the_log_asked_again() -> None:
    calls: list[bool] = []
    pauses: list[float] = []
    acked: list[str] = []

    async def run(the_job: Job, again: bool) -> str:
        calls.append(again)
        if len(calls) < 3:
            raise ConnectionError("kafka unreachable")
        return "delivered"

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def ack() -> None:
        acked.append("r")

    log = Log()
    scheduler = Scheduler(run, 10, log, sleep=sleep)
    await scheduler.submit(0, ack, [job("a", 1)])
    await until(lambda: acked == ["r"])
    assert calls == [False, True, True] and pauses == [0.5, 1.0]
    assert [w["message"] for w in log.warnings] == ["delivery failed; retrying"] * 2


async def test_close_stops_the_lanes_and_acknowledges_nothing_unfinished() -> None:
    h = Harness()
    h.block("a")
    await h.submit(0, "stuck", job("a", 1))
    await h.submit(1, "done", job("b", 2))
    await until(lambda: h.acked == ["done"])
    await h.scheduler.close()
    h.release("a")
    await asyncio.sleep(0.01)
    assert h.acked == ["done"] and h.ran_for("a") == []
    # Replayed after its partition came back, the delivery starts a new lane.
    h.scheduler.forget([0])
    await h.submit(0, "again", job("a", 1))
    await until(lambda: h.acked == ["done", "again"])


@pytest.mark.parametrize("backlog", [1, 3])
async def test_many_records_through_a_small_backlog_all_end_acknowledged(backlog: int) -> None:
    h = Harness(backlog=backlog)
    for seq in range(30):
        await h.submit(seq % 2, seq, job(f"t{seq % 4}", seq))
    await until(lambda: len(h.acked) == 30)
    assert sorted(h.acked) == list(range(30))  # type: ignore[type-var]
