"""Two instances of a service on one namespace (issue 16): the ledgers of one consumer group
still make one gapless hash chain that `cairn audit verify` accepts, and of two archivers only
one runs the scheduled tick (the leader, by a PostgreSQL advisory lock) until it goes.

Both use a private namespace of their own, so the instances here are the only ones."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import endpoints as discovery
from tests.conftest import Namespace, private_namespace, service_env
from tests.ledger_helpers import emit_recorded, publish_event
from tests.processes import Service

PATIENCE = 90.0  # seconds a condition may take to hold before the test gives up


@pytest.fixture(scope="module")
def world(endpoints: discovery.Endpoints, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Namespace, dict[str, str], Path]]:
    with private_namespace(endpoints) as ns:
        yield ns, service_env(endpoints, ns, tmp_path_factory.mktemp("blobs")), \
            tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def two_ledgers(world: tuple[Namespace, dict[str, str], Path]) -> Iterator[list[Service]]:
    _, env, logs = world
    ledgers = [Service("ledger", env, logs / f"ledger{i}") for i in (1, 2)]
    try:
        for ledger in ledgers:
            ledger.log_path.parent.mkdir()
            ledger.start()
        yield ledgers
    finally:
        for ledger in ledgers:
            ledger.stop()


def metric(service: Service, name: str) -> float:
    """The sum of a metric's samples on a service's /metrics page (0 when it has none)."""
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    return sum(float(m.group(1)) for m in
               re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify"],
                          env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=120)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE}s: {what}"
        time.sleep(0.3)


async def test_two_ledgers_of_one_group_make_one_gapless_chain(
        world: tuple[Namespace, dict[str, str], Path], two_ledgers: list[Service]) -> None:
    ns, env, _ = world
    project = f"p{uuid.uuid4().hex[:8]}"
    # 30 artifacts spread over the events topic's 6 partitions, so both ledgers get some;
    # three versions each, in order per artifact.
    events = [publish_event(project, f"a{i}") for _ in range(3) for i in range(30)]
    got = await emit_recorded(env, ns.database_url, events)
    assert len(got) == len(events) and {r["outcome"] for r in got.values()} == {"applied"}
    # Each ledger recorded part of the stream: the chain's order was made by both.
    shares = [metric(ledger, "cairn_ledger_recorded_total") for ledger in two_ledgers]
    assert all(share > 0 for share in shares), shares

    conn = await asyncpg.connect(ns.database_url)
    try:
        seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM event_log ORDER BY seq")]
        versions = await conn.fetch(
            "SELECT a.name, array_agg(v.version_number ORDER BY v.created_seq) AS numbers"
            " FROM versions v JOIN artifacts a ON a.id = v.artifact_id GROUP BY a.name")
    finally:
        await conn.close()
    assert seqs == list(range(1, len(events) + 1))  # one total order, no gap, no repeat
    assert {tuple(r["numbers"]) for r in versions} == {(1, 2, 3)}
    audit = await asyncio.to_thread(audit_verify, ns.database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_of_two_archivers_only_the_leader_runs_the_scheduled_tick(
        world: tuple[Namespace, dict[str, str], Path], two_ledgers: list[Service]) -> None:
    _, env, logs = world
    env = {**env, "CAIRN_ARCHIVER_INTERVAL": "1", "CAIRN_ARCHIVE_DIR": str(logs / "archive")}
    archivers = [Service("archiver", env, logs / f"archiver{i}") for i in (1, 2)]
    try:
        for archiver in archivers:
            archiver.log_path.parent.mkdir()
            archiver.start()

        def last_runs() -> list[float]:
            return [metric(a, "cairn_archiver_last_run_timestamp") for a in archivers]

        # Both are up; the leader ticks every second: wait for three of its ticks.
        wait_for(lambda: any(last_runs()), "a first scheduled tick")
        leader = next(i for i, run in enumerate(last_runs()) if run)
        ticks: set[float] = set()

        def three_more() -> bool:
            ticks.add(last_runs()[leader])
            return len(ticks) >= 4

        wait_for(three_more, "three more ticks of the leader")
        assert last_runs()[1 - leader] == 0, "the follower ran a tick the leader also ran"

        # The leader goes: its session ends, the lock is free, the other takes over.
        archivers[leader].stop()
        follower = archivers[1 - leader]
        wait_for(lambda: metric(follower, "cairn_archiver_last_run_timestamp") > 0,
                 "the follower taking over")
        assert httpx.get(f"{follower.url}/readyz", timeout=5).json()["leader"] is True
    finally:
        for archiver in archivers:
            archiver.stop()
