"""Fault 2b: the ledger's PostgreSQL link left half-open by a partition (no reset, ever).

The ledger reaches its database only through Toxiproxy. While a steady stream publishes,
the proxy drops every byte both ways for CUT_S seconds (Toxiproxy's `timeout` toxic with
timeout 0: nothing answers, nothing closes), longer than the ledger's statement bound
(CAIRN_PG_COMMAND_TIMEOUT, set to BOUND_S here; 30 s by default). Then the route comes back
but, as after a real partition, the links that lived through it are not reset: what was
dropped stays dropped, so a statement sent during the cut is answered never (`reopen()`; the
toxics' removal would close those links, and so rescue even a ledger with no bound, which is
why test_postgres_faults cannot show this). Only the ledger's own bound ends the wait: the
batch is rolled back, its connection closed, and the batch redone on a new one. The
invariant (every event recorded once, chain, changelog, index) is checked while the stale
links are still open; without the bound the ledger waits on one of them for good and the
check runs out of time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.faults import reach
from tests.faults.conftest import BehindProxy
from tests.faults.steady import assert_converged, pipeline

pytestmark = pytest.mark.faults

BOUND_S = 3
CUT_S = 10


async def test_ledger_on_a_half_open_postgres_link_records_everything_once(
    behind_proxy: BehindProxy, own_database: str, tmp_path: Path,
) -> None:
    run = behind_proxy("pgho", "DATABASE_URL", CAIRN_PG_COMMAND_TIMEOUT=str(BOUND_S))
    env = {**run.env, "DATABASE_URL": run.url}
    with pipeline(env, run.project, tmp_path) as stream:
        await reach(own_database, run.project, 50, 120)
        run.proxy.cut()
        await asyncio.sleep(CUT_S)
        run.proxy.reopen()  # the stale links stay open (and dead) until the test ends
        healed_at = time.monotonic()
        await asyncio.sleep(2)
        sent = stream.stop()
        await assert_converged(f"postgres half-open {CUT_S} s, bound {BOUND_S} s", env,
                               own_database, run.project, sent, healed_at)
