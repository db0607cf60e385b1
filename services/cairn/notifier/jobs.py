"""From a batch of changelog records to the deliveries it owes: pure planning.

One job per (applied record, subscription that wants it). A job's delivery id, body and
signing secret depend only on the record and the subscription, so planning a record again
(a replay after a rebalance, or after a restart before its offset was committed) yields the
same deliveries, which `resume` then trims to what is not yet finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from cairn.core.domain import webhook_payloads as payloads
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.event_types import RecordedEvent
from cairn.notifier.store import Subscription


@dataclass(frozen=True)
class Job:
    subscription: Subscription
    seq: int
    event_type: str
    artifact: str
    delivery_id: str
    body: bytes
    secret: str
    first_attempt: int = 1  # > 1 when a previous notifier process already tried


def plan(records: Iterable[RecordedEvent], subscriptions: Sequence[Subscription],
         master_key: bytes) -> list[Job]:
    """Jobs in seq order; records that are not `applied` (duplicates) notify nobody, and a
    seq seen twice in the batch counts once."""
    unique = {r["seq"]: r for r in records if r["outcome"] == "applied"}
    jobs = []
    for seq in sorted(unique):
        record = unique[seq]
        facts = payloads.facts(record)
        for sub in subscriptions:
            if not sub.wants(seq, facts):
                continue
            jobs.append(Job(sub, seq, facts.event_type, record["event"]["artifact"],
                            signing.delivery_id(sub.id, seq),
                            payloads.render(record, sub.id, sub.team, sub.format),
                            signing.secret_for(master_key, sub.id)))
    return jobs


def resume(jobs: Iterable[Job], progress: Mapping[str, tuple[int, bool]]) -> list[Job]:
    """Drop the jobs the delivery log shows as ended (delivered or dead); continue the
    attempt count of the ones it shows as retrying."""
    out = []
    for job in jobs:
        attempts, ended = progress.get(job.delivery_id, (0, False))
        if not ended:
            out.append(replace(job, first_attempt=attempts + 1))
    return out

