"""The ledger's set-based publish path (issue 11) on the real PostgreSQL and registry.

One batch mixes what a run of publishes can meet: duplicates (of a version recorded before,
and of one earlier in the batch), refused events (a bad digest, a kind mismatch, a stage off
the ladder), links to targets earlier in the batch, recorded before, and not yet recorded
(resolved when they arrive, in this batch or a later one), `latest` moving over several
versions of one artifact, an AliasMoved in the middle (a per-event run between two set-based
ones), a redelivered event, and an import's requested version numbers. The same batches are
recorded into a second database one event at a time (`set_based=False`, the path before
issue 11): the tables and the changelog records must be the same, modulo ids and
recorded_at (so hashes); the set-based database's chain and tables must pass `cairn audit
verify`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.domain import payloads
from cairn.core.domain.environments import environment_digest
from cairn.core.domain.event_types import ArtifactEvent
from cairn.core.domain.events import new_event, payload_of
from cairn.core.domain.identity import KINDS
from cairn.ledger import recorder
from cairn.ledger.batch import BatchResult, record_batch
from cairn.ledger.migrate import upgrade

from tests.conftest import Namespace, _with_database, admin_sql
from tests.ledger_helpers import publish_event

P = "setp"


def _bytes(tag: str) -> bytes:
    return f"content {tag}".encode()


def _pub(name: str, tag: str, kind: str = "dataset", links: list[dict[str, Any]] | None = None,
         **extra: Any) -> dict[str, Any]:
    event = publish_event(P, name, kind, content=_bytes(tag), links=links)
    event["payload"][1].update(extra)
    return event


def _alias(name: str, alias: str, version: str) -> dict[str, Any]:
    return new_event(f"{P}/{name}", "AliasMoved", {"alias": alias, "version": version},
                     actor="tester", tool="test")


def _judged(name: str, version: str, completeness: float | None = None,
            **checks: str) -> dict[str, Any]:
    """A VerdictSet as the validator sends one (`checks`: name=status)."""
    body = {"version": version, "completeness": completeness,
            "checks": [{"check": c, "status": st, "reasons": [] if st == "passed" else [c]}
                       for c, st in checks.items()]}
    return new_event(f"{P}/{name}", "VerdictSet", body, actor="validator", tool="validator")


def _verdicts(mixed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A batch of VerdictSet runs: several versions, one judged three times in a run (the
    second set overrides a check, adds one, leaves completeness as it was), versions named
    by number, digest, alias and `latest`, refusals (an unknown version, an unknown artifact,
    a check named twice, no checks), two sets twice in the batch (one recorded, one
    refused), a publish between two runs and a set for the version it made."""
    twice = _judged("data", "v2", 0.5, schema="passed", license="warning")
    dup_check = _judged("data", "v3", schema="passed")
    dup_check["payload"][1]["checks"].append({"check": "schema", "status": "failed",
                                              "reasons": []})
    return [
        _judged("data", "v1", 0.25, schema="failed", license="passed"),
        twice,
        _judged("model", "v1", 1.0, schema="passed"),
        _judged("data", "v1", None, schema="passed", card="warning"),  # v1 again in the run
        _judged("data", "v9", 0.1, schema="passed"),  # unknown version
        _judged("nosuch", "v1", 0.1, schema="passed"),  # unknown artifact
        dup_check,
        _judged("data", "v3"),  # no checks
        _judged("data", f"sha256:{_digest(mixed[0])}", 0.75, schema="passed"),  # v2 by digest
        _judged("data", "prod", schema="failed"),  # v1 by alias, a third time in the run
        twice,  # the same event again in the batch
        dup_check,  # a refused one again: refused again
        _pub("own", "o3"),  # a publish between two runs
        _judged("own", "latest", 0.9, schema="passed"),  # the version just published
        _judged("imp", "v5", 0.3, schema="passed"),
        _judged("imp", "v5", schema="failed"),  # twice in a two-set run
    ]


# Two environments beside the default (empty) one: a 150-package one that a2, a4 and a5 share
# (stored by a2, in the mixed batch's first run) and a small one x and o2 share.
BIG_ENV = payloads.environment({"python": "3.11.9", "os": "Linux-6.1-x86_64", "cpu": "x86_64",
                                "packages": {f"package-{i:03d}": f"{i}.{i % 7}.{i % 3}"
                                             for i in range(150)}})
SMALL_ENV = payloads.environment({"python": "3.12.1", "packages": {"numpy": "2.1.0"}})


def _digest(event: dict[str, Any]) -> str:
    return str(event["payload"][1]["digest"])


def _events() -> list[list[dict[str, Any]]]:
    """Three batches: what is there before, the mixed batch, and the mixed batch again."""
    x = _pub("x", "x1", environment=SMALL_ENV)
    a1 = _pub("data", "a1")
    b1 = _pub("model", "b1", "model", links=[
        {"relation": "trained_on", "target": f"{P}/future@v1"},  # arrives in batch 1
        {"relation": "derived_from", "target": f"sha256:{_digest(x)}"},  # arrives in batch 1
        {"relation": "derived_from", "external": {"kind": "code", "url": "https://git/x"}}])
    before = [a1, b1, _alias("data", "prod", "v1")]
    a2 = _pub("data", "a2", environment=BIG_ENV)
    a3 = _pub("data", "a3", links=[
        {"relation": "derived_from", "target": f"{P}/data:latest"},  # a2, earlier in the run
        {"relation": "derived_from", "target": f"{P}/data@v2"},
        {"relation": "trained_on", "target": f"{P}/data@{_digest(a2)[:10]}"},
        {"relation": "trained_on", "target": f"sha256:{_digest(a2)}"},
        {"relation": "evaluates", "target": f"{P}/future@v1"},  # later in the same run
        {"relation": "evaluates", "target": f"{P}/future:latest"},  # later in the same run
        {"relation": "evaluates", "target": f"{P}/later@v1"},  # never: waits
        {"relation": "evaluates", "target": f"{P}/data@v3"}])  # itself
    bad_digest = _pub("data", "bad")
    bad_digest["payload"][1]["digest"] = "0" * 64
    wrong_kind = _pub("data", "wk", "model")
    off_ladder = _pub("data", "ol", stage="nowhere")
    a4 = _pub("data", "a4", environment=BIG_ENV)
    a5 = _pub("data", "a5", environment=BIG_ENV, links=[
        {"relation": "derived_from", "target": f"{P}/data:champion"},  # set by the AliasMoved
        {"relation": "derived_from", "target": f"{P}/data@v4"}])
    self_latest = _pub("own", "o1", links=[{"relation": "derived_from",
                                            "target": f"{P}/own:latest"}])
    # an import's requested numbers: free (above the newest, then below it: no `latest`),
    # taken in the run, taken in the tables, a duplicate that asks for another number,
    # then an ordinary publish after the highest
    imported = [_pub("imp", "i5", version_number=5), _pub("imp", "i2", version_number=2),
                _pub("imp", "i9", version_number=5), _pub("imp", "i6"),
                _pub("data", "zz", version_number=1), _pub("data", "a1", version_number=7)]
    mixed = [a2, _pub("data", "a1"), a3, _pub("data", "a3"), _pub("future", "f1"), bad_digest,
             wrong_kind, off_ladder, a2, _alias("data", "champion", "v2"), a4, x, a5,
             self_latest, _pub("own", "o2", environment=SMALL_ENV), *imported]
    verdicts = _verdicts(mixed)
    return [before, mixed, mixed, verdicts, [verdicts[1], verdicts[0], verdicts[13]]]


@pytest.fixture
async def databases(namespace: Namespace) -> AsyncIterator[tuple[str, str]]:
    names = [f"{namespace.database}_sb_{uuid.uuid4().hex[:6]}_{i}" for i in (0, 1)]
    urls = [_with_database(namespace.database_url, n) for n in names]
    for name, url in zip(names, urls, strict=True):
        await admin_sql(namespace.database_url, f'CREATE DATABASE "{name}"')
        upgrade(url)
    try:
        yield urls[0], urls[1]
    finally:
        for name in names:
            await admin_sql(namespace.database_url,
                            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _record(url: str, codec: AvroCodec[ArtifactEvent], batches: list[list[dict[str, Any]]],
                  set_based: bool) -> list[BatchResult]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        out = []
        for n, batch in enumerate(batches):
            raws = [RawRecord(e["artifact"].encode(), codec.encode(e), "t", 0, n * 100 + i)
                    for i, e in enumerate(batch)]
            out.append(await record_batch(pool, raws, codec, KINDS, set_based=set_based))
        return out
    finally:
        await pool.close()


def _changelog(results: Sequence[BatchResult]) -> list[Any]:
    """Every record as a consumer sees it, without what differs run to run."""
    return [[{"environment": None,  # Avro's default where a path leaves it out (verdict sets)
              **{k: v for k, v in r.items() if k not in ("recorded_at", "hash")}}
             for r in res.recorded] + [(raw.offset, reason, msg) for raw, reason, msg in res.dead]
            for res in results]


REF = "(SELECT a.project || '/' || a.name || '@v' || v.version_number FROM versions v" \
      " JOIN artifacts a ON a.id = v.artifact_id WHERE v.id = {})"
TABLES = {
    "projects": "SELECT name, created_at, created_seq FROM projects ORDER BY name",
    "artifacts": "SELECT project, name, kind, latest_version, created_at, created_seq"
                 " FROM artifacts ORDER BY project, name",
    "versions": f"SELECT {REF.format('x.id')} AS ref, digest, kind, metadata,"
                " environment_digest, extra,"
                " stage, status, validation, completeness, created_by, created_at,"
                " created_seq, updated_seq"
                " FROM versions x ORDER BY 1",
    "files": f"SELECT {REF.format('f.version_id')}, path, size, sha256 FROM files f ORDER BY 1, 2",
    "aliases": f"SELECT a.name, al.alias, {REF.format('al.version_id')} AS ref, al.updated_seq"
               " FROM aliases al JOIN artifacts a ON a.id = al.artifact_id ORDER BY 1, 2",
    "links": f"SELECT {REF.format('l.source_version_id')} AS source, relation, target_ref,"
             f" target_artifact, target_selector, {REF.format('l.target_version_id')} AS target,"
             " external, created_seq, rank() OVER (PARTITION BY source_version_id ORDER BY id)"
             " FROM links l ORDER BY 1, 9",
    "event_log": f"SELECT seq, event_id, artifact, event_type, outcome, actor, occurred_at, event,"
                 f" state, {REF.format('e.version_id')}, chain_version, alias_losers,"
                 " link_targets"
                 " FROM event_log e ORDER BY seq",
    "verdicts": f"SELECT {REF.format('x.version_id')} AS ref, check_name, status, reasons, seq"
                " FROM verdicts x ORDER BY 1, 2",
    "rejected_events": "SELECT event_id, artifact, reason, message FROM rejected_events"
                       " ORDER BY event_id",
    "environments": "SELECT digest, body, first_seq FROM environments ORDER BY first_seq",
}


def _audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    """`cairn audit verify`: the chain, and the tables against what it rebuilds."""
    return subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify"],
                          env={**os.environ, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=120)


async def _tables(url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(url)
    try:
        return {t: [dict(r) for r in await conn.fetch(sql)] for t, sql in TABLES.items()}
    finally:
        await conn.close()


async def test_a_mixed_batch_records_set_based_as_it_does_one_by_one(
    databases: tuple[str, str], namespace: Namespace, cairn_env: dict[str, str],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    codec = AvroCodec[ArtifactEvent](RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]),
                                     f"{namespace.topic_prefix}setbased.events", schemas.EVENT)
    batches = _events()
    fast_db, slow_db = databases
    one_by_one: list[str] = []  # payload types recorded per event (recorder.record)
    per_event = recorder.record

    async def spied(conn: Any, event: ArtifactEvent, *args: Any, **kw: Any) -> Any:
        one_by_one.append(payload_of(event)[0])
        return await per_event(conn, event, *args, **kw)

    monkeypatch.setattr(recorder, "record", spied)
    with caplog.at_level(logging.WARNING, logger="cairn.ledger.batch"):
        fast = await _record(fast_db, codec, batches, set_based=True)
    assert not [r for r in caplog.records if "one by one" in r.getMessage()]  # no fallback
    assert set(one_by_one) == {"AliasMoved"}  # publishes and verdict sets went set-based
    slow = await _record(slow_db, codec, batches, set_based=False)

    mixed = fast[1]
    by_id = {str(r["event"]["event_id"]): r for r in mixed.recorded}
    events = batches[1]
    out = [by_id.get(e["event_id"]) for e in events]
    numbers = [None if r is None else (r["outcome"], r["state"]["version_number"]) for r in out]
    assert numbers == [
        ("applied", 2), ("duplicate", 1), ("applied", 3), ("duplicate", 3), ("applied", 1),
        None, None, None, ("applied", 2), ("applied", 2), ("applied", 4), ("applied", 1),
        ("applied", 5), ("applied", 1), ("applied", 2),
        ("applied", 5), ("applied", 2), None, ("applied", 6), None, ("duplicate", 1)]
    assert mixed.repeats == 1  # a2 twice in the batch: its one record, twice
    assert sorted(reason for _, reason, _ in mixed.dead) == [
        "digest_mismatch", "kind_mismatch", "unknown_stage", "version_number_taken",
        "version_number_taken"]
    assert out[15]["state"]["aliases"] == ["latest"]
    assert out[16]["state"]["aliases"] == [] and out[16]["alias_losers"] == []  # below v5
    assert [s["version_number"] for s in out[18]["alias_losers"]] == [5]
    # `latest` over the run: each new version holds it right after its event, the one it
    # took it from is named with its state then; a duplicate shows its aliases at its seq.
    assert out[0]["state"]["aliases"] == ["latest"]
    assert [s["aliases"] for s in out[0]["alias_losers"]] == [["prod"]]  # v1, before the run
    assert out[1]["state"]["aliases"] == ["prod"]  # v1 again: it lost latest at out[0]
    assert [s["version_number"] for s in out[2]["alias_losers"]] == [2]
    assert out[2]["alias_losers"][0]["aliases"] == []
    assert out[3]["state"]["aliases"] == ["latest"]  # v3 again, still latest
    assert [s["version_number"] for s in out[10]["alias_losers"]] == [3]  # across the run split
    assert out[10]["alias_losers"][0]["aliases"] == []
    assert [s["aliases"] for s in out[9]["alias_losers"]] == []  # AliasMoved: nobody had it
    assert out[13]["alias_losers"] == [] and out[14]["alias_losers"][0]["version_number"] == 1
    # a5 links to v2 (champion) and v4 (the latest it took: its state is an alias loser's):
    # v2's state then names what links to it, newest first (a3's four links, earlier)
    assert [s["version_number"] for s in out[12]["link_targets"]] == [2]
    assert [(i["relation"], i["source"]) for i in out[12]["link_targets"][0]["incoming"]] == [
        ("derived_from", f"{P}/data@v5"), ("trained_on", f"{P}/data@v3"),
        ("trained_on", f"{P}/data@v3"), ("derived_from", f"{P}/data@v3"),
        ("derived_from", f"{P}/data@v3")]
    assert out[2]["link_targets"] == []  # v2 is its alias loser, the others wait or are itself
    assert [i["source"] for i in out[4]["state"]["incoming"]] == [  # waited, for future@v1
        f"{P}/data@v3", f"{P}/data@v3", f"{P}/model@v1"]

    tables = await _tables(fast_db)
    links = {(r["source"], r["target_ref"]): r["target"] for r in tables["links"]}
    assert {k: v for k, v in links.items() if k[0] == f"{P}/data@v3"} == {
        (f"{P}/data@v3", f"{P}/data:latest"): f"{P}/data@v2",
        (f"{P}/data@v3", f"{P}/data@v2"): f"{P}/data@v2",
        (f"{P}/data@v3", f"{P}/data@{_digest(events[0])[:10]}"): f"{P}/data@v2",
        (f"{P}/data@v3", f"sha256:{_digest(events[0])}"): f"{P}/data@v2",
        (f"{P}/data@v3", f"{P}/future@v1"): f"{P}/future@v1",
        (f"{P}/data@v3", f"{P}/future:latest"): f"{P}/future@v1",
        (f"{P}/data@v3", f"{P}/later@v1"): None,
        (f"{P}/data@v3", f"{P}/data@v3"): f"{P}/data@v3"}
    assert links[(f"{P}/model@v1", f"{P}/future@v1")] == f"{P}/future@v1"  # waited a batch
    assert links[(f"{P}/model@v1", f"sha256:{_digest(events[11])}")] == f"{P}/x@v1"
    assert links[(f"{P}/model@v1", None)] is None  # external
    assert links[(f"{P}/data@v5", f"{P}/data:champion")] == f"{P}/data@v2"
    assert links[(f"{P}/data@v5", f"{P}/data@v4")] == f"{P}/data@v4"
    assert links[(f"{P}/own@v1", f"{P}/own:latest")] == f"{P}/own@v1"  # waited for itself
    aliases = {(r["name"], r["alias"]): r["ref"] for r in tables["aliases"]}
    assert aliases[("data", "latest")] == f"{P}/data@v5"
    assert aliases[("data", "prod")] == f"{P}/data@v1"
    assert aliases[("imp", "latest")] == f"{P}/imp@v6"
    assert {r["name"]: r["latest_version"] for r in tables["artifacts"]}["imp"] == 6

    # environments stored once: each digest's first record carries it whole, later ones and
    # every state only its digest and summary (no packages)
    stored = {r["digest"]: r["first_seq"] for r in tables["environments"]}
    assert set(stored) == {environment_digest(e) for e in (payloads.environment(None),
                                                           BIG_ENV, SMALL_ENV)}
    big = environment_digest(BIG_ENV)
    assert sorted({r["seq"] for r in mixed.recorded if r["environment"] is not None}) == [
        stored[big], stored[environment_digest(SMALL_ENV)]]  # a2 is twice in the batch
    assert by_id[events[0]["event_id"]]["environment"] == BIG_ENV  # a2 stored it
    assert sorted({r["state"]["version_number"] for r in mixed.recorded
                   if r["state"]["environment_digest"] == big}) == [2, 4, 5]
    assert all(r.get("environment") is None for r in fast[0].recorded[1:] + fast[3].recorded)
    every_state = [s for res in fast for r in res.recorded
                   for s in (r["state"], *r["alias_losers"], *r["link_targets"])]
    assert all(s["content"]["environment"]["packages"] == {} for s in every_state)
    assert all(r["event"]["payload"][1].get("environment", {}).get("packages", {}) == {}
               for res in fast for r in res.recorded)  # a Published event's, too
    assert fast[2].repeats == len(mixed.recorded)  # redelivered: the stored records again
    assert [r["hash"] for r in fast[2].recorded] == [r["hash"] for r in mixed.recorded]
    assert _changelog(fast) == _changelog(slow)
    assert tables == await _tables(slow_db)
    cli = _audit_verify(fast_db)
    assert cli.returncode == 0, cli.stdout + cli.stderr


    judged = fast[3]  # VerdictSet runs: each record shows its version right after its set
    assert [(r["event"]["payload"][0].rsplit(".", 1)[-1], r["state"]["version_number"],
             r["state"]["validation"], r["state"]["completeness"]) for r in judged.recorded] == [
        ("VerdictSet", 1, "invalid", 0.25), ("VerdictSet", 2, "valid", 0.5),
        ("VerdictSet", 1, "valid", 1.0), ("VerdictSet", 1, "valid", 0.25),
        ("VerdictSet", 2, "valid", 0.75), ("VerdictSet", 1, "invalid", 0.25),
        ("VerdictSet", 2, "valid", 0.5), ("Published", 3, "pending", None),
        ("VerdictSet", 3, "valid", 0.9), ("VerdictSet", 5, "valid", 0.3),
        ("VerdictSet", 5, "invalid", 0.3)]
    assert judged.recorded[6] == judged.recorded[1] and judged.repeats == 1
    sets = [r for r in judged.recorded if r["event"]["payload"][0].endswith("VerdictSet")]
    assert all(r["state"]["updated_seq"] == r["seq"] for r in sets)
    assert all(r["alias_losers"] == [] and r["link_targets"] == [] for r in sets)
    assert sorted(reason for _, reason, _ in judged.dead) == [
        "invalid_verdict", "invalid_verdict", "invalid_verdict", "unknown_artifact",
        "unknown_version"]
    assert fast[4].repeats == 3  # the batch's sets redelivered: the stored records again
    checked = {(r["ref"], r["check_name"]): r["status"] for r in tables["verdicts"]}
    assert {k[1]: v for k, v in checked.items() if k[0] == f"{P}/data@v1"} == {
        "schema": "failed", "license": "passed", "card": "warning"}
