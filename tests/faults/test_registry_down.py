"""Fault 5: the schema registry down while the services start, and again while they run.

Every Cairn client reaches the registry through Toxiproxy, refused (connections refused)
for DOWN_S seconds each time. At start-up the ledger and indexer retry their schema
registrations (up to 60 s) and become ready once it answers. While they run they need it only
for a schema id they have not seen (ids are cached), so a producer that starts during the
outage waits in its first registration and sends once the registry is back. The invariant
covers the events of both streams.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.faults import reach
from tests.faults.conftest import BehindProxy
from tests.faults.steady import SteadyStream, assert_converged
from tests.processes import Service
from tests.search_helpers import drop_indices

pytestmark = pytest.mark.faults

DOWN_S = 10


async def test_registry_down_at_start_and_while_running_loses_nothing(
    behind_proxy: BehindProxy, own_database: str, tmp_path: Path,
) -> None:
    run = behind_proxy("sr", "SCHEMA_REGISTRY_URL")
    env, project, registry = run.env, run.project, run.proxy
    env["SCHEMA_REGISTRY_URL"] = run.url
    ledger, indexer = Service("ledger", env, tmp_path), Service("indexer", env, tmp_path)
    streams: list[SteadyStream] = []
    try:
        registry.refuse()
        starting = asyncio.gather(asyncio.to_thread(ledger.start),
                                  asyncio.to_thread(indexer.start))
        await asyncio.sleep(DOWN_S)
        assert ledger.proc is not None and ledger.proc.poll() is None, "the ledger gave up"
        registry.heal()
        await starting  # both ready once the registry answers

        streams.append(SteadyStream(env, project).start())
        await reach(own_database, project, 50, 120)
        registry.refuse()
        streams.append(SteadyStream(env, project).start())  # waits for the registry
        await asyncio.sleep(DOWN_S)
        assert streams[1].sent == 0, "a new producer cannot encode without the registry"
        registry.heal()
        healed_at = time.monotonic()
        await asyncio.sleep(2)
        sent = sum(s.stop() for s in streams)
        await assert_converged(f"registry down {DOWN_S} s at start and {DOWN_S} s running",
                               env, own_database, project, sent, healed_at)
    finally:
        registry.heal()
        for stream in streams:
            stream.stop()
        indexer.stop()
        ledger.stop()
        drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
