"""What a batch of changelog records owes, and running one delivery: plain functions of their
ports, so unit tests drive them with fakes.

`plan` turns each consumed record into the deliveries it still owes: the jobs `jobs.plan`
derives from the subscriptions, less those this process saw end (`Ended`) and those the
delivery log shows as ended, the others continuing their attempt count. A record is decoded
only if some subscription could want its type (its event-type header says which): with no
subscription, or none for verdicts, most of the changelog is never decoded (decoding was
half the notifier's CPU). The subscriptions are read once per batch, after it was consumed,
for both the skipping and the matching: a subscription recorded before any record of the
batch (the only ones it hears about) is always among them. `run` is what a
target's lane calls for one job: after an error it asks the delivery log first how far the
job got, so a delivery that ended is not sent again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cairn.core.adapters.batches import RawRecord, of_types
from cairn.core.domain.event_types import RecordedEvent
from cairn.core.domain.subscriptions import ALSO_MATCHES
from cairn.notifier import jobs
from cairn.notifier.store import Subscription

Decode = Callable[[RawRecord], Sequence[RecordedEvent]]  # a record's decodable changelog records
Progress = Callable[[Sequence[str]], Awaitable[Mapping[str, tuple[int, bool]]]]
ENDED = "ended"  # what `run` returns for a job the delivery log shows as ended


class Ended:
    """Deliveries this process saw end lately, so records replayed after a rebalance (or
    planned again by settle()) do not send them again."""

    def __init__(self, size: int = 100_000) -> None:
        self.size, self._ids = size, OrderedDict[str, None]()

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._ids

    def add(self, delivery_id: str) -> None:
        self._ids[delivery_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


@dataclass(frozen=True)
class Planning:
    subscriptions: Callable[[], Awaitable[Sequence[Subscription]]]  # the active ones
    progress: Progress  # delivery id → (attempts recorded, ended), from the delivery log
    ended: Container[str]
    master_key: bytes


def wanted_types(subscriptions: Iterable[Subscription]) -> frozenset[str] | None:
    """The event types some active subscription may match (`subscriptions.matches`), or None
    when one matches any type."""
    types: set[str] = set()
    for sub in subscriptions:
        if not sub.active:
            continue
        named = sub.filter.get("event_types") or []
        if not named:
            return None
        types.update(named)
        types.update(t for t, alias in ALSO_MATCHES.items() if alias in named)
    return frozenset(types)


async def plan(ports: Planning, consumed: Sequence[RawRecord], decode: Decode
               ) -> list[list[jobs.Job]]:
    """For each consumed record, the jobs it owes that did not end yet; records of a type no
    subscription wants are not decoded (a record without the header is)."""
    subscriptions = await ports.subscriptions()
    wanted = wanted_types(subscriptions)
    decoded = [decode(raw) if wanted is None or of_types(raw, wanted) else []
               for raw in consumed]
    records = [r for rs in decoded for r in rs]
    todo = [j for j in jobs.plan(records, subscriptions, ports.master_key)
            if j.delivery_id not in ports.ended]
    todo = jobs.resume(todo, await ports.progress([j.delivery_id for j in todo]))
    return owed_per_record(decoded, todo)


def owed_per_record(decoded: Sequence[Sequence[RecordedEvent]], todo: Sequence[jobs.Job]
                    ) -> list[list[jobs.Job]]:
    """Hand each job to the record whose seq it delivers (a seq met twice: to the first)."""
    owed: dict[int, list[jobs.Job]] = {}
    for job in todo:
        owed.setdefault(job.seq, []).append(job)
    return [[j for r in rs for j in owed.pop(r["seq"], [])] for rs in decoded]


async def run(job: jobs.Job, again: bool, *, progress: Progress, ended: Ended,
              deliver: Callable[[jobs.Job], Awaitable[str]]) -> str:
    """Deliver a job; after an error (`again`), first ask the delivery log how far it got."""
    if again:
        resumed = jobs.resume([job], await progress([job.delivery_id]))
        if not resumed:
            ended.add(job.delivery_id)
            return ENDED
        job = resumed[0]
    final = await deliver(job)
    ended.add(job.delivery_id)
    return final
