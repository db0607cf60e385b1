"""The ledger cuts a batch once no event came for a millisecond (cairn.ledger.intake), not only
when its window (CAIRN_LEDGER_BATCH_WINDOW_MS) ends: with a ten-minute window, a lone event
and then a burst are still recorded, each as soon as the stream goes quiet. faust's
take_events held them for the whole window. A private namespace: this ledger is its only one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import endpoints as discovery
from tests.conftest import Namespace, private_namespace, service_env
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service

TEN_MINUTES_MS = "600000"
PATIENCE_S = 90.0  # far below the window: only the idle cut records the events in time


@pytest.fixture(scope="module")
def world(endpoints: discovery.Endpoints, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Namespace, dict[str, str]]]:
    with private_namespace(endpoints) as ns:
        env = {**service_env(endpoints, ns, tmp_path_factory.mktemp("blobs")),
               "CAIRN_LEDGER_BATCH_WINDOW_MS": TEN_MINUTES_MS}
        ledger = Service("ledger", env, tmp_path_factory.mktemp("logs")).start()
        try:
            yield ns, env
        finally:
            ledger.stop()


def test_a_lone_event_and_a_burst_are_recorded_without_waiting_out_the_window(
        world: tuple[Namespace, dict[str, str]], tmp_path: Path) -> None:
    ns, env = world
    emitter = emitter_for(env)
    try:
        lone = publish_event("intake", "lone")
        emitter.emit(lone)
        got = asyncio.run(wait_recorded(ns.database_url, [lone["event_id"]], PATIENCE_S))
        assert len(got) == 1, "the lone event waited for the batch window"
        burst = [publish_event("intake", f"burst-{i % 5}") for i in range(300)]
        emitter.emit(*burst)
        ids = [e["event_id"] for e in burst]
        got = asyncio.run(wait_recorded(ns.database_url, ids, PATIENCE_S))
        assert len(got) == len(ids)
        assert {row["outcome"] for row in got.values()} == {"applied"}
    finally:
        emitter.close()
