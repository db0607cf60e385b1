"""A VerdictSet (the validator's judgement of one version: every check in one event) on the
real ledger (Kafka, the registry, PostgreSQL), beside the single-check Verdict it replaces.

One set is one event_log entry whose checks land in the verdicts table and set the version's
validation; a single-check Verdict (old events in topics and logs) still records; only the
validator may produce a set, so a set from any other Cairn service or from a service account
(even a maintainer, who may still send a single Verdict) is dead-lettered as forbidden; and
`audit verify` rebuilds verdict rows from sets as from single verdicts. The registry takes
the contract with the VerdictSet branch as BACKWARD_TRANSITIVE after the one without it, and
old records read with the new contract.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import asyncpg
import fastavro
import httpx
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import RegistryClient
from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.events import new_event
from cairn.readmodel.audit import verify

from tests.conftest import API_TOKEN, Namespace
from tests.endpoints import Endpoints
from tests.ledger_helpers import emit_recorded, publish_event, settings_for, wait_recorded
from tests.processes import Service


def _judgement(artifact: str, version: str, completeness: float | None,
               **checks: str) -> dict[str, Any]:
    """A VerdictSet as the validator words it (`checks`: name=status)."""
    body = {"version": version, "completeness": completeness,
            "checks": [{"check": name, "status": status,
                        "reasons": [] if status == "passed" else [f"{name}: {status}"]}
                       for name, status in checks.items()]}
    return new_event(artifact, "VerdictSet", body, actor="validator", tool="validator")


def _verdict(artifact: str, version: str, check: str, status: str) -> dict[str, Any]:
    """A single-check Verdict, as validators before the VerdictSet sent one per check."""
    return new_event(artifact, "Verdict", {"version": version, "check": check, "status": status,
                                           "reasons": [f"{check}: {status}"], "score": None},
                     actor="validator", tool="validator")


async def _new_version(env: dict[str, str], db: str, name: str) -> str:
    """project/name of a version just published (v1) in a project of its own."""
    project = f"vs-{uuid.uuid4().hex[:8]}"
    await emit_recorded(env, db, [publish_event(project, name)])
    return f"{project}/{name}"


async def _emit_as(env: dict[str, str], db: str, client_id: str, *events: dict[str, Any],
                   **extra: str) -> dict[str, asyncpg.Record]:
    emitter = Emitter(settings_for({**env, **extra}), client_id)
    try:
        await emitter.emit_async(*events)
    finally:
        emitter.close()
    return await wait_recorded(db, [e["event_id"] for e in events])


async def _version(db: str, artifact: str) -> dict[str, Any]:
    """validation, completeness, verdicts {check: (status, reasons)} and entries by type."""
    project, name = artifact.split("/")
    conn = await asyncpg.connect(db)
    try:
        row = await conn.fetchrow(
            "SELECT v.id, v.validation, v.completeness FROM versions v JOIN artifacts a"
            " ON a.id = v.artifact_id WHERE a.project = $1 AND a.name = $2", project, name)
        checks = {r["check_name"]: (r["status"], r["reasons"]) for r in await conn.fetch(
            "SELECT check_name, status, reasons FROM verdicts WHERE version_id = $1", row["id"])}
        entries = {r["event_type"]: r["n"] for r in await conn.fetch(
            "SELECT event_type, count(*) AS n FROM event_log WHERE version_id = $1"
            " GROUP BY 1", row["id"])}
    finally:
        await conn.close()
    return {"validation": row["validation"], "completeness": row["completeness"],
            "checks": checks, "entries": entries}


async def test_a_verdict_set_is_one_entry_and_sets_every_check_and_the_validation(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    db = namespace.database_url
    warned, failed = [await _new_version(cairn_env, db, n) for n in ("warned", "failed")]
    sets = [_judgement(warned, "v1", 0.75, schema="passed", license="warning",
                       lineage="warning"),
            _judgement(failed, "v1", None, schema="passed", naming="failed")]
    got = await _emit_as(cairn_env, db, "cairn-validator", *sets)
    assert {r["outcome"] for r in got.values()} == {"applied"}, got

    first = await _version(db, warned)
    assert first["entries"] == {"Published": 1, "VerdictSet": 1}
    assert first["validation"] == "valid"  # warnings do not make a version invalid
    assert first["completeness"] == 0.75
    assert {c: s for c, (s, _) in first["checks"].items()} == {
        "schema": "passed", "license": "warning", "lineage": "warning"}
    second = await _version(db, failed)
    assert second["validation"] == "invalid" and second["completeness"] is None
    assert second["checks"]["naming"] == ("failed", '["naming: failed"]')

    # A later set with only some checks (a hook's late answer) updates those, keeps the rest.
    late = _judgement(failed, "v1", None, naming="passed")
    assert (await _emit_as(cairn_env, db, "cairn-validator", late))[late["event_id"]][
        "outcome"] == "applied"
    after = await _version(db, failed)
    assert after["validation"] == "valid" and set(after["checks"]) == {"schema", "naming"}
    assert after["entries"] == {"Published": 1, "VerdictSet": 2}
    assert (await verify(db)).ok


async def test_a_single_check_verdict_still_records(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    db = namespace.database_url
    artifact = await _new_version(cairn_env, db, "old")
    old = [_verdict(artifact, "v1", "license", "failed"), _verdict(artifact, "v1", "schema",
                                                                   "passed")]
    got = await _emit_as(cairn_env, db, "cairn-validator", *old)
    assert {r["outcome"] for r in got.values()} == {"applied"}, got
    state = await _version(db, artifact)
    assert state["entries"] == {"Published": 1, "Verdict": 2}
    assert state["validation"] == "invalid"
    assert state["checks"] == {"license": ("failed", '["license: failed"]'),
                               "schema": ("passed", '["schema: passed"]')}
    assert (await verify(db)).ok


async def test_a_hand_edited_verdict_row_of_a_set_is_named_by_audit_verify(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    db = namespace.database_url
    artifact = await _new_version(cairn_env, db, "edited")
    await _emit_as(cairn_env, db, "cairn-validator",
                   _judgement(artifact, "v1", 1.0, schema="passed", license="failed"))
    conn = await asyncpg.connect(db)
    try:
        version_id = await conn.fetchval(
            "SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project || '/' || a.name = $1", artifact)
        await conn.execute("UPDATE verdicts SET status = 'passed' WHERE version_id = $1"
                           " AND check_name = 'license'", version_id)
        report = await verify(db)
        assert report.chain.ok and report.state is not None
        assert [(d.table, d.key) for d in report.state.differences] == [
            ("verdicts", f"version {version_id} license")], report.state.differences
    finally:
        await conn.execute("UPDATE verdicts SET status = 'failed' WHERE version_id = $1"
                           " AND check_name = 'license'", version_id)
        await conn.close()
    assert (await verify(db)).ok


async def test_only_the_validator_may_produce_a_verdict_set(
        api: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    """Another Cairn service, even naming the validator as actor, and a maintainer's service
    account are refused (forbidden, noted in rejected_events); the maintainer may still send a
    single-check Verdict, as before."""
    db, p = namespace.database_url, f"vs-{uuid.uuid4().hex[:8]}"
    artifact, account = f"{p}/guarded", f"judge-{uuid.uuid4().hex[:6]}"
    admin = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=api.url, headers=admin, timeout=30) as http:
        made = await http.put(f"/v1/service-accounts/{account}", json={"trusted": False})
        assert made.status_code == 202, made.text
        await wait_recorded(db, [made.json()["event_id"]])
        key = (await http.get(f"/v1/service-accounts/{account}/key")).json()["key"]
        member = await http.put(f"/v1/projects/{p}", json={"members": {account: "maintainer"}})
        assert member.status_code == 202, member.text
        await wait_recorded(db, [member.json()["event_id"]])
    await emit_recorded(cairn_env, db, [publish_event(p, "guarded")])

    by_api = _judgement(artifact, "v1", 1.0, schema="passed")
    got = await _emit_as(cairn_env, db, "cairn-api", by_api)
    assert got[by_api["event_id"]]["reason"] == "forbidden"
    as_account = {**_judgement(artifact, "v1", 1.0, schema="passed"), "actor": account}
    single = {**_verdict(artifact, "v1", "schema", "passed"), "actor": account}
    got = await _emit_as(cairn_env, db, "test-producer", as_account, single,
                         CAIRN_PRODUCER=account, CAIRN_PRODUCER_KEY=key)
    assert got[as_account["event_id"]]["reason"] == "forbidden"
    assert got[single["event_id"]]["outcome"] == "applied"
    state = await _version(db, artifact)
    assert state["entries"] == {"Published": 1, "Verdict": 1}
    assert state["validation"] == "valid"


def _without_verdict_sets(schema: Any) -> Any:
    """The contract as it was before the VerdictSet branch."""
    if isinstance(schema, dict):
        return {k: _without_verdict_sets(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_without_verdict_sets(b) for b in schema
                if not (isinstance(b, dict) and str(b.get("name")).endswith("VerdictSet"))]
    return schema


def test_the_contract_stays_backward_transitive_and_reads_old_verdicts(
        endpoints: Endpoints, namespace: Namespace) -> None:
    registry = RegistryClient(endpoints.registry)
    for name in (schemas.EVENT, schemas.RECORDED):
        new = schemas.expanded(name)
        old = _without_verdict_sets(new)
        assert old != new
        subject = f"{namespace.topic_prefix}compat.{name}-{uuid.uuid4().hex[:6]}-value"
        registry.register(subject, json.dumps(old))
        registry.set_compatibility(subject, "BACKWARD_TRANSITIVE")
        registry.register(subject, json.dumps(new))  # IncompatibleSchema if it were not
    old_verdict = _verdict("p/m", "v1", "license", "failed")
    buf = io.BytesIO()
    old_event = fastavro.parse_schema(_without_verdict_sets(schemas.expanded(schemas.EVENT)))
    fastavro.schemaless_writer(buf, old_event, old_verdict)
    buf.seek(0)
    read = fastavro.schemaless_reader(buf, old_event, schemas.parsed(schemas.EVENT),
                                      return_record_name=True)
    assert read["payload"] == ("dev.cairn.events.Verdict", old_verdict["payload"][1])
