"""Retention on the real stack: a 500-version history, its plan and its application, the
ledger's protections, tombstones, the archive tier, and the archiver's scheduled runs.

The history goes straight to Kafka (tests/retention_history.py knows it as plain data and
computes the expected plan from the documented rules); policies, plans, apply and restore
go through the api, the SDK and the `cairn` command as users would use them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.core.domain.events import new_event
from cairn.sdk import CairnError, Client
from cairn.sdk import retention as sdk_retention

from tests.blob_worlds import BlobWorld, blob_world_fixture  # noqa: F401
from tests.clients import sdk_fixture  # noqa: F401
from tests.conftest import Namespace
from tests.ledger_helpers import publish_event, wait_recorded
from tests.processes import Service
from tests.retention_helpers import (
    cli,
    emit_uses,
    old_versions,
    record,
    statuses,
    toml_file,
    until,
)
from tests.retention_history import RULES, Version, events, expected_plan, generate

pytestmark = pytest.mark.usefixtures("archiver")


@pytest.fixture(scope="module")
async def http(api: Service, api_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=60,
                                 headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


@pytest.fixture(scope="module")
async def history(api: Service, cairn_env: dict[str, str], namespace: Namespace
                  ) -> tuple[str, list[Version]]:
    """500 versions recorded with holds, earlier archives and uses; a policy set, unscheduled."""
    project = f"ret-{uuid.uuid4().hex[:8]}"
    versions = generate(project)
    published, changes, uses = events(versions)
    got = await record(cairn_env, namespace, published)
    assert {r["outcome"] for r in got.values()} == {"applied"}
    got = await record(cairn_env, namespace, changes)
    assert {r["outcome"] for r in got.values()} == {"applied"}, got
    emit_uses(cairn_env, uses)

    async def counted() -> bool:
        conn = await asyncpg.connect(namespace.database_url)
        try:
            # this history's own uses: the session's database holds other tests' uses too
            return await conn.fetchval(
                "SELECT count(*) FROM usage_events WHERE event_id = ANY($1::uuid[])",
                [u["event_id"] for u in uses]) == len(uses)
        finally:
            await conn.close()

    assert await until(counted)
    return project, versions


@pytest.fixture(scope="module")
def policy_set(history: tuple[str, list[Version]], sdk: Client) -> str:
    project, _ = history
    status = sdk_retention.set_policy(sdk, project, {"scheduled": False, "rules": RULES})
    assert status["status"] == "recorded"
    return project


async def test_plan_equals_the_expected_set(
        policy_set: str, history: tuple[str, list[Version]], http: httpx.AsyncClient,
        api: Service, api_token: str, cairn_env: dict[str, str]) -> None:
    _, versions = history
    expected = expected_plan(versions, RULES)
    assert len(expected) > 100 and set(expected.values()) == {"archive", "delete"}
    reply = await http.get(f"/v1/projects/{policy_set}/retention/plan")
    assert reply.status_code == 200, reply.text
    plan = reply.json()
    assert {a["ref"]: a["action"] for a in plan["actions"]} == expected
    assert all(a["why"].startswith("rule '") for a in plan["actions"])
    protected = {p["ref"] for p in plan["protected"]}
    assert protected and not protected & set(expected)
    shown = cli(api, api_token, cairn_env, "retention", "plan", policy_set, "--json")
    assert shown.returncode == 0, shown.stderr
    assert {a["ref"] for a in json.loads(shown.stdout)["actions"]} == set(expected)
    table = cli(api, api_token, cairn_env, "retention", "plan", policy_set)
    assert table.returncode == 0 and sorted(expected)[0] in table.stdout
    assert "protected" in table.stdout and all(ref in table.stdout for ref in protected)


async def test_apply_archives_and_deletes_exactly_the_plan(
        policy_set: str, history: tuple[str, list[Version]], http: httpx.AsyncClient,
        namespace: Namespace) -> None:
    _, versions = history
    expected = expected_plan(versions, RULES)
    before = await statuses(namespace.database_url, policy_set)
    reply = await http.post(f"/v1/projects/{policy_set}/retention/apply")
    assert reply.status_code == 202, reply.text
    requested = reply.json()["requested"]
    assert {r["ref"]: r["action"] for r in requested} == expected
    got = await wait_recorded(namespace.database_url, [r["event_id"] for r in requested])
    assert {r["outcome"] for r in got.values()} == {"applied"}, [
        r["reason"] for r in got.values() if r["outcome"] == "rejected"]
    after = await statuses(namespace.database_url, policy_set)
    after_action = {"archive": "archived", "delete": "deleted"}
    assert after == {ref: after_action[expected[ref]] if ref in expected else status
                     for ref, status in before.items()}
    live_targets = {t for v in versions if v.status == "active" for t in v.links}
    for v in versions:  # never a protected or referenced one
        if v.stage == "production" or v.legal_hold or v.ref in live_targets:
            assert after[v.ref] == v.status, v
    conn = await asyncpg.connect(namespace.database_url)
    try:
        actors = await conn.fetch("SELECT DISTINCT actor FROM event_log WHERE event_id ="
                                  " ANY($1::uuid[])", [r["event_id"] for r in requested])
    finally:
        await conn.close()
    assert [a["actor"] for a in actors] == ["archiver"]


async def test_a_deleted_versions_lineage_is_still_answered_as_a_tombstone(
        policy_set: str, history: tuple[str, list[Version]], http: httpx.AsyncClient,
        namespace: Namespace) -> None:
    _, versions = history
    deleted = await until(lambda: _deleted_with_links(namespace, policy_set, versions), 120)
    assert deleted, "apply deletes versions with lineage"
    v = deleted[0]
    graph = await http.get(f"/v1/lineage/{v.ref}", params={"direction": "both"})
    assert graph.status_code == 200, graph.text
    root = next(n for n in graph.json()["nodes"] if n["id"] == v.ref)
    assert root["status"] == "deleted"
    edges = {(e["from"], e["to"]) for e in graph.json()["edges"]}
    assert edges >= {(v.ref, t) for t in v.links}
    detail = (await http.get("/v1/resolve", params={"ref": v.ref})).json()
    assert detail["status"] == "deleted" and detail["files"] and detail["links_out"]


async def _deleted_with_links(ns: Namespace, project: str, versions: list[Version]
                              ) -> list[Version]:
    now = await statuses(ns.database_url, project)
    return [v for v in versions if v.links and now.get(v.ref) == "deleted"]


async def test_the_ledger_refuses_what_retention_must_never_touch(
        policy_set: str, history: tuple[str, list[Version]], http: httpx.AsyncClient,
        cairn_env: dict[str, str], namespace: Namespace) -> None:
    _, versions = history
    now = await statuses(namespace.database_url, policy_set)
    prod = next(v for v in versions if v.stage == "production" and now[v.ref] == "active")
    held = next(v for v in versions if v.legal_hold and v.stage != "production")
    archived = next(v for v in versions if now[v.ref] == "archived" and not v.legal_hold)

    def change(v: Version, kind: str, **body: Any) -> dict[str, Any]:
        return new_event(v.artifact, kind, {"version": f"v{v.number}", **body},
                         actor="mallory", tool="test")

    probes = {
        "prod": change(prod, "LifecycleRequested", action="archive", reason=None),
        "held": change(held, "LifecycleRequested", action="delete", reason=None),
        "edit": change(archived, "MetadataEdited", changes='{"description": "x"}',
                       reverts=None),
        "stage": change(archived, "StageChanged", stage="staging"),
        "hold": change(archived, "MetadataEdited", changes='{"legal_hold": true}',
                       reverts=None),
    }
    got = await record(cairn_env, namespace, list(probes.values()))
    outcome = {k: got[e["event_id"]] for k, e in probes.items()}
    assert outcome["prod"]["reason"] == "protected"
    assert outcome["held"]["reason"] == "protected"
    assert outcome["edit"]["reason"] == outcome["stage"]["reason"] == "version_archived"
    assert outcome["hold"]["outcome"] == "applied"  # legal hold may still be set
    status = (await http.get(f"/v1/events/{probes['prod']['event_id']}")).json()
    assert status["status"] == "rejected" and "in production" in status["message"]


async def test_archive_tier_pull_restore_and_delete(
        blob_world: BlobWorld, api_token: str, tmp_path: Path) -> None:
    """With either blob store (blob_world: the local directory, then S3)."""
    sdk, api, cairn_env, where = blob_world.sdk, blob_world.api, blob_world.env, blob_world.where
    p = f"tier-{uuid.uuid4().hex[:8]}"
    (tmp_path / "own.bin").write_bytes(os.urandom(5000))
    (tmp_path / "shared.bin").write_bytes(os.urandom(5000))
    mine = sdk.publish("model", p, "m", [str(tmp_path / "own.bin"), str(tmp_path / "shared.bin")],
                       root=tmp_path)
    sdk.publish("model", p, "other", [str(tmp_path / "shared.bin")], root=tmp_path)
    own, shared = (sdk.show(mine.ref)["files"][i]["sha256"] for i in (0, 1))

    async def placed(sha: str, hot_cold: tuple[bool, bool]) -> bool:
        return bool(await until(lambda: where(sha) == hot_cold, 60))

    sdk_retention.archive(sdk, mine.ref, "tier test")
    assert await placed(own, (False, True)) and where(shared) == (True, False)
    with pytest.raises(CairnError, match="restore it first: cairn restore") as caught:
        sdk.pull(mine.ref, tmp_path / "out")
    assert caught.value.reason == "version_archived"
    pulled = cli(api, api_token, cairn_env, "pull", mine.ref, str(tmp_path / "cli"))
    assert pulled.returncode == 1 and "restore it first" in pulled.stderr
    restored = cli(api, api_token, cairn_env, "restore", mine.ref)
    assert restored.returncode == 0, restored.stderr
    assert await placed(own, (True, False))
    assert len(sdk.pull(mine.ref, tmp_path / "back")) == 2
    sdk_retention.delete(sdk, mine.ref)
    assert await placed(own, (False, False)) and where(shared) == (True, False)
    with pytest.raises(CairnError) as caught:
        sdk_retention.restore(sdk, mine.ref)
    assert caught.value.reason == "version_deleted"


async def test_the_validator_reads_files_from_the_same_store(
        blob_world: BlobWorld, tmp_path: Path) -> None:
    """The validator's files check finds a version's blobs where the api put them (with
    CAIRN_BLOB_URL, in the bucket, not in a directory that is not there)."""
    sdk = blob_world.sdk
    (tmp_path / "w.bin").write_bytes(os.urandom(3000))
    made = sdk.publish("model", f"val-judged-{uuid.uuid4().hex[:8]}", "m",
                       [str(tmp_path / "w.bin")], root=tmp_path)
    judged = await until(lambda: (d := sdk.show(made.ref))["validation"] != "pending" and d, 60)
    assert judged, "the validator did not judge the version within a minute"
    checks = {v["check"]: (v["status"], v["reasons"]) for v in judged["verdicts"]}
    assert checks["files"][0] == "passed", checks["files"]


async def test_a_deleted_blob_that_a_new_publish_reused_is_put_back(
        blob_world: BlobWorld, tmp_path: Path) -> None:
    """A client saw the blob stored and skipped its upload; a delete removed the blob before
    its publish was recorded. The archiver takes it back out of the trash for the new version,
    and the bytes are served again. With either blob store."""
    sdk, hot, trash = blob_world.sdk, blob_world.hot, blob_world.trash
    p = f"race-{uuid.uuid4().hex[:8]}"
    data = os.urandom(4096)
    (tmp_path / "weights.bin").write_bytes(data)
    first = sdk.publish("model", p, "m", [str(tmp_path / "weights.bin")], root=tmp_path)
    sha = sdk.show(first.ref)["files"][0]["sha256"]
    sdk_retention.delete(sdk, first.ref)
    assert await until(lambda: not hot.has(sha) and trash.has(sha), 60), "not in the trash"
    reuse = publish_event(p, "again", kind="model", content=data, actor="tester")
    got = await record(blob_world.env, blob_world.namespace, [reuse])
    assert got[reuse["event_id"]]["outcome"] == "applied"
    assert await until(lambda: hot.has(sha) and not trash.has(sha), 60), "not put back"
    out = sdk.pull(f"{p}/again@v1", tmp_path / "out")
    assert [f.read_bytes() for f in out] == [data]


async def test_the_archiver_applies_scheduled_policies_by_itself(
        api: Service, api_token: str, cairn_env: dict[str, str], namespace: Namespace,
        tmp_path: Path) -> None:
    p = await old_versions(cairn_env, namespace, "sched", "nightly", count=3, days=40)
    policy = toml_file(tmp_path, p, 'name = "nightly"\naction = "archive"\nkeep_last = 1\n'
                       "min_age_days = 30")
    done = cli(api, api_token, cairn_env, "retention", "set", p, str(policy))
    assert done.returncode == 0, done.stderr

    async def archived() -> dict[str, str]:
        got = await statuses(namespace.database_url, p)
        return got if list(got.values()).count("archived") == 2 else {}

    got = await until(archived, 60)
    assert got == {f"{p}/nightly@v1": "archived", f"{p}/nightly@v2": "archived",
                   f"{p}/nightly@v3": "active"}
    conn = await asyncpg.connect(namespace.database_url)
    try:
        rows = await conn.fetch("SELECT actor, event -> 'source' ->> 'tool' AS tool FROM"
                                " event_log WHERE artifact = $1 AND event_type ="
                                " 'LifecycleRequested'", f"{p}/nightly")
    finally:
        await conn.close()
    assert {(r["actor"], r["tool"]) for r in rows} == {("archiver", "archiver")}


async def test_the_cli_sets_holds_plans_and_applies(
        api: Service, api_token: str, cairn_env: dict[str, str], namespace: Namespace,
        tmp_path: Path) -> None:
    p = await old_versions(cairn_env, namespace, "cli", "exp", count=4, days=10)
    policy = toml_file(tmp_path, p, 'name = "runs"\naction = "archive"\nkeep_last = 1',
                       scheduled=False)

    def ok(*args: str) -> str:
        done = cli(api, api_token, cairn_env, *args)
        assert done.returncode == 0, f"cairn {' '.join(args)}: {done.stderr}"
        return done.stdout

    ok("retention", "set", p, str(policy))
    ok("hold", f"{p}/exp@v1")
    assert "keep_last=1" in ok("retention", "show", p)
    plan = json.loads(ok("retention", "plan", p, "--json"))
    assert [a["ref"] for a in plan["actions"]] == [f"{p}/exp@v2", f"{p}/exp@v3"]
    assert [a["ref"] for a in plan["protected"]] == [f"{p}/exp@v1"]
    assert "2 of 2 applied" in ok("retention", "apply", p)
    assert await statuses(namespace.database_url, p) == {
        f"{p}/exp@v1": "active", f"{p}/exp@v2": "archived", f"{p}/exp@v3": "archived",
        f"{p}/exp@v4": "active"}
    refused = cli(api, api_token, cairn_env, "archive", f"{p}/exp@v1")
    assert refused.returncode == 1 and "legal hold" in refused.stderr
