"""Configuration changes through the ledger: chained, applied once, refused with a reason."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, RegistryClient, UndecodableRecord
from cairn.core.adapters.topics import Topics
from cairn.core.domain.event_types import ConfigEvent
from cairn.core.domain.events import new_config_event
from cairn.ledger.config_changes import record_config
from cairn.readmodel.audit import verify_chain

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, read_topic, wait_recorded
from tests.processes import Service

SUB = {"team": "vision", "url": "https://hooks.example.org/cairn",
       "filter": {"projects": ["vision"], "event_types": ["Published"]}}


async def _item(db: str, kind: str, key: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(db)
    try:
        return await conn.fetchrow("SELECT * FROM config_items WHERE kind = $1 AND key = $2",
                                   kind, key)
    finally:
        await conn.close()


async def test_subscription_recorded_updated_removed_and_chained(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    key = uuid.uuid4().hex
    emitter = emitter_for(cairn_env)
    created = new_config_event("subscription", key, SUB, actor="ana", tool="test")
    changed = new_config_event("subscription", key, {**SUB, "format": "slack"}, actor="bo",
                               tool="test")
    removed = new_config_event("subscription", key, None, actor="cy", tool="test")
    for event in (created, changed):
        await emitter.emit_config_async(event)
    await emitter.emit_config_async(created)  # redelivered: must change nothing
    got = await wait_recorded(namespace.database_url, [created["event_id"], changed["event_id"]])
    assert {r["outcome"] for r in got.values()} == {"applied"}
    row = await _item(namespace.database_url, "subscription", key)
    assert row is not None and not row["removed"] and row["actor"] == "bo"
    body = json.loads(row["body"])
    assert body["format"] == "slack" and body["filter"]["projects"] == ["vision"]
    assert body["filter"]["kinds"] == []  # normalised: every filter field present
    assert row["seq"] == got[changed["event_id"]]["seq"]

    await emitter.emit_config_async(removed)
    await wait_recorded(namespace.database_url, [removed["event_id"]])
    row = await _item(namespace.database_url, "subscription", key)
    assert row is not None and row["removed"] and row["body"] is None
    conn = await asyncpg.connect(namespace.database_url)
    try:
        n = await conn.fetchval("SELECT count(*) FROM event_log WHERE artifact = $1",
                                f"subscription/{key}")
    finally:
        await conn.close()
    assert n == 3  # the redelivered copy of `created` was not recorded again
    report = await verify_chain(namespace.database_url)
    assert report.ok, report


async def test_malformed_config_is_dead_lettered_and_the_rest_goes_on(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    emitter = emitter_for(cairn_env)
    bad_url = new_config_event("subscription", uuid.uuid4().hex,
                               {**SUB, "url": "ftp://example.org/x"}, actor="ana", tool="test")
    bad_kind = new_config_event("dashboard", uuid.uuid4().hex, {"x": 1}, actor="ana",
                                tool="test")
    good = new_config_event("subscription", uuid.uuid4().hex, SUB, actor="ana", tool="test")
    for event in (bad_url, bad_kind, good):
        await emitter.emit_config_async(event)
    got = await wait_recorded(namespace.database_url,
                              [e["event_id"] for e in (bad_url, bad_kind, good)])
    assert got[bad_url["event_id"]]["reason"] == "invalid_url"
    assert got[bad_kind["event_id"]]["reason"] == "unknown_config_kind"
    assert got[good["event_id"]]["outcome"] == "applied"

    wanted = {bad_url["event_id"], bad_kind["event_id"]}
    dead_topic = Topics(namespace.topic_prefix).dead_letter("ledger")
    for _ in range(60):
        reasons = {}
        for msg in await asyncio.to_thread(read_topic, cairn_env["KAFKA_BOOTSTRAP_SERVERS"],
                                           dead_topic, 20.0):
            if msg.topic() != dead_topic or not msg.value() or msg.value()[0] != 0:
                continue
            try:
                event_id = str(emitter.config_codec.decode(msg.value())["event_id"])
            except UndecodableRecord:
                continue  # an artifact event's dead letter
            if event_id in wanted:
                headers = {k: v.decode() for k, v in (msg.headers() or [])}
                reasons[event_id] = headers.get("cairn.dlq.reason")
        if len(reasons) == 2:
            break
        await asyncio.sleep(0.5)
    assert reasons == {bad_url["event_id"]: "invalid_url",
                       bad_kind["event_id"]: "unknown_config_kind"}


async def test_two_ledgers_recording_the_same_config_batch_record_it_once(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    """A rebalance can hand one batch to two ledgers at once: the second must wait for the
    chain head, then see the first one's events as repeats (not fail on a duplicate key).
    The `ledger` fixture only migrates the database: these events never reach Kafka."""
    topic = Topics(namespace.topic_prefix).config
    codec: AvroCodec[ConfigEvent] = AvroCodec(
        RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic, schemas.CONFIG)
    pool = await asyncpg.create_pool(namespace.database_url, min_size=2, max_size=2)
    try:
        for _ in range(5):  # a race: several rounds, so the old order failed nearly always
            events = [new_config_event("subscription", uuid.uuid4().hex, SUB, actor="ana",
                                       tool="test") for _ in range(20)]
            raws = [RawRecord(None, codec.encode(e), topic, 0, n) for n, e in enumerate(events)]
            first, second = await asyncio.gather(record_config(pool, raws, codec),
                                                 record_config(pool, raws, codec))
            n = await pool.fetchval(
                "SELECT count(*) FROM event_log WHERE event_id = ANY($1::uuid[])",
                [e["event_id"] for e in events])
            assert n == len(events)
            assert sorted([len(first.recorded), len(second.recorded)]) == [0, len(events)]
            assert first.repeats + second.repeats == len(events)
            assert not first.dead + second.dead
    finally:
        await pool.close()
