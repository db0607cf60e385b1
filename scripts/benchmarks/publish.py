"""Publish-path benchmark: how fast one SDK process emits, how fast the ledger records.

ledger_record_per_s: N events already in Kafka, one ledger process, from its first recorded
event to its last (PostgreSQL commit + changelog acks included).
sdk_publish_per_s: one process calling Client.publish (hash, blob check/upload, emit) with
wait=False, over the api's blob endpoints and Kafka; sdk_publish_waited_per_s waits for the
ledger on each call, as a notebook user would.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.settings import Settings
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event

from scripts.benchmarks.workspace import workspace


def _events(n: int, project: str) -> list[dict]:
    out = []
    for i in range(n):
        content = uuid.uuid4().bytes
        digest = hashlib.sha256(content).hexdigest()
        body = payloads.published(
            kind="model", project=project, name=f"model-{i % 100:03d}",
            files=[{"path": "weights.bin", "size": 16, "sha256": digest}],
            metadata_={"creator": "bench", "metrics": {"accuracy": 0.5 + (i % 50) / 100},
                       "params": {"lr": 0.001, "epochs": 10}, "tags": ["bench"]},
        )
        out.append(new_event(f"{project}/model-{i % 100:03d}", "Published", body,
                             actor="bench", tool="bench"))
    return out


async def _recorded_span(database_url: str, n: int, patience_s: float = 600
                         ) -> tuple[float, int]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + patience_s
        while time.monotonic() < deadline:
            count = await conn.fetchval("SELECT count(*) FROM event_log")
            if count >= n:
                break
            await asyncio.sleep(0.2)
        first, last = await conn.fetchrow(
            "SELECT min(recorded_at), max(recorded_at) FROM event_log")
        return (last - first).total_seconds(), int(count)
    finally:
        await conn.close()


def ledger_rate(n: int) -> dict:
    with workspace(("ledger",)) as (env, services):
        services["ledger"].stop()  # fill the topic first, then measure the ledger alone
        emitter = Emitter(Settings(**env), "bench")  # type: ignore[arg-type]
        events = _events(n, "bench")
        t0 = time.perf_counter()
        emitter.emit(*events)
        emit_s = time.perf_counter() - t0
        services["ledger"].start()
        span, count = asyncio.run(_recorded_span(env["DATABASE_URL"], n))
        return {"ledger_events": count, "ledger_record_per_s": round(count / span, 1),
                "emit_prebuilt_per_s": round(n / emit_s, 1)}


def sdk_rate(n: int) -> dict:
    from cairn import Client

    with workspace(("ledger", "api")) as (env, services):
        client = Client(api_url=services["api"].url, token=env["CAIRN_TOKEN"], transport="kafka",
                        settings=Settings(**env))  # type: ignore[arg-type]
        work = Path(tempfile.mkdtemp(prefix="cairn-bench-files-"))
        files = []
        for i in range(n):
            f = work / f"metrics-{i}.json"
            f.write_text(json.dumps({"run": i, "loss": 1 / (i + 1)}))
            files.append(f)
        t0 = time.perf_counter()
        for i, f in enumerate(files):
            client.publish("eval_log", "bench", f"eval-{i % 20:02d}", [f], root=work, wait=False)
        nowait_s = time.perf_counter() - t0
        waited = max(1, n // 10)
        t0 = time.perf_counter()
        for i in range(waited):
            f = work / f"waited-{i}.json"
            f.write_text(json.dumps({"waited": i}))
            client.publish("eval_log", "bench", "eval-waited", [f], root=work, wait=True)
        waited_s = time.perf_counter() - t0
        return {"sdk_events": n, "sdk_publish_per_s": round(n / nowait_s, 1),
                "sdk_publish_waited_per_s": round(waited / waited_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench publish")
    parser.add_argument("--events", type=int, default=10_000, help="events for the ledger rate")
    parser.add_argument("--sdk-events", type=int, default=1_000, help="publishes for the SDK rate")
    args = parser.parse_args()
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform()}
    result = {"benchmark": "publish", "machine": machine}
    if args.events:
        result.update(ledger_rate(args.events))
    if args.sdk_events:
        result.update(sdk_rate(args.sdk_events))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
