"""Helpers for tests of the search path: wait for the index to catch up, read it, clean up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
from cairn.readmodel import index_rows
from cairn.search.backend import SearchBackend, alias_name, backend_for
from cairn.search.documents import version_document
from confluent_kafka import Consumer, TopicPartition

from tests.ledger_helpers import settings_for


def backend_of(env: dict[str, str]) -> tuple[SearchBackend, str]:
    settings = settings_for(env)
    return backend_for(settings, patience=30.0), alias_name(settings)


def drop_indices(search_url: str, prefix: str) -> None:
    """Delete this run's indices (by name: engines may refuse wildcard deletes)."""
    reply = httpx.get(f"{search_url}/_cat/indices/{prefix}-*", params={"format": "json",
                                                                      "h": "index"}, timeout=30)
    for row in reply.json() if reply.status_code == 200 else []:
        httpx.delete(f"{search_url}/{row['index']}", timeout=60)


async def _ledger_fingerprint(database_url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT count(*) AS n, coalesce(sum(updated_seq), 0) AS s,"
                                  " (SELECT count(*) FROM aliases) AS a FROM versions")
        return int(row["n"]), int(row["s"]), int(row["a"])
    finally:
        await conn.close()


async def _index_fingerprint(backend: SearchBackend, alias: str) -> tuple[int, int, int]:
    reply = await backend.search(alias, {"size": 0, "track_total_hits": True, "aggs": {
        "seq": {"sum": {"field": "seq"}}, "aliases": {"value_count": {"field": "aliases"}}}})
    aggs = reply["aggregations"]
    return (reply["hits"]["total"]["value"], int(aggs["seq"]["value"]),
            int(aggs["aliases"]["value"]))


async def wait_index_matches_ledger(backend: SearchBackend, alias: str, database_url: str,
                                    patience: float = 180.0) -> float:
    """Until the index has every version of the ledger at its latest updated_seq, and as
    many alias assignments: seconds waited. Sums are exact for these magnitudes."""
    started = time.monotonic()
    while True:
        want = await _ledger_fingerprint(database_url)
        try:
            got = await _index_fingerprint(backend, alias)
        except LookupError:
            got = (0, 0, 0)
        if got == want:
            return time.monotonic() - started
        if time.monotonic() - started > patience:
            raise AssertionError(f"index (versions, seq sum, aliases) {got} != ledger {want}")
        await asyncio.sleep(0.5)


async def ledger_documents(database_url: str, artifacts: list[str] | None = None
                           ) -> dict[str, dict[str, Any]]:
    """doc id → the document the ledger's current state makes (optionally some artifacts)."""
    conn = await asyncpg.connect(database_url)
    try:
        sql = "SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
        rows = await (conn.fetch(sql + " WHERE a.project || '/' || a.name = ANY($1)", artifacts)
                      if artifacts is not None else conn.fetch(sql))
        states = await index_rows.states(conn, [r["id"] for r in rows])
    finally:
        await conn.close()
    return dict(version_document(state, usage) for state, usage in states)


async def index_documents(backend: SearchBackend, alias: str, artifacts: list[str]
                          ) -> dict[str, dict[str, Any]]:
    reply = await backend.search(alias, {"size": 10_000, "query": {"terms": {
        "artifact": artifacts}}})
    return {h["_id"]: {k: v for k, v in h["_source"].items() if k != "as_of"}
            for h in reply["hits"]["hits"]}  # as_of: the merge's bookkeeping, not the version


def consumer_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` the consumer group has not committed yet."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        lag = 0
        for tp in committed:
            end = consumer.get_watermark_offsets(tp, timeout=10)[1]
            lag += end - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


async def wait_consumed(bootstrap: str, group: str, topic: str, patience: float = 120.0
                        ) -> None:
    deadline = time.monotonic() + patience
    while (lag := await asyncio.to_thread(consumer_lag, bootstrap, group, topic)) > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{group} still has {lag} records of {topic} to consume")
        await asyncio.sleep(0.5)
