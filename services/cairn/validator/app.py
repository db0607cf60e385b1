"""The validator's faust app: changelog batches in, Verdict events out.

Each batch is judged and its verdicts acknowledged by Kafka inside `settle()` before faust
may commit the batch's offsets, so a crash only ever repeats a judgement; repeated
judgements carry the same event ids and the ledger records them once.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import faust
from prometheus_client import Counter, Gauge

from cairn.core.adapters.blobstore import LocalBlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.adapters.worker import changelog_agent, service_pages, stream_app
from cairn.validator.hooks import installed_plugins
from cairn.validator.judge import Judge
from cairn.validator.rules import default_dir
from cairn.validator.store import LinkStore
from cairn.validator.verdicts import Seen, verdict_events, wanted

VERDICTS = Counter("cairn_validator_verdicts_total", "Verdicts emitted", ["check", "status"])
UNDECODABLE = Counter("cairn_validator_undecodable_total", "Changelog records not decodable")
LAST_SEQ = Gauge("cairn_validator_last_seq", "Highest changelog seq judged")


def create_app(settings: Settings) -> faust.App:
    log = configure("validator")
    topics = Topics(settings.topic_prefix)
    app = stream_app(settings, "cairn-validator", topics.partitions, commit_every=100)
    emitter = Emitter(settings, "cairn-validator")
    projects = [p.strip() for p in settings.validator_projects.split(",") if p.strip()]
    validation_dir = settings.validation_dir or default_dir()
    seen = Seen()
    # Built once, on first use, inside the worker's event loop. Nothing is closed at
    # shutdown on purpose: faust signals shutdown before its agents stop, and a batch still
    # settling must keep its pool; every verdict was acknowledged before its offset anyway.
    judges: list[Judge] = []

    async def judge() -> Judge:
        if not judges:
            pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
            judges.append(Judge(validation_dir, LocalBlobStore(settings.blob_dir),
                                LinkStore(pool), pinned_client(),
                                settings.allow_private_hooks, installed_plugins()))
        return judges[0]

    async def judge_and_emit(records: list[dict[str, Any]]) -> None:
        todo = list({r["seq"]: r for r in records
                     if r["seq"] not in seen and wanted(r, projects)}.values())
        events = []
        for record in todo:
            outcomes = await (await judge()).judge(record["state"])
            events += verdict_events(record, outcomes)
        if events:
            await emitter.emit_async(*events)
        for record in todo:
            seen.add(record["seq"])
            LAST_SEQ.set(max(LAST_SEQ._value.get(), record["seq"]))
        for event in events:
            body = event["payload"][1]
            VERDICTS.labels(body["check"], body["status"]).inc()
        if todo:
            log.info("judged", versions=len(todo), verdicts=len(events))

    changelog_agent(app, settings, topics, log, UNDECODABLE, "validator", judge_and_emit)

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up() -> None:
        await judge()
        log.info("validator ready", changelog=topics.changelog, rules=str(validation_dir),
                 projects=projects, private_hooks=settings.allow_private_hooks)

    service_pages(app, lambda: {"rules": str(validation_dir)} if judges else None)
    app.cairn_codecs = (emitter.codec,)  # type: ignore[attr-defined]
    return app
