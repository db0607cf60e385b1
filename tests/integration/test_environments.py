"""Environments stored once, by digest (issue 11, a lean changelog), on the real stack.

Two versions made in one 150-package environment: one `environments` row, the first
changelog record carries the environment whole and the second only its digest (the states
and the Published event on the changelog carry its summary, no packages); the api's version
detail still shows it whole; GET /v1/environments/{digest} answers it with how many versions
use it (404 environment_not_found for one only a private project hidden from the caller
uses); search filters and counts by it. And the upgrade: a database whose event_log was
written with environments inside every state gets its digests backfilled by migration 0011,
`cairn audit verify` passes over the old rows and new ones, and a later publish in a
backfilled environment does not store it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic import command
from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.topics import Topics
from cairn.core.domain import payloads
from cairn.core.domain.environments import environment_digest
from cairn.core.domain.event_types import ArtifactEvent, RecordedEvent
from cairn.core.domain.events import new_event
from cairn.core.domain.identity import KINDS
from cairn.ledger.batch import record_batch
from cairn.ledger.entries import log_entry
from cairn.ledger.migrate import alembic_config, upgrade

from tests.conftest import API_TOKEN, Namespace, _with_database, admin_sql
from tests.ledger_helpers import emit_recorded, fake_file, read_topic
from tests.processes import Service
from tests.search_helpers import backend_of, wait_index_matches_ledger


def _environment(tag: str, packages: int = 150) -> dict[str, Any]:
    """An SDK-like capture: 150 packages is ~6-10 KB of JSON."""
    return dict(payloads.environment({
        "python": "3.11.9", "os": "Linux-6.1.0-x86_64-with-glibc2.36", "cpu": "x86_64",
        "hostname": f"trainer-{tag}", "git_commit": "a" * 40, "git_dirty": False,
        "packages": {f"package-{tag}-{i:03d}": f"{i % 9}.{i % 13}.{i % 5}"
                     for i in range(packages)}}))


def _published(project: str, name: str, environment: dict[str, Any]) -> dict[str, Any]:
    body = payloads.published(kind="model", project=project, name=name,
                              files=[fake_file("w.bin", uuid.uuid4().bytes)],
                              metadata_={"creator": "ada"}, environment=environment)
    return dict(new_event(f"{project}/{name}", "Published", body, actor="ada", tool="test"))


def _whole(record: RecordedEvent, environment: dict[str, Any]) -> dict[str, Any]:
    """The record as the ledger sent it before environments were stored once: the whole
    environment in every state and in the Published event, no digest, no `environment`."""
    def state(s: Any) -> dict[str, Any]:
        out = {**s, "content": {**s["content"], "environment": environment}}
        out.pop("environment_digest", None)
        return out
    name, body = record["event"]["payload"]
    return {**record, "event": {**record["event"], "payload": (
                name, {**body, "environment": environment})},
            "state": state(record["state"]), "environment": None,
            "alias_losers": [state(s) for s in record["alias_losers"]],
            "link_targets": [state(s) for s in record["link_targets"]]}


async def test_one_environment_is_stored_once_and_sent_once(
    indexer: Service, api: Service, cairn_env: dict[str, str], namespace: Namespace,
) -> None:
    p = f"env{uuid.uuid4().hex[:8]}"
    shared, other = _environment("a"), _environment("b", 3)
    events = [_published(p, "m", shared), _published(p, "m", shared),
              _published(p, "other", other)]
    got = await emit_recorded(cairn_env, namespace.database_url, events)
    assert [got[e["event_id"]]["outcome"] for e in events] == ["applied"] * 3
    digest = environment_digest(shared)

    conn = await asyncpg.connect(namespace.database_url)
    try:
        rows = await conn.fetch("SELECT digest, body, first_seq FROM environments"
                                " WHERE digest = ANY($1::text[])",
                                [digest, environment_digest(other)])
        used = await conn.fetch(
            "SELECT v.version_number, v.environment_digest FROM versions v JOIN artifacts a"
            " ON a.id = v.artifact_id WHERE a.project = $1 AND a.name = 'm'"
            " ORDER BY v.version_number", p)
    finally:
        await conn.close()
    stored = {r["digest"]: r for r in rows}
    assert len(rows) == 2 and json.loads(stored[digest]["body"]) == shared
    assert stored[digest]["first_seq"] == got[events[0]["event_id"]]["seq"]
    assert [(r["version_number"], r["environment_digest"]) for r in used] == [
        (1, digest), (2, digest)]

    topic = Topics(namespace.topic_prefix).changelog
    codec = AvroCodec[RecordedEvent](RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic,
                                     schemas.RECORDED)
    messages = {}
    for m in await asyncio.to_thread(read_topic, cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic):
        if (m.key() or b"").startswith(f"{p}/".encode()):
            messages[codec.decode(m.value())["seq"]] = m.value()
    first, second = (codec.decode(messages[got[e["event_id"]]["seq"]]) for e in events[:2])
    assert first["environment"] == shared  # the record that stored it carries it whole
    assert second["environment"] is None  # later ones only its digest
    for record in (first, second):
        assert record["state"]["environment_digest"] == digest
        for state in (record["state"], *record["alias_losers"]):
            assert state["content"]["environment"] == {**shared, "packages": {}}
        assert record["event"]["payload"][1]["environment"]["packages"] == {}
    assert [s["version_number"] for s in second["alias_losers"]] == [1]  # v1 lost latest
    before = len(codec.encode(_whole(second, shared)))
    after = len(messages[second["seq"]])
    print(f"changelog record of v2 (150 packages, an alias loser): {before} bytes as before,"
          f" {after} now; v1's, which carries the environment: {len(messages[first['seq']])}")
    assert after * 4 < before and after < 2500

    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        detail = (await http.get(f"/v1/artifacts/{p}/m/versions/v2")).json()
        assert detail["environment"] == shared and detail["environment_digest"] == digest
        one = await http.get(f"/v1/environments/{digest}")
        assert one.status_code == 200, one.text
        assert one.json() == {"digest": digest, "environment": shared, "versions": 2,
                              "first_seq": stored[digest]["first_seq"]}
        assert (await http.get(f"/v1/environments/sha256:{digest}")).json()["versions"] == 2
        missing = await http.get(f"/v1/environments/{'0' * 64}")
        assert missing.status_code == 404
        assert missing.json()["error"]["reason"] == "environment_not_found"
        bad = await http.get("/v1/environments/not-a-digest")
        assert bad.status_code == 400 and bad.json()["error"]["reason"] == "invalid_environment"

        backend, alias = backend_of(cairn_env)
        try:
            await wait_index_matches_ledger(backend, alias, namespace.database_url)
        finally:
            await backend.close()
        found = (await http.get("/v1/search", params={"environment": digest, "project": p})).json()
        assert sorted(h["id"] for h in found["hits"]) == [f"{p}/m@v1", f"{p}/m@v2"]
        assert {h["environment_digest"] for h in found["hits"]} == {digest}
        facets = (await http.get("/v1/search", params={"project": p})).json()["facets"]
        assert {b["value"]: b["count"] for b in facets["environment"]} == {
            digest: 2, environment_digest(other): 1}

        # an environment only a private project uses answers, to those who may not see it,
        # as one that does not exist
        admin = {"Authorization": f"Bearer {API_TOKEN}"}
        made = await http.put(f"/v1/projects/{p}", headers=admin,
                        json={"visibility": "private", "members": {}, "teams": {},
                              "description": "environments stored once"})
        assert made.status_code == 202, made.text
        deadline = time.monotonic() + 60
        hidden = await http.get(f"/v1/environments/{digest}")
        while hidden.status_code == 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)  # the project's settings: recorded by the ledger, then read
            hidden = await http.get(f"/v1/environments/{digest}")
        assert hidden.status_code == 404
        assert hidden.json()["error"]["reason"] == "environment_not_found"
        by_admin = await http.get(f"/v1/environments/{digest}", headers=admin)
        assert by_admin.json()["versions"] == 2


# -- the upgrade path --------------------------------------------------------------------------

def _audit_verify(database_url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify",
                           *options],
                          env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=120)


def _ms(ts: dt.datetime) -> int:
    return (ts - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


async def _as_before_0011(url: str) -> None:
    """Make the database what the ledger wrote before migration 0011: versions.environment
    whole (the downgrade), and every event_log state with the whole environment and no
    digest, the chain hashed over those states, as the ledger hashed them then."""
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0010")
    conn = await asyncpg.connect(url)
    try:
        bodies = {}
        for row in await conn.fetch("SELECT id, environment FROM versions"):
            bodies[row["id"]] = json.loads(row["environment"])

        by_ref = {}
        for row in await conn.fetch(
                "SELECT v.id, a.project || '/' || a.name AS artifact, v.version_number"
                " FROM versions v JOIN artifacts a ON a.id = v.artifact_id"):
            by_ref[(row["artifact"], row["version_number"])] = row["id"]

        def restored(state: dict[str, Any]) -> dict[str, Any]:
            c = state["content"]
            env = bodies[by_ref[(f"{c['project']}/{c['name']}", state["version_number"])]]
            state = {**state, "content": {**c, "environment": env}}
            state.pop("environment_digest")
            return state

        prev = "0" * 64
        async with conn.transaction():
            for row in await conn.fetch("SELECT * FROM event_log ORDER BY seq"):
                event = json.loads(row["event"])
                state = restored(json.loads(row["state"]))
                losers = [restored(s) for s in json.loads(row["alias_losers"])]
                targets = [restored(s) for s in json.loads(row["link_targets"])]
                prev, values = log_entry(prev, {
                    "seq": row["seq"], "event_id": str(row["event_id"]),
                    "artifact": row["artifact"], "event_type": row["event_type"],
                    "outcome": row["outcome"], "actor": row["actor"],
                    "occurred_at_ms": _ms(row["occurred_at"]),
                    "recorded_at_ms": _ms(row["recorded_at"]), "event": event,
                    "state": state, "version_id": row["version_id"]},
                    alias_losers=losers, link_targets=targets)
                await conn.execute(
                    "UPDATE event_log SET state = $2::jsonb, prev_hash = $3, hash = $4,"
                    " alias_losers = $5::jsonb, link_targets = $6::jsonb WHERE seq = $1",
                    row["seq"], values[9], values[12], values[13], values[14], values[15])
            await conn.execute("UPDATE chain_head SET hash = $1 WHERE id = 1", prev)
    finally:
        await conn.close()


async def test_the_migration_backfills_digests_and_audit_verifies_old_and_new_rows(
    namespace: Namespace, cairn_env: dict[str, str],
) -> None:
    name = f"{namespace.database}_env_{uuid.uuid4().hex[:6]}"
    url = _with_database(namespace.database_url, name)
    await admin_sql(namespace.database_url, f'CREATE DATABASE "{name}"')
    codec = AvroCodec[ArtifactEvent](RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]),
                                     f"{namespace.topic_prefix}envup.events", schemas.EVENT)
    pool = None

    async def record(batch: list[dict[str, Any]], set_based: bool) -> list[RecordedEvent]:
        assert pool is not None
        raws = [RawRecord(e["artifact"].encode(), codec.encode(e), "t", 0, i)
                for i, e in enumerate(batch)]
        return (await record_batch(pool, raws, codec, KINDS, set_based=set_based)).recorded

    try:
        await asyncio.to_thread(upgrade, url)
        shared, lone = _environment("up"), _environment("lone", 2)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        await record([_published("up", "m", shared), _published("up", "m", lone)], False)
        await record([_published("up", "d", shared)], True)
        await pool.close()
        pool = None
        await _as_before_0011(url)
        conn = await asyncpg.connect(url)
        try:
            old = await conn.fetch("SELECT state FROM event_log ORDER BY seq")
            assert all("environment_digest" not in json.loads(r["state"]) for r in old)
        finally:
            await conn.close()
        cli = _audit_verify(url, "--chain-only")  # the tables need 0011 to be read now
        assert cli.returncode == 0, cli.stdout + cli.stderr  # the "before" chain is sound

        await asyncio.to_thread(upgrade, url)  # 0011: backfill
        conn = await asyncpg.connect(url)
        try:
            envs = {r["digest"]: (json.loads(r["body"]), r["first_seq"]) for r in
                    await conn.fetch("SELECT * FROM environments")}
            versions = await conn.fetch(
                "SELECT a.name, v.version_number, v.environment_digest, v.created_seq"
                " FROM versions v JOIN artifacts a ON a.id = v.artifact_id ORDER BY v.id")
            columns = {r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'versions'")}
        finally:
            await conn.close()
        assert envs == {environment_digest(shared): (shared, 1),
                        environment_digest(lone): (lone, 2)}
        assert [(r["name"], r["version_number"], r["environment_digest"]) for r in versions] == [
            ("m", 1, environment_digest(shared)), ("m", 2, environment_digest(lone)),
            ("d", 1, environment_digest(shared))]
        assert "environment" not in columns and "environment_digest" in columns
        cli = _audit_verify(url)
        assert cli.returncode == 0, cli.stdout + cli.stderr  # old rows, whole environments

        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        new = await record([_published("up", "m", shared)], False)
        new += await record([_published("up", "d", shared), _published("up", "x", lone)], True)
        assert [r["environment"] for r in new] == [None, None, None]  # backfilled: known
        assert [r["state"]["environment_digest"] for r in new] == [
            environment_digest(e) for e in (shared, shared, lone)]
        await pool.close()
        pool = None
        cli = _audit_verify(url)
        assert cli.returncode == 0, cli.stdout + cli.stderr  # old and new rows

        conn = await asyncpg.connect(url)
        try:  # a changed environment body is a difference audit verify reports
            await conn.execute("UPDATE environments SET body = body || '{\"python\": \"2.7\"}'"
                               " WHERE digest = $1", environment_digest(shared))
        finally:
            await conn.close()
        cli = _audit_verify(url)
        assert cli.returncode != 0 and "environment" in cli.stdout + cli.stderr
    finally:
        if pool is not None:
            await pool.close()
        await admin_sql(namespace.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_registry_takes_the_lean_contract_backward_transitive(
    cairn_env: dict[str, str], namespace: Namespace,
) -> None:
    """RecordedEvent with environment_digest (VersionState) and environment after the one
    without them: BACKWARD_TRANSITIVE, as the ledger registers it; an old record reads with
    the new contract (digest and environment null)."""
    import io

    import fastavro

    new = schemas.expanded(schemas.RECORDED)
    old = json.loads(json.dumps(new))
    old["fields"] = [f for f in old["fields"] if f["name"] != "environment"]
    state = next(f for f in old["fields"] if f["name"] == "state")["type"]
    state["fields"] = [f for f in state["fields"] if f["name"] != "environment_digest"]
    registry = RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"])
    subject = f"{namespace.topic_prefix}compat.lean-{uuid.uuid4().hex[:6]}-value"
    registry.register(subject, json.dumps(old))
    registry.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    registry.register(subject, json.dumps(new))  # IncompatibleSchema if it were not
    body = payloads.published(kind="model", project="p", name="m",
                              files=[fake_file("w", b"w")], metadata_={"creator": "ada"})
    record = {"seq": 1, "recorded_at": 0, "hash": "h", "outcome": "applied",
              "event": new_event("p/m", "Published", body, actor="ada", tool="test"),
              "state": {"version_number": 1, "digest": "d", "content": body, "created_at": 0,
                        "updated_seq": 1}}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old), record)
    buf.seek(0)
    read: Any = fastavro.schemaless_reader(buf, fastavro.parse_schema(old),
                                           schemas.parsed(schemas.RECORDED))
    assert read["environment"] is None and read["state"]["environment_digest"] is None


async def test_checks_see_the_whole_environment(
    validator: Service, validation_dir: Path, cairn_env: dict[str, str], namespace: Namespace,
) -> None:
    """A project's schema may constrain the packages: the validator judges every version
    with its environment whole, the one whose record carries it and the one whose record
    names it only by digest alike."""
    p = f"val-env{uuid.uuid4().hex[:6]}"
    (validation_dir / "schemas" / f"{p}.schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"environment": {"type": "object", "required": ["packages"], "properties": {
            "packages": {"type": "object", "required": ["torch"]}}}}}))
    (validation_dir / "projects" / f"{p}.toml").write_text(
        f'[schemas]\nmodel = "schemas/{p}.schema.json"\n')
    env = {**_environment("v", 20), "packages": {**_environment("v", 20)["packages"],
                                                 "torch": "2.5.1"}}
    without = _environment("w", 5)
    events = [_published(p, "m", env), _published(p, "m", env), _published(p, "n", without)]
    await emit_recorded(cairn_env, namespace.database_url, events)
    conn = await asyncpg.connect(namespace.database_url)
    try:
        deadline, rows = time.monotonic() + 90, list[asyncpg.Record]()
        while len(rows) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            rows = await conn.fetch(
                "SELECT a.name, v.version_number, r.status FROM verdicts r"
                " JOIN versions v ON v.id = r.version_id JOIN artifacts a ON a.id = v.artifact_id"
                " WHERE a.project = $1 AND r.check_name = 'schema'"
                " ORDER BY a.name, v.version_number", p)
    finally:
        await conn.close()
    assert [(r["name"], r["version_number"], r["status"]) for r in rows] == [
        ("m", 1, "passed"), ("m", 2, "passed"), ("n", 1, "failed")]
