"""Per-target delivery lanes, and changelog acks at the low-water mark.

Why not a batch at a time: a batch used to wait until every delivery it owed had ended, so
one slow or dead receiver (up to `attempts` timeouts plus the backoff between them) held up
every other team's notifications behind it. Here each target (subscription) has its own FIFO
lane served by one task: a target's notifications still go out one at a time in changelog
order, and its retries and backoff sleep in its own lane while the others move on. (The
changelog is keyed by artifact, so its order is each artifact's: a partition's records in
offset order. Records of different partitions have none, and a replay may interleave them
differently.) POSTs across all lanes share a bounded number of connection slots (held for an
attempt, never for a backoff sleep), and the deliveries held unfinished are bounded too:
past `backlog`, `submit` waits, so a receiver dead for long slows the reading of the
changelog only once that much is queued, rather than growing memory without end.

Why acks at the low-water mark rather than a durable retry topic: a retry topic would need
its own ordering (a later notification to a target must wait behind an earlier one being
retried) and a second consumer with its own delays, and it is one more topic for every
deployment; the delivery log already records each attempt durably, so a restarted notifier
knows which deliveries ended and how many attempts the others had. What must hold is the
commit rule: a changelog record is acknowledged (so faust may commit its offset) only once
each delivery it owes reached a final state (delivered or dead, its report acknowledged by
Kafka), and only after every earlier record of its partition was acknowledged. A crash then
replays from the oldest record with an unfinished delivery; `jobs.resume` drops what the
delivery log shows as ended and continues the attempt count of the rest. What can repeat is
what could before: a delivery whose final report had not reached the log (at least once;
receivers dedupe on X-Cairn-Delivery). The price: while a target retries, the committed
offset waits at its oldest unfinished record, so a crash replays the records after it too,
which costs a look-up in the delivery log, not a redelivery. Acks stay in offset order here
because faust's own gap handling can commit past an unacknowledged offset.

A record replayed while its delivery is still queued (a rebalance) waits for that same
delivery instead of queuing it twice. Revoked partitions are forgotten: their records are
never acknowledged by this process, their new owner replays them, and their deliveries not
yet begun are dropped (the new owner sends them); only a lane's delivery in flight may go
out from both, under its one delivery id.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.notifier.jobs import Job

Ack = Callable[[], Awaitable[Any]]
Run = Callable[[Job, bool], Awaitable[str]]  # (job, a re-run after an error) → final state


@dataclass(eq=False)
class _Record:
    """A changelog record: acknowledged once `remaining` deliveries ended and it is first."""

    ack: Ack
    remaining: int = 0


@dataclass(eq=False)
class _Delivery:
    job: Job
    waiters: list[tuple[Hashable, _Record]] = field(default_factory=list)


class Scheduler:
    """Lanes per target, at most `backlog` deliveries held, acks in partition order."""

    def __init__(self, run: Run, backlog: int, log: Any,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 pause_max: float = 30.0) -> None:
        self._run, self._backlog, self._log = run, backlog, log
        self._sleep, self._pause_max = sleep, pause_max
        self._pending: dict[str, _Delivery] = {}  # delivery id → the queued delivery
        self._lanes: dict[str, deque[_Delivery]] = {}  # subscription id → its queue
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._records: dict[Hashable, deque[_Record]] = {}  # partition → records in order
        self._room = asyncio.Condition()

    def __len__(self) -> int:
        """Deliveries queued or in flight."""
        return len(self._pending)

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    @property
    def unacked(self) -> int:
        return sum(len(q) for q in self._records.values())

    async def submit(self, partition: Hashable, ack: Ack, jobs: Sequence[Job]) -> None:
        """Queue a record's deliveries (none: acknowledged as soon as the ones before it)."""
        async with self._room:
            await self._room.wait_for(lambda: len(self._pending) < self._backlog)
        record = _Record(ack)
        self._records.setdefault(partition, deque()).append(record)
        for job in jobs:
            delivery = self._pending.get(job.delivery_id)
            if delivery is None:
                delivery = self._pending[job.delivery_id] = _Delivery(job)
                self._enqueue(delivery)
            delivery.waiters.append((partition, record))
            record.remaining += 1
        await self._acknowledge([partition])

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Never acknowledge these partitions' records (revoked), and drop their deliveries
        still queued: the partitions' new owner replays those records and sends them, so
        sending them here too would repeat each one (a whole backlog of them at every
        rebalance). A lane's first delivery, maybe in flight, ends as it would."""
        revoked = set(partitions)
        for partition in revoked:
            self._records.pop(partition, None)
        for lane in self._lanes.values():
            kept = [lane.popleft()] if lane else []
            while lane:
                delivery = lane.popleft()
                delivery.waiters = [w for w in delivery.waiters if w[0] not in revoked]
                if delivery.waiters:
                    kept.append(delivery)
                else:
                    del self._pending[delivery.job.delivery_id]
            lane.extend(kept)

    async def close(self) -> None:
        """Stop every lane; what did not end stays unacknowledged, to be replayed."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()
        self._lanes.clear()
        self._records.clear()

    def _enqueue(self, delivery: _Delivery) -> None:
        target = delivery.job.subscription.id
        self._lanes.setdefault(target, deque()).append(delivery)
        if target not in self._tasks:
            self._tasks[target] = asyncio.ensure_future(self._serve(target))

    async def _serve(self, target: str) -> None:
        """One target's deliveries, one at a time and in order; ends when its lane is empty."""
        lane = self._lanes[target]
        try:
            while lane:
                delivery = lane[0]
                await self._finish(delivery.job)
                lane.popleft()
                del self._pending[delivery.job.delivery_id]
                for _, record in delivery.waiters:
                    record.remaining -= 1
                await self._acknowledge({p for p, _ in delivery.waiters})
                async with self._room:
                    self._room.notify_all()
        finally:
            if not lane:
                del self._lanes[target]
            del self._tasks[target]

    async def _finish(self, job: Job) -> str:
        """`run` until it returns a final state; an error (Kafka or the log unreachable for
        a report) is an outage, so the delivery is tried again after a growing pause."""
        again, pause = False, 0.5
        while True:
            try:
                return await self._run(job, again)
            except Exception as exc:  # noqa: BLE001 - anything else would strand the lane
                self._log.warning("delivery failed; retrying", delivery=job.delivery_id,
                                  subscription=job.subscription.id, error=repr(exc))
            await self._sleep(pause)
            again, pause = True, min(pause * 2, self._pause_max)

    async def _acknowledge(self, partitions: Iterable[Hashable]) -> None:
        """Ack each partition's leading records whose deliveries all ended. They are taken
        off the queue before any await, so concurrent calls never ack one twice, and every
        record one call takes is complete, whatever order the awaits finish in."""
        ready: list[_Record] = []
        for partition in partitions:
            queue = self._records.get(partition)
            while queue and queue[0].remaining == 0:
                ready.append(queue.popleft())
        for record in ready:
            try:
                await record.ack()
            except Exception as exc:  # noqa: BLE001 - unacked only means replayed later
                self._log.warning("ack failed", error=repr(exc))
