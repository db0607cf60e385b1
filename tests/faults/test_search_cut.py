"""Fault 4: the indexer cut from OpenSearch while the ledger records a steady stream.

Only the indexer reaches the search engine through Toxiproxy. The cut drops every byte both
ways for CUT_S seconds, longer than the indexer's 30 s request timeout, so its own timeout
ends the wait and it tries again (backend patience None: until the engine answers); the
issue asks for 60 s, CUT_S is shorter because once a request has timed out the path is the
same. The invariant: every version in the index once, as in the ledger.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.faults import reach
from tests.faults.conftest import BehindProxy
from tests.faults.steady import assert_converged, indexed, pipeline

pytestmark = pytest.mark.faults

CUT_S = 35


async def test_indexer_cut_from_search_indexes_everything_once(
    behind_proxy: BehindProxy, own_database: str, tmp_path: Path,
) -> None:
    run = behind_proxy("os", "SEARCH_URL")
    env, project, search = run.env, run.project, run.proxy
    with pipeline(env, project, tmp_path, indexer_env={"SEARCH_URL": run.url}) as stream:
        await reach(own_database, project, 50, 120)
        await indexed(env, 50)
        search.cut()
        await asyncio.sleep(CUT_S)
        search.heal()
        healed_at = time.monotonic()
        sent = stream.stop()
        await assert_converged(f"indexer cut from OpenSearch {CUT_S} s", env, own_database,
                               project, sent, healed_at)
