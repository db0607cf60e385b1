"""`cairn lag` reads real consumer groups: the ledger's catches up to what was published."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cairn.core.adapters.lag import consumer_lag
from cairn.core.adapters.topics import Topics

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service


async def test_ledger_lag_reaches_zero_and_the_cli_shows_it(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    events = [publish_event(f"lag{i}", "corpus", "dataset") for i in range(5)]
    emitter_for(cairn_env).emit(*events)
    await wait_recorded(namespace.database_url, [e["event_id"] for e in events])
    group, topic = f"{namespace.topic_prefix}cairn-ledger", Topics(namespace.topic_prefix).events
    deadline = time.monotonic() + 30
    while True:  # offsets are committed every second after the batch is done
        rows = {(r.group, r.topic): r for r in await asyncio.to_thread(
            consumer_lag, cairn_env["KAFKA_BOOTSTRAP_SERVERS"], namespace.topic_prefix)}
        row = rows.get((group, topic))
        if row is not None and row.behind == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert row is not None and row.behind == 0 and row.end >= len(events)
    assert all(g.startswith(namespace.topic_prefix) for g, _ in rows)  # only this deployment

    out = await asyncio.to_thread(
        subprocess.run, [str(Path(sys.executable).parent / "cairn"), "lag", "--json"],
        env={**os.environ, **cairn_env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = {(r["group"], r["topic"]): r for r in json.loads(out.stdout)}
    assert listed[(group, topic)]["end"] >= len(events)
