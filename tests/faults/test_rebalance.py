"""Fault 7: a consumer rebalance in the middle of a batch: a second instance joins, one leaves.

A ledger, an indexer and a validator take a steady stream. Mid-stream a second of each joins
its consumer group (each group rebalances while the first works through its batches), and
once the second has done work of its own, the first of each is killed -9: nothing flushed,
nothing committed. The first ledger is surely mid-batch then: the test holds the chain head,
which every batch locks first, until that ledger's batch waits for it inside its
transaction. Its group rebalances again when its session times out (10 s) and the survivor
replays what the dead one had not committed. The stream goes on throughout.

The invariant: every event recorded once (gapless numbers, the chain intact), every recorded
seq on the changelog, every version indexed once and judged once. A replayed judgement is
the same event (its id is derived from the judged record), so the ledger records it once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import asyncpg
import pytest
from cairn.readmodel.audit import verify_chain

from tests.conftest import Namespace
from tests.e2e.faults import assert_indexed_once, private_env, reach, until
from tests.endpoints import ROOT
from tests.faults.steady import NAMES, SteadyStream, changelog_seqs, indexed
from tests.integration.test_several_instances import metric
from tests.processes import Service
from tests.search_helpers import drop_indices

pytestmark = pytest.mark.faults

# Each service, and the metric that shows an instance of it did work.
WORK = {"ledger": "cairn_ledger_recorded_total", "indexer": "cairn_indexer_documents_total",
        "validator": "cairn_validator_verdicts_total"}
AFTER_S = 15  # the stream goes on this long after the first instances died (> the session)


def instances(env: dict[str, str], tmp_path: Path, n: int) -> list[Service]:
    services = []
    for name in WORK:
        logs = tmp_path / f"{name}{n}"
        logs.mkdir()
        services.append(Service(name, env, logs))
    return services


async def start_all(services: list[Service]) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in services))


async def worked(services: list[Service], within: float = 120) -> None:
    async def each_did_some() -> bool:
        return all(metric(s, WORK[s.name]) > 0 for s in services)

    await until(each_did_some, within, "work by each second instance")


@asynccontextmanager
async def chain_head_held(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction holding the chain head: a ledger batch that starts now waits for it,
    mid-transaction, until the block ends."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM chain_head WHERE id = 1 FOR UPDATE")
            yield conn
    finally:
        await conn.close()


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            if (target := os.readlink(fd)).startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def waiting_for_the_head(conn: asyncpg.Connection, ledger: Service) -> bool:
    """Whether one of the ledger's database sessions waits for a lock (the chain head)."""
    assert ledger.proc is not None
    ports = local_ports(ledger.proc.pid)
    return any(r["client_port"] in ports for r in await conn.fetch(
        "SELECT client_port FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"))


async def recorded_once(url: str, project: str, sent: int) -> tuple[dict[str, int], set[int]]:
    """Every published event recorded once with gapless numbers, every version judged once,
    the chain intact; the counts of rows (for the figures) and the seqs logged."""
    conn = await asyncpg.connect(url)
    try:
        async def all_judged() -> bool:
            return int(await conn.fetchval(
                "SELECT count(*) FROM event_log WHERE artifact LIKE $1 || '/%'"
                " AND event_type = 'VerdictSet'", project)) >= sent

        await until(all_judged, 240, f"{sent} versions judged")
        await asyncio.sleep(2)  # anything extra would show up now
        counts = dict(await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE event_type = 'Published') AS published,"
            " count(DISTINCT event_id) FILTER (WHERE event_type = 'Published') AS events,"
            " count(*) FILTER (WHERE event_type = 'VerdictSet') AS verdicts,"
            " count(DISTINCT version_id) FILTER (WHERE event_type = 'VerdictSet') AS judged"
            " FROM event_log WHERE artifact LIKE $1 || '/%'", project))
        numbers = await conn.fetch(
            "SELECT array_agg(v.version_number ORDER BY v.version_number) AS nums"
            " FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1"
            " GROUP BY a.name", project)
        logged = {r["seq"] for r in await conn.fetch(
            "SELECT seq FROM event_log WHERE artifact LIKE $1 || '/%'", project)}
    finally:
        await conn.close()
    assert counts == {"published": sent, "events": sent, "verdicts": sent, "judged": sent}
    assert [r["nums"] for r in numbers] == [list(range(1, sent // NAMES + 1))] * NAMES
    assert (await verify_chain(url)).ok
    return counts, logged


async def test_a_rebalance_mid_batch_records_indexes_and_judges_everything_once(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "rb", DATABASE_URL=own_database,
                               CAIRN_VALIDATION_DIR=str(ROOT / "validation"))
    firsts, seconds = instances(env, tmp_path, 1), instances(env, tmp_path, 2)
    with ExitStack() as stack:
        stack.callback(drop_indices, env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
        for service in firsts + seconds:
            stack.callback(service.stop)
        await start_all(firsts)
        stream = SteadyStream(env, project).start()
        stack.callback(stream.stop)
        await reach(own_database, project, 100, 120)
        await start_all(seconds)  # a second instance joins each group: it rebalances
        await worked(seconds)
        async with chain_head_held(own_database) as conn:
            await until(partial(waiting_for_the_head, conn, firsts[0]), 60,
                        "the first ledger's batch waiting for the chain head")
            for service in firsts:
                service.kill()  # one leaves, mid-batch: nothing flushed or committed
        left_at = time.monotonic()
        await asyncio.sleep(AFTER_S)
        sent = stream.stop()
        stopped_at = time.monotonic()

        await reach(own_database, project, sent, 240)
        recorded_after = time.monotonic() - stopped_at
        await indexed(env, sent)
        counts, logged = await recorded_once(own_database, project, sent)
        converged_after = time.monotonic() - stopped_at
        await assert_indexed_once(env, sent)
        assert changelog_seqs(env, project) >= logged  # every seq published (repeats allowed)
        replayed = metric(seconds[0], "cairn_ledger_redelivered_total")
        print("FIGURES " + json.dumps({
            "fault": "rebalance: a second ledger, indexer and validator join, the first "
                     "of each killed -9 (the ledger mid-batch)", "sent": sent,
            "recorded": counts["events"],
            "lost": sent - counts["events"], "repeated": counts["published"] - counts["events"],
            "verdicts": counts["verdicts"], "verdicts_repeated": counts["verdicts"] - sent,
            "replayed_by_survivor": replayed,
            "stream_after_leave_s": round(stopped_at - left_at, 1),
            "recorded_s": round(recorded_after, 1), "converged_s": round(converged_after, 1)}))
