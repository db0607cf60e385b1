"""The notifier's faust app: changelog batches in, signed webhooks and delivery reports out.

Each batch runs inside `settle()`: every delivery it owes is driven to a final state
(delivered or dead) and every attempt's report acknowledged by Kafka before faust may commit
the batch's offsets. A crash repeats only the unfinished deliveries: the delivery log says
which ended, and receivers dedupe on X-Cairn-Delivery in case a report had not landed yet.
"""

from __future__ import annotations

import asyncio
import socket
from collections import OrderedDict
from functools import partial
from typing import Any

import asyncpg
import faust
import httpx
from prometheus_client import Counter, Gauge, Histogram
from tenacity import AsyncRetrying, wait_exponential
from uuid6 import uuid7

from cairn.core import schemas
from cairn.core.batches import settle
from cairn.core.codec import AvroCodec, RegistryClient
from cairn.core.kafka import produce_all_async, producer
from cairn.core.logs import configure
from cairn.core.settings import Settings
from cairn.core.targets import check_address, origin
from cairn.core.topics import Topics
from cairn.core.worker import decode_changelog, service_pages, stream_app
from cairn.notifier import jobs, signing, store
from cairn.notifier.delivery import Attempt, Policy, deliver

ATTEMPTS = Counter("cairn_notifier_attempts_total", "Webhook attempts", ["state"])
ENDED = Counter("cairn_notifier_deliveries_total", "Deliveries that ended", ["state"])
UNDECODABLE = Counter("cairn_notifier_undecodable_total", "Changelog records not decodable")
LAST_SEQ = Gauge("cairn_notifier_last_seq", "Highest changelog seq handled")
DURATION = Histogram("cairn_notifier_attempt_seconds", "Time of one webhook attempt")
CONCURRENCY = 32  # targets served at once
SETTING = "CAIRN_ALLOW_PRIVATE_WEBHOOKS"


class Ended:
    """Deliveries this process saw end lately, so settle() redoing a batch skips them."""

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


def create_app(settings: Settings) -> faust.App:
    log = configure("notifier")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-notifier", topics.partitions, commit_every=100)
    source = app.topic(topics.changelog, value_type=bytes, key_type=bytes)
    registry = RegistryClient(settings.schema_registry_url)
    changelog_codec = AvroCodec(registry, topics.changelog, schemas.RECORDED)
    reports_codec = AvroCodec(registry, topics.deliveries, schemas.DELIVERY)
    kafka = producer(settings.kafka_bootstrap_servers, "cairn-notifier")
    policy = Policy(settings.webhook_attempts, settings.webhook_backoff,
                    settings.webhook_backoff_max, settings.webhook_timeout)
    key = settings.webhook_key.get_secret_value()
    master = signing.master_key(key)
    ended, limit = Ended(), asyncio.Semaphore(CONCURRENCY)
    # Built on first use inside the worker's loop, never closed: a batch still settling at
    # shutdown must keep them (as in the validator).
    state: dict[str, Any] = {"pool": None, "http": None}

    async def pool() -> asyncpg.Pool:
        if state["pool"] is None:
            state["pool"] = await asyncpg.create_pool(settings.database_url, min_size=1,
                                                      max_size=4)
        return state["pool"]

    subscriptions = store.SubscriptionStore(pool)

    async def check_target(url: str) -> None:
        await check_address(url, settings.allow_private_webhooks, setting=SETTING)

    async def report(a: Attempt) -> None:
        value = reports_codec.encode(report_event(a))
        await produce_all_async(kafka, [(topics.deliveries, a.job.subscription.id.encode(),
                                         value, None)])
        ATTEMPTS.labels(a.state).inc()
        DURATION.observe(a.duration_ms / 1000)
        log.info("attempt", subscription=a.job.subscription.id, seq=a.job.seq,
                 delivery=a.job.delivery_id, attempt=a.number, status=a.status_code,
                 error=a.error, state=a.state)

    async def serve(group: list[jobs.Job]) -> None:
        async with limit:
            for job in group:
                final = await deliver(state["http"], job, policy, report, check_target)
                ended.add(job.delivery_id)
                ENDED.labels(final).inc()

    async def notify(values: list[bytes | None]) -> None:
        records = decode_changelog(changelog_codec, values, log, UNDECODABLE)
        if state["http"] is None:
            state["http"] = httpx.AsyncClient(follow_redirects=False)
        todo = [j for j in jobs.plan(records, await subscriptions.current(), master)
                if j.delivery_id not in ended]
        todo = jobs.resume(todo, await store.progress(pool, [j.delivery_id for j in todo]))
        outcomes = await asyncio.gather(*(serve(g) for g in jobs.by_target(todo)),
                                        return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # every group has stopped; settle() redoes the rest of the batch
            raise failures[0]
        if records:
            LAST_SEQ.set(max(LAST_SEQ._value.get(), *(r["seq"] for r in records)))

    @app.agent(source)
    async def notifier(stream: faust.StreamT[Any]) -> None:
        async for batch in stream.take_events(100, within=0.2):  # type: ignore[attr-defined]
            values = [e.message.value for e in batch]
            await settle(partial(notify, values), log, "notifier")

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=10),
                                           before_sleep=lambda s: log.warning(
                                               "subscriptions not readable yet; retrying",
                                               error=repr(s.outcome and s.outcome.exception()))):
            with attempt:  # PostgreSQL starting, or the ledger has not migrated it yet
                await subscriptions.current()
        state["http"] = state["http"] or httpx.AsyncClient(follow_redirects=False)
        if not key:
            log.warning("CAIRN_WEBHOOK_KEY is not set: signing with the development key, "
                        "which anyone can know; set it outside development")
        log.info("notifier ready", changelog=topics.changelog, deliveries=topics.deliveries,
                 subscriptions=len(subscriptions), attempts=policy.attempts,
                 private_targets=settings.allow_private_webhooks)

    service_pages(app, lambda: None if state["http"] is None else {
        "subscriptions": len(subscriptions), "signing_key": "set" if key else "development",
        "private_targets": settings.allow_private_webhooks})
    app.cairn_codecs = (reports_codec,)  # type: ignore[attr-defined]
    return app
