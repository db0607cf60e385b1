"""The archiver's faust app: scheduled retention runs, and blobs moved as lifecycles change.

- Every CAIRN_ARCHIVER_INTERVAL seconds a tick (`schedule.tick`) plans each project's
  `scheduled` retention policy and emits the plan's LifecycleRequested events (actor
  `archiver`), then removes the trash's blobs that are past the grace period. With several
  archivers on one namespace only the leader ticks (`core.adapters.leadership`: a PostgreSQL
  advisory lock held by its session); the others take over when it goes.
- From the changelog it takes every recorded archive, restore, delete and publish and puts
  the version's blobs where they now belong (see tiers.py and placing.py), inside
  `settle()`, so a batch's offsets are acknowledged only once its blobs are in place.
The archiver reads PostgreSQL and never writes it: the ledger is the only writer. `build` is
the composition root: it wires the archiver's clients (`ArchiverAdapters`) to the functions
of `schedule`, and closes the clients once the app stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import Counter

from cairn.archiver import schedule
from cairn.archiver.placing import PLACED, READS, place_blobs
from cairn.archiver.tiers import Tiers
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.leadership import Leadership
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import (
    LazyPool,
    changelog_agent,
    lifespan,
    service_pages,
    stream_app,
)
from cairn.core.domain.event_types import RecordedEvent
from cairn.core.domain.retention import Plan
from cairn.readmodel.retention import plan_project, scheduled_policies

UNDECODABLE = Counter("cairn_archiver_undecodable_total", "Changelog records not decodable")


@dataclass(frozen=True)
class ArchiverAdapters:
    """The archiver's clients: an emitter (Kafka and the registry), PostgreSQL (read only),
    the blob tiers on disk, the leadership among archivers of one namespace, and the clock."""

    emitter: Emitter
    pool: LazyPool
    tiers: Tiers
    leadership: Leadership
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiverAdapters:
        return cls(Emitter(settings, "cairn-archiver"), LazyPool(settings),
                   Tiers.of(settings),
                   Leadership(settings, f"{settings.topic_prefix}archiver"))

    async def closing(self, stack: AsyncExitStack) -> None:
        """Close each client at the stack's end, the last opened first."""
        stack.push_async_callback(asyncio.to_thread, self.emitter.close)
        stack.push_async_callback(self.pool.close)
        stack.push_async_callback(self.leadership.close)


def create_app(settings: Settings) -> faust.App:
    return build(settings, ArchiverAdapters.from_settings(settings))


def build(settings: Settings, adapters: ArchiverAdapters) -> faust.App:
    log = configure("archiver")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-archiver", topics.partitions, commit_every=100)
    tiers = adapters.tiers

    async def place(digests: Iterable[str], purge: bool) -> dict[str, str]:
        return await place_blobs(await adapters.pool(), tiers, digests, purge=purge)

    async def policies() -> list[dict[str, Any]]:
        async with (await adapters.pool()).acquire() as conn:
            return await scheduled_policies(conn)

    async def plan(project: str, policy: dict[str, Any]) -> Plan:
        return (await plan_project(await adapters.pool(), project, policy))[1]

    ports = schedule.Ports(policies, plan, adapters.emitter.emit_async,
                           lambda now: tiers.purgeable(settings.blob_grace_seconds, now),
                           place, adapters.clock, log,
                           lambda now: tiers.abandoned_uploads(settings.upload_expiry_seconds, now))

    async def place_changed(records: list[RecordedEvent]) -> None:
        await schedule.place_changed(records, place, log)

    changelog_agent(app, settings, topics, log, UNDECODABLE, "archiver", place_changed,
                    registry=adapters.emitter.registry, types=PLACED, fields=READS)
    lifespan(app, adapters.closing, log)

    if (interval := schedule.every(settings.archiver_interval)) is not None:
        @app.timer(interval)  # type: ignore[untyped-decorator]
        async def scheduled() -> None:
            if await adapters.leadership.held():
                await schedule.scheduled(ports)
            else:
                log.debug("scheduled run left to the leading archiver")

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await adapters.pool()
        log.info("archiver ready", changelog=topics.changelog, archive=tiers.cold.location,
                 interval=settings.archiver_interval)

    service_pages(app, lambda: {"archive": tiers.cold.location,
                                "interval": settings.archiver_interval,
                                **adapters.leadership.describe()}
                  if adapters.pool.opened else None)
    app.cairn_codecs = (adapters.emitter.codec,)  # type: ignore[attr-defined]
    return app
