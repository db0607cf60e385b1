"""A batch whose partitions interleave publishes and verdict sets is recorded in few long
set-based runs (ledger/runs.py), each partition's events in their order, with the same
results as the per-event path, on the real PostgreSQL and registry.

Without runs.in_runs the batch below is 10 runs as it arrived (10 calls of the set-based
recorders); with it, 4."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.domain.event_types import ArtifactEvent
from cairn.core.domain.events import payload_of
from cairn.core.domain.identity import KINDS
from cairn.ledger import batch as ledger_batch
from cairn.ledger.batch import BatchResult

from tests.conftest import Namespace
from tests.integration.test_ledger_set_based import (
    _audit_verify,
    _changelog,
    _judged,
    _pub,
    _tables,
)
from tests.integration.test_ledger_set_based import databases as databases  # fixture

NAMES = ("ra", "rb", "rc")  # one artifact per partition
ROUNDS = 2  # per artifact: publish, judge, publish, judge


def _partition(name: str) -> list[dict[str, Any]]:
    out = []
    for n in range(1, ROUNDS + 1):
        out += [_pub(name, f"{name}{n}"), _judged(name, f"v{n}", n / 10, schema="passed")]
    return out


Streams = dict[int, list[dict[str, Any]]]  # partition -> its events, offset = index


def _interleaved() -> tuple[list[tuple[int, int]], Streams]:
    """(partition, offset) in arrival order: partition p's events start p steps late, so
    the batch keeps changing types."""
    streams = {p: _partition(name) for p, name in enumerate(NAMES)}
    length = len(streams[0])
    order = [(p, k - p) for k in range(length + len(NAMES)) for p in range(len(NAMES))
             if 0 <= k - p < length]
    return order, streams


async def test_interleaved_partitions_are_recorded_in_few_runs_in_partition_order(
    databases: tuple[str, str], namespace: Namespace, cairn_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codec = AvroCodec[ArtifactEvent](RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]),
                                     f"{namespace.topic_prefix}runs.events", schemas.EVENT)
    order, streams = _interleaved()
    raws = [RawRecord(streams[p][i]["artifact"].encode(), codec.encode(streams[p][i]), "t", p,
                      i) for p, i in order]
    types = [payload_of(streams[p][i])[0] for p, i in order]
    assert sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1]) == 10  # arrived

    runs: list[tuple[str, int]] = []
    for kind, bulk in list(ledger_batch.SET_BASED.items()):
        async def spied(conn: Any, run: Any, *args: Any, _kind: str = kind,
                        _bulk: Any = bulk) -> Any:
            runs.append((_kind, len(run)))
            return await _bulk(conn, run, *args)
        monkeypatch.setitem(ledger_batch.SET_BASED, kind, spied)

    fast_db, slow_db = databases
    results: dict[str, list[BatchResult]] = {}
    for url, set_based in ((fast_db, True), (slow_db, False)):
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            results[url] = [await ledger_batch.record_batch(pool, raws, codec, KINDS,
                                                            set_based=set_based)]
        finally:
            await pool.close()
    assert runs == [("Published", 3), ("VerdictSet", 3), ("Published", 3), ("VerdictSet", 3)]

    (fast,) = results[fast_db]
    by_artifact: dict[str, list[tuple[str, int, str]]] = {}
    for r in fast.recorded:
        by_artifact.setdefault(r["event"]["artifact"], []).append(
            (payload_of(r["event"])[0].rsplit(".", 1)[-1], r["state"]["version_number"],
             r["state"]["validation"]))
    for name in NAMES:  # each partition's events in its order, each set after its version
        assert [str(r["event"]["event_id"]) for r in fast.recorded
                if r["event"]["artifact"].endswith(f"/{name}")] == [
            str(e["event_id"]) for e in streams[NAMES.index(name)]]
    assert [r["seq"] for r in fast.recorded] == sorted(r["seq"] for r in fast.recorded)
    assert {a: [v[:2] for v in vs] for a, vs in by_artifact.items()} == {
        a: [("Published", 1), ("VerdictSet", 1), ("Published", 2), ("VerdictSet", 2)]
        for a in by_artifact}
    assert _changelog(results[fast_db]) == _changelog(results[slow_db])
    assert await _tables(fast_db) == await _tables(slow_db)
    cli = _audit_verify(fast_db)
    assert cli.returncode == 0, cli.stdout + cli.stderr

