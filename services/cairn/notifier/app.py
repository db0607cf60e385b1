"""The notifier's faust app: changelog records in, signed webhooks and delivery reports out.

Each record's deliveries go to their targets' lanes (`scheduler`): a target's notifications
go out one at a time in changelog order, and a slow or dead target retries in its own lane
while every other target's notifications go on. The stream does not acknowledge records
itself (`noack_take`): the scheduler acknowledges a record once each delivery it owes was
delivered or dead-lettered, with every attempt's report acknowledged by Kafka, and every
earlier record of its partition was acknowledged; faust commits what was acknowledged. A crash
or a shutdown repeats only the unfinished deliveries: the delivery log says which ended, and
receivers dedupe on X-Cairn-Delivery in case a report had not reached it yet.
"""

from __future__ import annotations

import asyncio
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import asyncpg
import faust
import httpx
from prometheus_client import Counter, Gauge, Histogram
from tenacity import AsyncRetrying, wait_exponential
from uuid6 import uuid7

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import settle
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import produce_all_async, producer
from cairn.core.adapters.logs import configure
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import sign
from cairn.core.adapters.signing import signer as producer_signer
from cairn.core.adapters.targets import Checked, check_address, origin
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import decode_changelog, service_pages, stream_app
from cairn.core.domain import webhook_signing as signing
from cairn.notifier import jobs, scheduler, store
from cairn.notifier.delivery import Attempt, Policy, deliver

ATTEMPTS = Counter("cairn_notifier_attempts_total", "Webhook attempts", ["state"])
ENDED = Counter("cairn_notifier_deliveries_total", "Deliveries that ended", ["state"])
UNDECODABLE = Counter("cairn_notifier_undecodable_total", "Changelog records not decodable")
LAST_SEQ = Gauge("cairn_notifier_last_seq", "Highest changelog seq handled")
DURATION = Histogram("cairn_notifier_attempt_seconds", "Time of one webhook attempt")
QUEUED = Gauge("cairn_notifier_queued_deliveries", "Deliveries queued or in flight")
SETTING = "CAIRN_ALLOW_PRIVATE_WEBHOOKS"


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


def report_event(a: Attempt) -> dict[str, Any]:
    """An attempt as a DeliveryAttempt record (Avro, cairn.notifier.deliveries)."""
    job = a.job
    return {
        "event_id": str(uuid7()), "occurred_at": a.attempted_at, "actor": "notifier",
        "source": {"tool": "notifier", "host": socket.gethostname(), "run_id": None},
        "artifact": job.artifact, "schema_version": 1, "subscription": job.subscription.id,
        "team": job.subscription.team, "delivery_id": job.delivery_id, "seq": job.seq,
        "event_type": job.event_type, "target": origin(job.subscription.url),
        "attempt": a.number, "status_code": a.status_code, "error": a.error,
        "duration_ms": a.duration_ms, "state": a.state, "next_attempt_at": a.next_attempt_at,
    }


async def _fill(out: list[Any], plan: Callable[[list[Any]], Awaitable[list[Any]]],
                events: list[Any]) -> None:
    """settle()'s work: plan a batch into `out` (planning reads PostgreSQL, so it may need
    retrying; nothing is queued until it succeeded)."""
    out[:] = await plan(events)


def create_app(settings: Settings) -> faust.App:
    log = configure("notifier")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-notifier", topics.partitions, commit_every=100)
    source = app.topic(topics.changelog, value_type=bytes, key_type=bytes)
    registry = RegistryClient(settings.schema_registry_url)
    changelog_codec = AvroCodec(registry, topics.changelog, schemas.RECORDED)
    reports_codec = AvroCodec(registry, topics.deliveries, schemas.DELIVERY)
    kafka = producer(settings.kafka_bootstrap_servers, "cairn-notifier")
    signer = producer_signer(settings, "cairn-notifier")  # the ledger takes only Cairn's reports
    policy = Policy(settings.webhook_attempts, settings.webhook_backoff,
                    settings.webhook_backoff_max, settings.webhook_timeout)
    key = settings.webhook_key.get_secret_value()
    master = signing.master_key(key)
    ended, slots = Ended(), asyncio.Semaphore(settings.webhook_concurrency)
    # Built on first use inside the worker's loop, never closed: lanes still delivering at
    # shutdown must keep them (as in the validator).
    state: dict[str, Any] = {"pool": None, "http": None}
    # The scheduler acknowledges records itself: faust must neither wait for every record to
    # be acknowledged before a rebalance or a stop (a dead target would hold it for minutes)
    # nor acknowledge them on its own.
    app.conf.stream_wait_empty = False

    def http() -> httpx.AsyncClient:
        if state["http"] is None:
            state["http"] = pinned_client(httpx.Limits(  # connects only where it checked
                max_connections=settings.webhook_concurrency))
        return state["http"]  # type: ignore[no-any-return]

    async def pool() -> asyncpg.Pool:
        if state["pool"] is None:
            state["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1,
                                                      max_size=4)
        return state["pool"]

    subscriptions = store.SubscriptionStore(pool)

    async def check_target(url: str) -> Checked:
        return await check_address(url, settings.allow_private_webhooks, setting=SETTING)

    async def report(a: Attempt) -> None:
        value = reports_codec.encode(report_event(a))
        await produce_all_async(kafka, [(topics.deliveries, a.job.subscription.id.encode(),
                                         value, sign(value, *signer))])
        ATTEMPTS.labels(a.state).inc()
        DURATION.observe(a.duration_ms / 1000)
        log.info("attempt", subscription=a.job.subscription.id, seq=a.job.seq,
                 delivery=a.job.delivery_id, attempt=a.number, status=a.status_code,
                 error=a.error, state=a.state)

    async def run(job: jobs.Job, again: bool) -> str:
        """Deliver a job; after an error, first ask the delivery log how far it got."""
        if again:
            resumed = jobs.resume([job], await store.progress(pool, [job.delivery_id]))
            if not resumed:
                ended.add(job.delivery_id)
                return "ended"
            job = resumed[0]
        final = await deliver(http(), job, policy, report, check_target, slots=slots)
        ended.add(job.delivery_id)
        ENDED.labels(final).inc()
        return final

    lanes = scheduler.Scheduler(run, settings.webhook_backlog, log)
    QUEUED.set_function(lambda: len(lanes))

    async def plan(events: list[Any]) -> list[tuple[Any, list[jobs.Job]]]:
        """Each event with the deliveries it owes that did not end yet."""
        decoded = [decode_changelog(changelog_codec, [e.message.value], log, UNDECODABLE)
                   for e in events]
        records = [r for rs in decoded for r in rs]
        todo = [j for j in jobs.plan(records, await subscriptions.current(), master)
                if j.delivery_id not in ended]
        todo = jobs.resume(todo, await store.progress(pool, [j.delivery_id for j in todo]))
        owed: dict[int, list[jobs.Job]] = {}
        for job in todo:
            owed.setdefault(job.seq, []).append(job)
        if records:
            LAST_SEQ.set(max(LAST_SEQ._value.get(), *(r["seq"] for r in records)))
        return [(e, [j for r in rs for j in owed.pop(r["seq"], [])])
                for e, rs in zip(events, decoded, strict=True)]

    @app.agent(source)
    async def notifier(stream: faust.StreamT[Any]) -> None:
        async for events in stream.noack_take(100, within=0.2):  # type: ignore[attr-defined]
            planned: list[tuple[Any, list[jobs.Job]]] = []
            await settle(partial(_fill, planned, plan, events), log, "notifier")
            for event, owed in planned:
                await lanes.submit(event.message.tp, partial(stream.ack, event), owed)

    async def revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        lanes.forget(args[0])  # the revoked partitions

    async def shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await lanes.close()

    app.on_partitions_revoked.connect(revoked)
    app.on_before_shutdown.connect(shutdown)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=10),
                                           before_sleep=lambda s: log.warning(
                                               "subscriptions not readable yet; retrying",
                                               error=repr(s.outcome and s.outcome.exception()))):
            with attempt:  # PostgreSQL starting, or the ledger has not migrated it yet
                await subscriptions.current()
        http()
        log.info("notifier ready", changelog=topics.changelog, deliveries=topics.deliveries,
                 subscriptions=len(subscriptions), attempts=policy.attempts,
                 concurrency=settings.webhook_concurrency, backlog=settings.webhook_backlog,
                 private_targets=settings.allow_private_webhooks)

    service_pages(app, lambda: None if state["http"] is None else {
        "subscriptions": len(subscriptions), "signing_key": "set",
        "private_targets": settings.allow_private_webhooks, "queued": len(lanes),
        "lanes": lanes.lanes})
    app.cairn_codecs = (reports_codec,)  # type: ignore[attr-defined]
    return app
