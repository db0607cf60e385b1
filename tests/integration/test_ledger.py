"""The ledger on the real stack: versions, dedupe, links, dead letters, the hash chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from cairn.core.adapters.topics import Topics
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event
from cairn.readmodel.audit import verify_chain

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, fake_file, publish_event, wait_recorded
from tests.processes import Service


def _audit_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify"],
                          env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=60)


def _project() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


async def _version(db: str, artifact: str, number: int) -> asyncpg.Record:
    conn = await asyncpg.connect(db)
    try:
        project, name = artifact.split("/")
        return await conn.fetchrow(
            "SELECT v.* FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1 AND a.name = $2 AND v.version_number = $3",
            project, name, number)
    finally:
        await conn.close()


async def test_lineage_chain_gets_versions_and_links(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = _project()
    emitter = emitter_for(cairn_env)
    data = publish_event(p, "imagenet-mini", "dataset")
    model = publish_event(p, "resnet50", "model", links=[
        {"relation": "trained_on", "target": f"{p}/imagenet-mini@v1"}])
    evaluation = publish_event(p, "resnet50-eval", "eval_log", links=[
        {"relation": "evaluates", "target": f"{p}/resnet50:latest"}])
    emitter.emit(data, model, evaluation)
    got = await wait_recorded(namespace.database_url,
                              [e["event_id"] for e in (data, model, evaluation)])
    assert [got[e["event_id"]]["outcome"] for e in (data, model, evaluation)] == ["applied"] * 3
    conn = await asyncpg.connect(namespace.database_url)
    try:
        links = await conn.fetch(
            "SELECT l.relation, tv.version_number, ta.name AS target FROM links l"
            " JOIN versions tv ON tv.id = l.target_version_id"
            " JOIN artifacts ta ON ta.id = tv.artifact_id"
            " WHERE ta.project = $1 ORDER BY l.relation", p)
    finally:
        await conn.close()
    assert [(r["relation"], r["target"], r["version_number"]) for r in links] == [
        ("evaluates", "resnet50", 1), ("trained_on", "imagenet-mini", 1)]


async def test_same_content_is_one_version_and_redelivery_is_a_no_op(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = _project()
    emitter = emitter_for(cairn_env)
    first = publish_event(p, "squad", content=b"same bytes")
    again = publish_event(p, "squad", content=b"same bytes")  # new event id, same content
    other = publish_event(p, "squad", content=b"other bytes")
    emitter.emit(first, first, again, other)  # `first` delivered twice
    got = await wait_recorded(namespace.database_url,
                              [first["event_id"], again["event_id"], other["event_id"]])
    assert got[first["event_id"]]["outcome"] == "applied"
    assert got[again["event_id"]]["outcome"] == "duplicate"
    assert got[again["event_id"]]["version_id"] == got[first["event_id"]]["version_id"]
    assert (await _version(namespace.database_url, f"{p}/squad", 2))["digest"] == \
        other["payload"][1]["digest"]
    conn = await asyncpg.connect(namespace.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM event_log WHERE event_id = $1",
                                   uuid.UUID(first["event_id"])) == 1
    finally:
        await conn.close()


async def test_link_to_unknown_target_resolves_when_it_arrives(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = _project()
    emitter = emitter_for(cairn_env)
    model = publish_event(p, "bert", "model", links=[
        {"relation": "trained_on", "target": f"{p}/wiki@v1"}])
    emitter.emit(model)
    await wait_recorded(namespace.database_url, [model["event_id"]])
    query = ("SELECT l.target_version_id FROM links l"
             " JOIN versions v ON v.id = l.source_version_id"
             " JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1 AND a.name = 'bert'")
    conn = await asyncpg.connect(namespace.database_url)
    try:
        assert await conn.fetchval(query, p) is None
        data = publish_event(p, "wiki", "dataset")
        emitter.emit(data)
        await wait_recorded(namespace.database_url, [data["event_id"]])
        wiki_v1 = await _version(namespace.database_url, f"{p}/wiki", 1)
        assert await conn.fetchval(query, p) == wiki_v1["id"]
    finally:
        await conn.close()


async def test_bad_input_is_dead_lettered_and_the_pipeline_goes_on(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = _project()
    emitter = emitter_for(cairn_env)
    topics = Topics(namespace.topic_prefix)
    # Bypass the producer-side checks: a path escaping the artifact root, straight to Kafka.
    evil = publish_event(p, "evil", content=b"x")
    evil["payload"][1]["files"][0]["path"] = "../../etc/passwd"
    stage_of_nothing = new_event(f"{p}/ghost", "StageChanged",
                                 {"version": "v1", "stage": "production"},
                                 actor="tester", tool="test")
    good = publish_event(p, "fine")
    emitter.producer.produce(topics.events, key=b"x/y", value=b"\x00garbage")
    emitter.emit(evil, stage_of_nothing, good)
    got = await wait_recorded(namespace.database_url,
                              [evil["event_id"], stage_of_nothing["event_id"], good["event_id"]])
    assert got[evil["event_id"]]["reason"] == "path_traversal"
    assert got[stage_of_nothing["event_id"]]["reason"] == "unknown_artifact"
    assert got[good["event_id"]]["outcome"] == "applied"

    consumer = AIOKafkaConsumer(topics.dead_letter("ledger"),
                                bootstrap_servers=cairn_env["KAFKA_BOOTSTRAP_SERVERS"],
                                auto_offset_reset="earliest", consumer_timeout_ms=2000)
    await consumer.start()
    try:
        reasons: set[str] = set()
        batches = await consumer.getmany(timeout_ms=5000)
        for records in batches.values():
            for r in records:
                reasons.add(dict(r.headers)["cairn.dlq.reason"].decode())
    finally:
        await consumer.stop()
    assert {"undecodable", "path_traversal", "unknown_artifact"} <= reasons


async def test_hash_chain_verifies_and_detects_tampering(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    emitter = emitter_for(cairn_env)
    e = publish_event(_project(), "chain")
    emitter.emit(e)
    await wait_recorded(namespace.database_url, [e["event_id"]])
    assert (await verify_chain(namespace.database_url)).ok
    assert _audit_cli(namespace.database_url).returncode == 0
    conn = await asyncpg.connect(namespace.database_url)
    try:
        seq = await conn.fetchval("SELECT seq FROM event_log WHERE event_id = $1",
                                  uuid.UUID(e["event_id"]))
        original = await conn.fetchval("SELECT actor FROM event_log WHERE seq = $1", seq)
        await conn.execute(
            "UPDATE event_log SET event = jsonb_set(event, '{actor}', $2::jsonb) WHERE seq = $1",
            seq, json.dumps("mallory"))
        report = await verify_chain(namespace.database_url)
        assert not report.ok and report.first_bad_seq == seq
        cli = _audit_cli(namespace.database_url)
        assert cli.returncode == 1 and f"at seq {seq}" in cli.stderr
        await conn.execute(
            "UPDATE event_log SET event = jsonb_set(event, '{actor}', $2::jsonb) WHERE seq = $1",
            seq, json.dumps(original))
        assert (await verify_chain(namespace.database_url)).ok
    finally:
        await conn.close()


async def test_audit_verify_names_a_row_whose_state_or_version_id_was_edited(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    """Format 2 rows hash state and version_id too; numbers jsonb rewrites (1e20, -0.0) still
    verify."""
    p = _project()
    first = publish_event(p, "snap")
    body = payloads.published(
        kind="dataset", project=p, name="snap", files=[fake_file("x.bin", uuid.uuid4().bytes)],
        metadata_={"creator": "tester", "metrics": {"huge": 1e20, "signed_zero": -0.0}})
    second = new_event(f"{p}/snap", "Published", body, actor="tester", tool="test")
    emitter = emitter_for(cairn_env)
    emitter.emit(first, second)
    got = await wait_recorded(namespace.database_url, [first["event_id"], second["event_id"]])
    seq, other = got[second["event_id"]]["seq"], got[first["event_id"]]["version_id"]
    assert (await verify_chain(namespace.database_url)).ok
    conn = await asyncpg.connect(namespace.database_url)
    try:
        row = await conn.fetchrow("SELECT state, version_id, chain_version FROM event_log"
                                  " WHERE seq = $1", seq)
        assert row["chain_version"] == 2
        edits = {
            "state": ("UPDATE event_log SET state = jsonb_set(state, '{status}', '\"deleted\"')"
                      " WHERE seq = $1", ()),
            "version_id": ("UPDATE event_log SET version_id = $2 WHERE seq = $1", (other,)),
        }
        for column, (sql, args) in edits.items():
            await conn.execute(sql, seq, *args)
            try:
                report = await verify_chain(namespace.database_url)
                assert not report.ok and report.first_bad_seq == seq, (column, report)
                cli = _audit_cli(namespace.database_url)
                assert cli.returncode == 1 and f"at seq {seq}" in cli.stderr, (column, cli.stderr)
            finally:
                await conn.execute("UPDATE event_log SET state = $2::jsonb, version_id = $3"
                                   " WHERE seq = $1", seq, row["state"], row["version_id"])
        assert (await verify_chain(namespace.database_url)).ok
    finally:
        await conn.close()
