"""The notifier's faust app: changelog records in, signed webhooks and delivery reports out.

Each record's deliveries go to their targets' lanes (`scheduler`): a target's notifications
go out one at a time in changelog order, and a slow or dead target retries in its own lane
while every other target's notifications go on. The stream does not acknowledge records
itself (`noack_take`): the scheduler acknowledges a record once each delivery it owes was
delivered or dead-lettered, with every attempt's report acknowledged by Kafka, and every
earlier record of its partition was acknowledged; faust commits what was acknowledged. A crash
or a shutdown repeats only the unfinished deliveries: the delivery log says which ended, and
receivers dedupe on X-Cairn-Delivery in case a report had not reached it yet.

`build` is the composition root: it takes the notifier's clients (`NotifierAdapters`) and wires
them to the planning (`planning.plan`), the lanes and the delivery of one job
(`planning.run`, `delivery.deliver`); the clients are closed once the app stopped, after the
lanes (closed when shutdown begins) and the agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
import httpx
from confluent_kafka import Producer
from prometheus_client import Counter, Gauge, Histogram
from tenacity import AsyncRetrying, wait_exponential

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord, raw_records, settle
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import produce_all_async, producer_for
from cairn.core.adapters.logs import configure
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import sign
from cairn.core.adapters.signing import signer as producer_signer
from cairn.core.adapters.targets import Checked, check_address
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import (
    LazyPool,
    decode_changelog,
    flush,
    lifespan,
    service_pages,
    stream_app,
)
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.event_types import RecordedEvent
from cairn.notifier import jobs, planning, scheduler, store
from cairn.notifier.delivery import Attempt, Policy, deliver, report_event

ATTEMPTS = Counter("cairn_notifier_attempts_total", "Webhook attempts", ["state"])
ENDED = Counter("cairn_notifier_deliveries_total", "Deliveries that ended", ["state"])
UNDECODABLE = Counter("cairn_notifier_undecodable_total", "Changelog records not decodable")
LAST_SEQ = Gauge("cairn_notifier_last_seq", "Highest changelog seq decoded")
DURATION = Histogram("cairn_notifier_attempt_seconds", "Time of one webhook attempt")
QUEUED = Gauge("cairn_notifier_queued_deliveries", "Deliveries queued or in flight")
SETTING = "CAIRN_ALLOW_PRIVATE_WEBHOOKS"


@dataclass(frozen=True)
class NotifierAdapters:
    """The notifier's clients: the schema registry, one Kafka producer (attempt reports),
    PostgreSQL (subscriptions and the delivery log, read only), the webhook HTTP client."""

    registry: RegistryClient
    producer: Producer
    pool: LazyPool
    http: httpx.AsyncClient

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifierAdapters:
        return cls(RegistryClient(settings.schema_registry_url),
                   producer_for(settings, "cairn-notifier"),
                   LazyPool(settings),
                   pinned_client(httpx.Limits(  # connects only where it checked
                       max_connections=settings.webhook_concurrency)))

    async def closing(self, stack: AsyncExitStack) -> None:
        """Close each client at the stack's end, the last opened first."""
        stack.callback(self.registry.close)
        stack.push_async_callback(flush, self.producer)
        stack.push_async_callback(self.pool.close)
        stack.push_async_callback(self.http.aclose)


async def _fill(out: list[Any], plan: Callable[[list[Any]], Awaitable[list[Any]]],
                events: list[Any]) -> None:
    """settle()'s work: plan a batch into `out` (planning reads PostgreSQL, so it may need
    retrying; nothing is queued until it succeeded)."""
    out[:] = await plan(events)


def create_app(settings: Settings) -> faust.App:
    return build(settings, NotifierAdapters.from_settings(settings))


def build(settings: Settings, adapters: NotifierAdapters) -> faust.App:
    log = configure("notifier")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-notifier", topics.partitions, commit_every=100)
    source = app.topic(topics.changelog, value_type=bytes, key_type=bytes)
    changelog_codec = AvroCodec[RecordedEvent](adapters.registry, topics.changelog,
                                               schemas.RECORDED)
    reports_codec = AvroCodec(adapters.registry, topics.deliveries, schemas.DELIVERY)
    signer = producer_signer(settings, "cairn-notifier")  # the ledger takes only Cairn's reports
    policy = Policy(settings.webhook_attempts, settings.webhook_backoff,
                    settings.webhook_backoff_max, settings.webhook_timeout)
    ended = planning.Ended()
    slots = asyncio.Semaphore(settings.webhook_concurrency)
    subscriptions = store.SubscriptionStore(adapters.pool)
    progress = partial(store.progress, adapters.pool)
    ready: list[bool] = []
    # The scheduler acknowledges records itself: faust must neither wait for every record to
    # be acknowledged before a rebalance or a stop (a dead target would hold it for minutes)
    # nor acknowledge them on its own.
    app.conf.stream_wait_empty = False

    async def check_target(url: str) -> Checked:
        return await check_address(url, settings.allow_private_webhooks, setting=SETTING,
                                   allowed=settings.webhook_allowed)

    async def report(a: Attempt) -> None:
        value = reports_codec.encode(report_event(a))
        await produce_all_async(adapters.producer, [
            (topics.deliveries, a.job.subscription.id.encode(), value, sign(value, *signer))])
        ATTEMPTS.labels(a.state).inc()
        DURATION.observe(a.duration_ms / 1000)
        log.info("attempt", subscription=a.job.subscription.id, seq=a.job.seq,
                 delivery=a.job.delivery_id, attempt=a.number, status=a.status_code,
                 error=a.error, state=a.state)

    async def deliver_one(job: jobs.Job) -> str:
        final = await deliver(adapters.http, job, policy, report, check_target, slots=slots)
        ENDED.labels(final).inc()
        return final

    lanes = scheduler.Scheduler(
        partial(planning.run, progress=progress, ended=ended, deliver=deliver_one),
        settings.webhook_backlog, log)
    QUEUED.set_function(lambda: len(lanes))
    owes = planning.Planning(subscriptions.current, progress, ended,
                             signing.master_key(settings.webhook_key.get_secret_value()))

    def decode(raw: RawRecord) -> list[RecordedEvent]:
        records = decode_changelog(changelog_codec, [raw.value], log, UNDECODABLE)
        if records:
            LAST_SEQ.set(max(LAST_SEQ._value.get(), *(r["seq"] for r in records)))
        return records

    async def plan(events: list[Any]) -> list[tuple[Any, list[jobs.Job]]]:
        """Each event with the deliveries it owes that did not end yet."""
        owed = await planning.plan(owes, raw_records(events), decode)
        return list(zip(events, owed, strict=True))

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
    lifespan(app, adapters.closing, log)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=10),
                                           before_sleep=lambda s: log.warning(
                                               "subscriptions not readable yet; retrying",
                                               error=repr(s.outcome and s.outcome.exception()))):
            with attempt:  # PostgreSQL starting, or the ledger has not migrated it yet
                await subscriptions.current()
        ready.append(True)
        log.info("notifier ready", changelog=topics.changelog, deliveries=topics.deliveries,
                 subscriptions=len(subscriptions), attempts=policy.attempts,
                 concurrency=settings.webhook_concurrency, backlog=settings.webhook_backlog,
                 private_targets=settings.allow_private_webhooks)

    service_pages(app, lambda: None if not ready else {
        "subscriptions": len(subscriptions), "signing_key": "set",
        "private_targets": settings.allow_private_webhooks, "queued": len(lanes),
        "lanes": lanes.lanes})
    app.cairn_codecs = (reports_codec,)  # type: ignore[attr-defined]
    return app
