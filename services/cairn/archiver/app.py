"""The archiver's faust app: scheduled retention runs, and blobs moved as lifecycles change.

- Every CAIRN_ARCHIVER_INTERVAL seconds it plans each project's `scheduled` retention policy
  and emits the plan's LifecycleRequested events (actor `archiver`); the ledger records them,
  or refuses one whose version became protected since.
- From the changelog it takes every recorded archive, restore, delete and publish and puts
  the version's blobs where they now belong (see tiers.py and placing.py), inside
  `settle()`, so a batch's offsets are acknowledged only once its blobs are in place.
- After each scheduled run it removes the trash's blobs that are past the grace period.
The archiver reads PostgreSQL and never writes it: the ledger is the only writer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import faust
from prometheus_client import Counter, Gauge

from cairn.archiver.placing import digests_to_place, place_blobs
from cairn.archiver.tiers import Tiers
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import changelog_agent, service_pages, stream_app
from cairn.core.domain.events import now_ms
from cairn.core.domain.retention_requests import lifecycle_events
from cairn.readmodel.retention import plan_project, scheduled_policies

REQUESTED = Counter("cairn_archiver_requested_total", "Lifecycle requests emitted by schedule",
                    ["action"])
BLOBS = Counter("cairn_archiver_blobs_total", "Blobs placed after lifecycle changes", ["done"])
LAST_RUN = Gauge("cairn_archiver_last_run_timestamp", "When the last scheduled run ended")
UNDECODABLE = Counter("cairn_archiver_undecodable_total", "Changelog records not decodable")


def create_app(settings: Settings) -> faust.App:
    log = configure("archiver")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-archiver", topics.partitions, commit_every=100)
    emitter = Emitter(settings, "cairn-archiver")
    tiers = Tiers.of(settings)
    pools: list[asyncpg.Pool] = []  # opened on first use, inside the worker's event loop

    async def pool() -> asyncpg.Pool:
        if not pools:
            pools.append(await asyncpg.create_pool(settings.database_url, min_size=1,
                                                   max_size=4))
        return pools[0]

    def count(done: dict[str, str], expected: set[str]) -> None:
        for sha256, what in done.items():
            BLOBS.labels(what).inc()
            # a publish's blob that no tier holds is the validator's finding, not a move's
            if what == "corrupted" or (what == "missing" and sha256 in expected):
                log.error("blob not placed", sha256=sha256, problem=what)
        if done:
            log.info("blobs placed", blobs=len(done), done=sorted(set(done.values())))

    async def place_changed(records: list[dict[str, Any]]) -> None:
        moved, published = digests_to_place(records)
        count(await place_blobs(await pool(), tiers, moved | published), moved)

    async def purge_trash() -> None:
        """Remove for good the blobs still gone after the grace period."""
        old = await asyncio.to_thread(lambda: list(tiers.purgeable(settings.blob_grace_seconds)))
        count(await place_blobs(await pool(), tiers, old, purge=True), set())

    changelog_agent(app, settings, topics, log, UNDECODABLE, "archiver", place_changed)

    async def run_policies() -> None:
        async with (await pool()).acquire() as conn:
            policies = await scheduled_policies(conn)
        for item in policies:
            _, plan = await plan_project(await pool(), item["project"], item["policy"])
            events = lifecycle_events(item["project"], plan, tool="archiver",
                                      note="scheduled run")
            if events:
                await emitter.emit_async(*events)
            for step in plan.steps:
                REQUESTED.labels(step.action).inc()
            log.info("retention run", project=item["project"], requested=len(events),
                     protected=len(plan.protected))
        LAST_RUN.set(now_ms() / 1000)

    if settings.archiver_interval > 0:
        @app.timer(settings.archiver_interval)  # type: ignore[untyped-decorator]
        async def scheduled() -> None:
            try:
                await run_policies()
                await purge_trash()
            except Exception as exc:  # the next run tries again; the worker must go on
                log.error("retention run failed", error=repr(exc))

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await pool()
        log.info("archiver ready", changelog=topics.changelog, archive=str(tiers.cold.root),
                 interval=settings.archiver_interval)

    service_pages(app, lambda: {"archive": str(tiers.cold.root),
                                "interval": settings.archiver_interval} if pools else None)
    app.cairn_codecs = (emitter.codec,)  # type: ignore[attr-defined]
    return app
