"""What the archiver does, as plain functions of their ports: a scheduled tick and the placing
of a changelog batch's blobs. The app (`archiver.app.build`) only wires clients to them.

A tick, every CAIRN_ARCHIVER_INTERVAL seconds (none when 0): each project's `scheduled`
retention policy is planned now and its LifecycleRequested events emitted (the ledger records
them, or refuses one whose version became protected since); then the trash's blobs past the
grace period are removed for good. A failed tick is logged, never raised: the next one tries
again and the worker goes on. Purging comes only after every project's requests went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from cairn.archiver.placing import digests_to_place
from cairn.core.domain.event_types import RecordedEvent
from cairn.core.domain.retention import Plan
from cairn.core.domain.retention_requests import lifecycle_events

REQUESTED = Counter("cairn_archiver_requested_total", "Lifecycle requests emitted by schedule",
                    ["action"])
BLOBS = Counter("cairn_archiver_blobs_total", "Blobs placed after lifecycle changes", ["done"])
LAST_RUN = Gauge("cairn_archiver_last_run_timestamp", "When the last scheduled run ended")

Place = Callable[[Iterable[str], bool], Awaitable[dict[str, str]]]  # (digests, purge) → done


def every(interval: float) -> float | None:
    """The tick's period in seconds, or None: CAIRN_ARCHIVER_INTERVAL 0 turns it off."""
    return interval if interval > 0 else None


@dataclass(frozen=True)
class Ports:
    policies: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]  # {project, policy} each
    plan: Callable[[str, dict[str, Any]], Awaitable[Plan]]  # a project's policy, planned now
    emit: Callable[..., Awaitable[None]]  # events, acknowledged by Kafka when it returns
    purgeable: Callable[[float], Iterable[str]]  # blobs trashed before the grace, at a time
    place: Place
    clock: Callable[[], float]  # seconds since the epoch
    log: Any
    # direct uploads begun too long before a time and never completed, removed (Tiers)
    sweep: Callable[[float], list[str]] = lambda _: []


@dataclass
class Tick:
    """What one tick did."""

    requested: dict[str, list[Any]] = field(default_factory=dict)  # project → events
    purged: dict[str, str] = field(default_factory=dict)  # sha256 → what was done


async def tick(ports: Ports) -> Tick:
    done = Tick()
    for item in await ports.policies():
        project = item["project"]
        plan = await ports.plan(project, item["policy"])
        events = lifecycle_events(project, plan, tool="archiver", note="scheduled run")
        if events:
            await ports.emit(*events)
        for step in plan.steps:
            REQUESTED.labels(step.action).inc()
        done.requested[project] = list(events)
        ports.log.info("retention run", project=project, requested=len(events),
                       protected=len(plan.protected))
    LAST_RUN.set(ports.clock())
    now = ports.clock()
    old = await asyncio.to_thread(lambda: list(ports.purgeable(now)))
    done.purged = await ports.place(old, True)
    report_placed(done.purged, set(), ports.log)
    if swept := await asyncio.to_thread(ports.sweep, now):
        ports.log.info("abandoned uploads removed", count=len(swept), first=swept[0])
    return done


async def scheduled(ports: Ports) -> Tick | None:
    """The timer's body: a tick, or None when it failed (logged; the next tick retries)."""
    try:
        return await tick(ports)
    except Exception as exc:  # noqa: BLE001 - the next run tries again; the worker must go on
        ports.log.error("retention run failed", error=repr(exc))
        return None


async def place_changed(records: Iterable[RecordedEvent], place: Place, log: Any
                        ) -> dict[str, str]:
    """Put the blobs of a changelog batch's moved and published versions where they belong
    (a publish may list a blob a delete sent to the trash meanwhile: it comes back)."""
    moved, published = digests_to_place(records)
    done = await place(moved | published, False)
    report_placed(done, moved, log)
    return done


def problems(done: Mapping[str, str], expected: set[str]) -> list[tuple[str, str]]:
    """(sha256, what) of the blobs not placed: corrupted ones, and missing ones that were
    `expected` (a published version's blob no tier holds is the validator's finding)."""
    return [(sha256, what) for sha256, what in done.items()
            if what == "corrupted" or (what == "missing" and sha256 in expected)]


def report_placed(done: Mapping[str, str], expected: set[str], log: Any) -> None:
    for what in done.values():
        BLOBS.labels(what).inc()
    for sha256, what in problems(done, expected):
        log.error("blob not placed", sha256=sha256, problem=what)
    if done:
        log.info("blobs placed", blobs=len(done), done=sorted(set(done.values())))
