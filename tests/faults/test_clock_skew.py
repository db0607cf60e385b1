"""Fault 10: producers whose clocks are 10 minutes ahead or behind.

A steady stream whose emits take turns: occurred_at now, 10 minutes ahead, 10 minutes
behind. The ledger orders by arrival (seq), never by the producer's clock: version numbers
follow seq, occurred_at is kept as the producer said it (recorded_at is the ledger's own
clock), and the invariant holds.
"""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach
from tests.faults.steady import assert_converged, pipeline

pytestmark = pytest.mark.faults

TEN_MINUTES_MS = 600_000


async def test_skewed_producer_clocks_change_no_order(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "ck", DATABASE_URL=own_database)
    with pipeline(env, project, tmp_path,
                  skews_ms=(0, TEN_MINUTES_MS, -TEN_MINUTES_MS)) as stream:
        await reach(own_database, project, 300, 180)
        sent = stream.stop()
        stopped_at = time.monotonic()
        await assert_converged("producer clocks 10 min ahead and behind", env, own_database,
                               project, sent, stopped_at)
        conn = await asyncpg.connect(own_database)
        try:
            rows = await conn.fetch(
                "SELECT a.name, v.version_number, e.seq,"
                " extract(epoch FROM e.occurred_at - e.recorded_at) AS ahead_s"
                " FROM event_log e JOIN versions v ON v.id = e.version_id"
                " JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1"
                " ORDER BY e.seq", project)
        finally:
            await conn.close()
        by_name: dict[str, list[int]] = {}
        for row in rows:
            by_name.setdefault(row["name"], []).append(row["version_number"])
        assert all(numbers == sorted(numbers) for numbers in by_name.values())  # seq order
        assert max(r["ahead_s"] for r in rows) > 500  # kept as the producer said it
        assert min(r["ahead_s"] for r in rows) < -500
