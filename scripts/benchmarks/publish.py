"""Publish-path benchmark: what one SDK process gets, and how fast the ledger records.

Every figure but the two transport ones waits until the ledger recorded each version (the
SDK's own wait: inside POST /v1/artifacts?wait_ms for a publish over HTTP, POST
/v1/artifacts/batch/status for publish_many and the Kafka transport).

ledger_record_per_s: N events already in Kafka, one ledger process, from its first recorded
event to its last (PostgreSQL commit + changelog acks included); emit_prebuilt_per_s: how
fast those prebuilt, pre-encoded events were produced (a transport figure). With --verdicts
each chunk of VERDICT_CHUNK publishes is followed by a VerdictSet (seven checks) per version,
produced as the validator (its producer name), as a validator judging a changelog batch
would: the realistic mix, half the ledger's events VerdictSets.
single_http: Client.publish over the default HTTP transport, one call at a time, wait=True:
latency p50/p99 from publish() to recorded, and the rate that makes (a small file: one
request, the file inside it, cairn.sdk.inline).
threads_http: one Client shared by --threads threads, each publishing and waiting.
publish_many_http / publish_many_kafka: Client.publish_many of --many items (one small file
each) through the api and straight to Kafka, from the call to every item recorded.
sdk_kafka_emit_nowait_per_s: Client(transport="kafka").publish(wait=False), hash + blob
check/upload + produce, nothing waited for: a transport figure, not a publish rate;
sdk_kafka_publish_waited_per_s: the same, waiting for each record.

blob_transfer: one file of --blob-mb MB published (hash + upload + recorded) and pulled
(download + hash + fsync) through the SDK, MB/s each way, with the peak RSS of the api's
processes and of this (the SDK's) process during each: once over the local blob directory,
once with CAIRN_BLOB_URL on the stack's s3proxy (direct transfers: the bytes skip the api),
skipped when `scripts/stack env` names no S3 server (`scripts/stack up --s3`).

--services-from DIR runs the ledger and api of another checkout (with PYTHONPATH pointing at
its services/ the SDK is that checkout's too), for a before/after on the same machine;
figures its SDK lacks (publish_many) are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.settings import Settings
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event

from scripts.benchmarks.workspace import _processes, workspace
from tests.processes import Service


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


VERDICT_CHUNK = 100  # publishes between two bursts of VerdictSets (a validator's batch)
CHECKS = ("schema", "files", "metadata", "license", "links", "environment", "card")


def _verdict_sets(published: list[dict]) -> list[dict]:
    """A VerdictSet per published version (by digest), as the validator words one."""
    out = []
    for i, event in enumerate(published):
        body = {"version": f"sha256:{event['payload'][1]['digest']}",
                "completeness": (i % 10) / 10,
                "checks": [{"check": c, "status": "warning" if i % 7 == j else "passed",
                            "reasons": [c] if i % 7 == j else []}
                           for j, c in enumerate(CHECKS)]}
        out.append(new_event(event["artifact"], "VerdictSet", body, actor="validator",
                             tool="validator"))
    return out


def ledger_rate(n: int, services_from: Path | None, verdicts: bool = False) -> dict:
    with workspace(("ledger",), services_from=services_from) as (env, services):
        services["ledger"].stop()  # fill the topic first, then measure the ledger alone
        emitter = Emitter(Settings(**env), "bench")  # type: ignore[arg-type]
        events = _events(n, "bench")
        judge = Emitter(Settings(**env), "cairn-validator") if verdicts else None  # type: ignore[arg-type]
        sets = _verdict_sets(events) if verdicts else []
        t0 = time.perf_counter()
        if judge is None:
            emitter.emit(*events)
        else:
            for start in range(0, n, VERDICT_CHUNK):
                emitter.emit(*events[start:start + VERDICT_CHUNK])
                judge.emit(*sets[start:start + VERDICT_CHUNK])
        emit_s = time.perf_counter() - t0
        total = n + len(sets)
        services["ledger"].start()
        span, count = asyncio.run(_recorded_span(env["DATABASE_URL"], total))
        return {"ledger_events": count, "ledger_verdict_sets": len(sets),
                "ledger_record_per_s": round(count / span, 1),
                "emit_prebuilt_per_s": round(total / emit_s, 1)}


class Files:
    """Small distinct files, made before any clock starts."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cairn-bench-files-"))
        self._lock, self._n = threading.Lock(), 0

    def make(self, count: int, tag: str) -> list[str]:
        with self._lock:
            start, self._n = self._n, self._n + count
        names = []
        for i in range(start, start + count):
            name = f"{tag}-{i}.json"
            (self.root / name).write_text(json.dumps({"run": i, "loss": 1 / (i + 1)}))
            names.append(name)
        return names


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered) * 1000, 1),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "n": len(ordered)}


def _timed_publishes(client: Any, files: Files, names: list[str], project: str,
                     latencies: list[float]) -> None:
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        result = client.publish("eval_log", project, f"eval-{i % 20:02d}", [name],
                                root=files.root, wait=True)
        latencies.append(time.perf_counter() - t0)
        assert result.ref, result


def single_http(client: Any, files: Files, n: int) -> dict:
    """One call at a time over HTTP, each waiting for the record (after a few warm-ups)."""
    _timed_publishes(client, files, files.make(5, "warm"), "warm", [])
    names = files.make(n, "single")
    latencies: list[float] = []
    t0 = time.perf_counter()
    _timed_publishes(client, files, names, "single", latencies)
    return {"publish_to_recorded_ms": _ms(latencies),
            "per_s": round(n / (time.perf_counter() - t0), 1)}


def threads_http(client: Any, files: Files, n: int, threads: int) -> dict:
    """One client, `threads` threads, each publishing and waiting, n publishes in all."""
    shares = [files.make(n // threads, f"thread{t}") for t in range(threads)]
    latencies: list[float] = []
    workers = [threading.Thread(target=_timed_publishes,
                                args=(client, files, share, f"threads-{t}", latencies))
               for t, share in enumerate(shares)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done = len(latencies)
    return {"threads": threads, "per_s": round(done / (time.perf_counter() - t0), 1),
            "publish_to_recorded_ms": _ms(latencies)}


def many(make_client: Callable[[], Any], files: Files, n: int, tag: str) -> dict:
    from cairn.sdk import Item

    names = files.make(n, tag)
    items = [Item("eval_log", f"many-{tag}", f"eval-{i % 50:02d}", [name], root=files.root)
             for i, name in enumerate(names)]
    with make_client() as client:
        t0 = time.perf_counter()
        results = client.publish_many(items)
        took = time.perf_counter() - t0
    recorded = sum(r.status == "recorded" for r in results)
    assert recorded == n, {r.reason for r in results if r.status != "recorded"}
    return {"items": n, "per_s": round(n / took, 1), "seconds": round(took, 2)}


def kafka_transport(make_client: Callable[[], Any], files: Files, n: int) -> dict:
    names = files.make(n, "kafka")
    with make_client() as client:
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            client.publish("eval_log", "bench", f"eval-{i % 20:02d}", [name], root=files.root,
                           wait=False)
        nowait_s = time.perf_counter() - t0
        waited = files.make(max(1, n // 10), "kafka-waited")
        t0 = time.perf_counter()
        for name in waited:
            client.publish("eval_log", "bench", "eval-waited", [name], root=files.root,
                           wait=True)
        waited_s = time.perf_counter() - t0
    return {"sdk_events": n, "sdk_kafka_emit_nowait_per_s": round(n / nowait_s, 1),
            "sdk_kafka_publish_waited_per_s": round(len(waited) / waited_s, 1)}


def sdk_figures(args: argparse.Namespace) -> dict:
    from cairn import Client

    out: dict[str, Any] = {}
    with workspace(("ledger", "api"), services_from=args.services_from) as (env, services):
        settings = Settings(**env)  # type: ignore[arg-type]
        files = Files()

        def client(transport: str = "http") -> Any:
            return Client(api_url=services["api"].url, token=env["CAIRN_TOKEN"],
                          transport=transport, settings=settings, progress=False)

        with client() as http_client:
            if args.latency:
                out["single_http"] = single_http(http_client, files, args.latency)
            if args.threads and args.latency:
                out["threads_http"] = threads_http(http_client, files, args.latency,
                                                   args.threads)
        if args.many and hasattr(Client, "publish_many"):
            out["publish_many_http"] = many(client, files, args.many, "http")
            out["publish_many_kafka"] = many(lambda: client("kafka"), files, args.many, "kafka")
        if args.sdk_events:
            out["kafka_transport"] = kafka_transport(lambda: client("kafka"), files,
                                                     args.sdk_events)
    return out


# ---- blob transfer throughput, local directory and S3
MB = 1024 * 1024


def _peak_rss_mb(pids: list[int]) -> float:
    """Sum of the processes' peak RSS (VmHWM) since their last reset_peak."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f
                               if line.startswith("VmHWM:")), 0)
        except OSError:
            pass
    return round(total / 1024, 1)


def _reset_peak(pids: list[int]) -> None:
    """Start each process's VmHWM again from its RSS now (Linux: clear_refs 5)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def _group(svc: Service) -> list[int]:
    assert svc.proc is not None
    return [pid for pid, pgrp, _, _ in _processes() if pgrp == svc.proc.pid]


def _big_file(mb: int) -> Path:
    """`mb` MB of random bytes (written before any clock starts)."""
    path = Path(tempfile.mkdtemp(prefix="cairn-bench-blob-")) / "blob.bin"
    with path.open("wb") as out:
        for _ in range(mb):
            out.write(os.urandom(MB))
    return path


def _transfer(api: Service, env: dict[str, str], path: Path, mb: int) -> dict:
    from cairn import Client

    api_pids, me = _group(api), [os.getpid()]
    out: dict[str, Any] = {"mb": mb}
    settings = Settings(**env)  # type: ignore[arg-type]
    with Client(api_url=api.url, token=env["CAIRN_TOKEN"], settings=settings,
                progress=False) as client:
        _reset_peak(api_pids + me)
        t0 = time.perf_counter()
        result = client.publish("dataset", "bench-blobs", f"blob-{uuid.uuid4().hex[:8]}",
                                [path.name], root=path.parent, wait=True)
        took = time.perf_counter() - t0
        out["upload"] = {"mb_per_s": round(mb / took, 1), "seconds": round(took, 2),
                         "api_peak_rss_mb": _peak_rss_mb(api_pids),
                         "sdk_peak_rss_mb": _peak_rss_mb(me)}
        dest = Path(tempfile.mkdtemp(prefix="cairn-bench-pull-"))
        _reset_peak(api_pids + me)
        t0 = time.perf_counter()
        [pulled] = client.pull(result.ref, dest)
        took = time.perf_counter() - t0
        out["download"] = {"mb_per_s": round(mb / took, 1), "seconds": round(took, 2),
                           "api_peak_rss_mb": _peak_rss_mb(api_pids),
                           "sdk_peak_rss_mb": _peak_rss_mb(me)}
        assert pulled.stat().st_size == path.stat().st_size
        shutil.rmtree(dest)
    return out


def blob_figures(mb: int, services_from: Path | None) -> dict:
    """blob_transfer over the local directory, then over the stack's S3 server."""
    from cairn.core.adapters.s3_blobstore import S3BlobStore

    from tests.s3_server import S3_VARIABLES, empty, fresh_url, s3_config, s3_env

    path = _big_file(mb)
    out: dict[str, Any] = {}
    try:
        with workspace(("ledger",), services_from=services_from) as (env, _):
            spawned = env if services_from is None else {
                **env, "PYTHONPATH": str(services_from.resolve() / "services")}
            logs = Path(tempfile.mkdtemp(prefix="cairn-bench-logs-"))
            api = Service("api", spawned, logs).start()
            try:
                out["local"] = _transfer(api, env, path, mb)
            finally:
                api.stop()
                shutil.rmtree(env["CAIRN_BLOB_DIR"], ignore_errors=True)  # --blob-mb of it
            s3 = s3_env()
            if not s3:
                out["s3"] = {"skipped": "no S3 server: `scripts/stack up --s3`"}
                return out
            url = fresh_url(s3, "bench")
            api = Service("api", {**spawned, **{k: s3[k] for k in S3_VARIABLES if k in s3},
                                  "CAIRN_BLOB_URL": url}, logs).start()
            try:
                out["s3"] = {"blob_url": url, **_transfer(api, env, path, mb)}
            finally:
                api.stop()
                empty(S3BlobStore(url, s3_config(s3)))
    finally:
        shutil.rmtree(path.parent)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench publish")
    parser.add_argument("--events", type=int, default=10_000, help="events for the ledger rate")
    parser.add_argument("--verdicts", action="store_true",
                        help="the ledger rate's events: a VerdictSet after each publish")
    parser.add_argument("--sdk-events", type=int, default=1_000,
                        help="publishes for the Kafka transport figures")
    parser.add_argument("--latency", type=int, default=200,
                        help="single publishes over HTTP for the latency (0: none)")
    parser.add_argument("--threads", type=int, default=8,
                        help="threads sharing one client for threads_http (0: none)")
    parser.add_argument("--many", type=int, default=5_000,
                        help="items for each publish_many figure (0: none)")
    parser.add_argument("--blob-mb", type=int, default=256,
                        help="MB of the file published and pulled on each blob store (0: none)")
    parser.add_argument("--services-from", type=Path, default=None,
                        help="run the ledger and api of this checkout (git worktree add DIR REV)")
    args = parser.parse_args()
    load = os.getloadavg()
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "load_at_start": [round(x, 2) for x in load]}
    result: dict[str, Any] = {"benchmark": "publish", "machine": machine,
                              "services_from": str(args.services_from or "this checkout")}
    if args.events:
        result.update(ledger_rate(args.events, args.services_from, args.verdicts))
    result.update(sdk_figures(args))
    if args.blob_mb:
        result["blob_transfer"] = blob_figures(args.blob_mb, args.services_from)
    result["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
