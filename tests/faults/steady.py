"""A steady publish stream, and the invariant every fault test checks once the fault healed:
every event Kafka acknowledged recorded exactly once (gapless numbers, chain intact: what
`cairn audit verify` checks), every recorded seq on the changelog, every version in the
index once; with how long that took after healing, printed as one FIGURES line per test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cairn.core.adapters import schemas
from cairn.core.adapters.codec import AvroCodec, RegistryClient, UndecodableRecord
from cairn.core.adapters.topics import Topics

from tests.e2e.faults import assert_indexed_once, assert_ledger_exact, reach, until
from tests.ledger_helpers import emitter_for, publish_event, read_topic
from tests.processes import Service
from tests.search_helpers import backend_of, drop_indices

NAMES = 10  # each emit is one event per name, so every name's numbers stay gapless


class SteadyStream:
    """Published events from a thread, one emit of NAMES events every `every` seconds
    (acks=all: `sent` counts only what Kafka acknowledged), until stop(); the n-th emit's
    occurred_at is off by skews_ms[n % len(skews_ms)] (a producer's clock ahead or behind)."""

    def __init__(self, env: dict[str, str], project: str, every: float = 0.2,
                 skews_ms: tuple[int, ...] = (0,)) -> None:
        self.env, self.project, self.every, self.skews_ms = env, project, every, skews_ms
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        emitter = emitter_for(self.env)
        try:
            while not self._stop.is_set():
                skew = self.skews_ms[self.sent // NAMES % len(self.skews_ms)]
                events = [publish_event(self.project, f"run-{i:02d}", "eval_log")
                          for i in range(NAMES)]
                for event in events:  # the producer's clock, off by `skew`
                    event["occurred_at"] += skew
                emitter.emit(*events)
                self.sent += NAMES
                self._stop.wait(self.every)
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            emitter.close()

    def start(self) -> SteadyStream:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        assert self.error is None, f"the stream failed: {self.error!r}"
        assert not self._thread.is_alive(), "the stream never got its acknowledgements"
        return self.sent


@contextmanager
def pipeline(env: dict[str, str], project: str, log_dir: Path, *,
             indexer_env: dict[str, str] | None = None, skews_ms: tuple[int, ...] = (0,)
             ) -> Iterator[SteadyStream]:
    """A ledger and an indexer on `env` (the indexer with `indexer_env` on top) and a steady
    stream into `project`; on the way out all three stop and the run's indices go."""
    with ExitStack() as stack:
        stack.callback(drop_indices, env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
        stack.callback(Service("ledger", env, log_dir).start().stop)
        stack.callback(Service("indexer", {**env, **(indexer_env or {})}, log_dir).start().stop)
        stream = SteadyStream(env, project, skews_ms=skews_ms).start()
        stack.callback(stream.stop)
        yield stream


def changelog_seqs(env: dict[str, str], project: str) -> set[int]:
    topic = Topics(env["CAIRN_TOPIC_PREFIX"]).changelog
    codec = AvroCodec(RegistryClient(env["SCHEMA_REGISTRY_URL"]), topic, schemas.RECORDED)
    seqs = set()
    for message in read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], topic):
        if message.key().decode().startswith(project + "/"):
            try:
                seqs.add(codec.decode(message.value())["seq"])
            except UndecodableRecord:  # a poison record a test put there
                continue
    return seqs


async def indexed(env: dict[str, str], count: int, within: float = 240) -> None:
    """Until `count` documents are searchable under the env's alias."""
    backend, alias = backend_of(env)
    try:
        async def enough() -> bool:
            try:
                await backend.refresh(alias)
                return await backend.count(alias) >= count
            except LookupError:
                return False

        await until(enough, within, f"{count} documents searchable")
    finally:
        await backend.close()


async def assert_converged(fault: str, env: dict[str, str], database_url: str, project: str,
                           sent: int, healed_at: float, **extra: object) -> dict[str, object]:
    """The invariant, on the direct (unproxied) database; the figures (with a test's `extra`
    ones), printed and returned."""
    import asyncpg

    await reach(database_url, project, sent, 240)
    recorded_after = time.monotonic() - healed_at
    await indexed(env, sent)
    converged_after = time.monotonic() - healed_at
    await assert_ledger_exact(database_url, project, sent, NAMES)
    await assert_indexed_once(env, sent)
    conn = await asyncpg.connect(database_url)
    try:
        logged = {r["seq"] for r in await conn.fetch(
            "SELECT seq FROM event_log WHERE artifact LIKE $1 || '/%'", project)}
    finally:
        await conn.close()
    assert changelog_seqs(env, project) >= logged  # every seq published (repeats allowed)
    figures: dict[str, object] = {
        "fault": fault, "sent": sent, "recorded": len(logged), "lost": sent - len(logged),
        "repeated": 0, "recorded_s": round(recorded_after, 1),
        "converged_s": round(converged_after, 1), **extra}
    print("FIGURES " + json.dumps(figures))
    return figures
