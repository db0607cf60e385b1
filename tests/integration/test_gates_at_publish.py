"""A stage given at publish meets that stage's gate, and a legal hold is a maintainer's act,
at the api and at the ledger (service accounts producing to Kafka), on the real stack.

Issue 9, findings 2 and 5: a contributor published straight into production (recorded with
validation invalid), and released a legal hold with a metadata edit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.events import new_event
from cairn.sdk import Client
from cairn.sdk.errors import CairnError

from tests.conftest import API_TOKEN, Namespace
from tests.ledger_helpers import publish_event, settings_for, wait_recorded
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
ROLES = ("contributor", "maintainer")


@dataclass
class Gated:
    project: str  # the default lifecycle: production needs maintainer, valid verdict, eval
    role_only: str  # production needs a maintainer and nothing else
    users: dict[str, str]  # role -> user name
    tokens: dict[str, str]  # role -> token
    accounts: dict[str, str]  # role -> service account
    keys: dict[str, str]  # role -> service account's signing key


async def _applied(ns: Namespace, reply: httpx.Response) -> None:
    assert reply.status_code in (200, 201, 202), reply.text
    got = await wait_recorded(ns.database_url, [reply.json()["event_id"]])
    assert {r["outcome"] for r in got.values()} == {"applied"}, got


@pytest.fixture(scope="module")
async def gated(api: Service, namespace: Namespace) -> Gated:
    tag = uuid.uuid4().hex[:6]
    users = {role: f"{role[:3]}-{tag}" for role in ROLES}
    accounts = {role: f"sa-{role[:3]}-{tag}" for role in ROLES}
    world = Gated(f"gate-{tag}", f"gaterole-{tag}", users, {}, accounts, {})
    members = {**{users[r]: r for r in ROLES}, **{accounts[r]: r for r in ROLES}}
    admin = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=api.url, headers=admin, timeout=30) as http:
        for name in users.values():
            await _applied(namespace, await http.put(f"/v1/users/{name}", json={}))
        for role, name in accounts.items():
            await _applied(namespace, await http.put(f"/v1/service-accounts/{name}",
                                                     json={"trusted": False}))
            world.keys[role] = (await http.get(f"/v1/service-accounts/{name}/key")
                                ).json()["key"]
        await _applied(namespace, await http.put(f"/v1/projects/{world.project}",
                                                 json={"members": members}))
        await _applied(namespace, await http.put(f"/v1/projects/{world.role_only}", json={
            "members": members,
            "lifecycle": {"gates": {"production": {"role": "maintainer"}}}}))
        for role, name in users.items():
            made = (await http.post("/v1/tokens", json={"owner": name, "scopes": ["admin"]})
                    ).json()
            world.tokens[role] = made["token"]
            await _applied(namespace, httpx.Response(202, json=made))
    return world


def _sdk(api: Service, token: str, cairn_env: dict[str, str]) -> Client:
    return Client(api.url, token, settings_for(cairn_env), progress=False)


def _publish(sdk: Client, tmp: Path, project: str, name: str, stage: str | None) -> Any:
    path = tmp / f"{name}-{uuid.uuid4().hex[:6]}.bin"
    path.write_bytes(uuid.uuid4().bytes)
    return sdk.publish("model", project, name, [str(path)], root=tmp, stage=stage,
                       metadata={"creator": "tests", "license": "MIT"})


def _refused(sdk: Client, tmp: Path, project: str, name: str, stage: str) -> CairnError:
    with pytest.raises(CairnError) as err:
        _publish(sdk, tmp, project, name, stage)
    return err.value


def _absent(api: Service, artifact: str) -> bool:
    reply = httpx.get(f"{api.url}/v1/artifacts/{artifact}",
                      headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    return reply.status_code == 404


def _denials(api: Service, project: str, actor: str) -> list[dict[str, Any]]:
    """The AccessDenied entries of `actor` in the project's audit log (they are queued)."""
    query = {"project": project, "action": "AccessDenied", "actor": actor, "limit": 100}
    entries: list[dict[str, Any]] = []
    for _ in range(60):
        page = httpx.get(f"{api.url}/v1/audit", params=query, timeout=30,
                         headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert page.status_code == 200, page.text
        entries = page.json()["entries"]
        if entries:
            break
        time.sleep(0.5)
    return entries


def test_a_publish_into_production_meets_its_gate(
        api: Service, gated: Gated, cairn_env: dict[str, str], tmp_path: Path) -> None:
    p = gated.project
    with _sdk(api, gated.tokens["contributor"], cairn_env) as sdk:
        refused = _refused(sdk, tmp_path, p, "straight-in", "production")
        assert (refused.status, refused.reason) == (403, "forbidden"), refused
        assert "maintainer" in refused.message
        staged = _publish(sdk, tmp_path, p, "staged", "staging")  # ungated: a contributor's
        developed = _publish(sdk, tmp_path, p, "developed", "development")
        assert sdk.show(staged.ref)["stage"] == "staging"
        assert sdk.show(developed.ref)["stage"] == "development"
    assert _absent(api, f"{p}/straight-in")
    denied = _denials(api, p, gated.users["contributor"])
    assert denied and denied[0]["denial"]["status"] == 403
    with _sdk(api, gated.tokens["maintainer"], cairn_env) as sdk:
        refused = _refused(sdk, tmp_path, p, "too-early", "production")
        assert (refused.status, refused.reason) == (422, "gate_needs_promotion"), refused
        assert "publish without --stage production" in refused.message
        assert f"cairn stage {p}/too-early@vN production" in refused.message
        off_ladder = _refused(sdk, tmp_path, p, "shipped", "shipped")
        assert (off_ladder.status, off_ladder.reason) == (422, "unknown_stage")
    assert _absent(api, f"{p}/too-early") and _absent(api, f"{p}/shipped")


def test_a_gate_that_asks_only_a_role_is_met_by_the_role(
        api: Service, gated: Gated, cairn_env: dict[str, str], tmp_path: Path) -> None:
    p = gated.role_only
    with _sdk(api, gated.tokens["contributor"], cairn_env) as sdk:
        refused = _refused(sdk, tmp_path, p, "by-contributor", "production")
        assert (refused.status, refused.reason) == (403, "forbidden")
    with _sdk(api, gated.tokens["maintainer"], cairn_env) as sdk:
        shipped = _publish(sdk, tmp_path, p, "by-maintainer", "production")
        assert sdk.show(shipped.ref)["stage"] == "production"
    assert _absent(api, f"{p}/by-contributor")


def test_the_cli_says_to_publish_then_promote(
        api: Service, gated: Gated, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(uuid.uuid4().bytes)
    env = {**os.environ, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": gated.tokens["maintainer"]}
    done = subprocess.run([CAIRN, "publish", "model", f"{gated.project}/cli-model",
                           "weights.bin", "-C", str(tmp_path), "--stage", "production"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    said = done.stderr.strip()
    assert "gate_needs_promotion" in said and "publish without --stage production" in said
    assert "cairn stage" in said, said


def _as(account: str, key: str, cairn_env: dict[str, str]) -> Emitter:
    return Emitter(settings_for({**cairn_env, "CAIRN_PRODUCER": account,
                                 "CAIRN_PRODUCER_KEY": key}), "test-producer")


def _staged(event: dict[str, Any], stage: str) -> dict[str, Any]:
    name, body = event["payload"]
    event["payload"] = (name, {**body, "stage": stage})
    return event


async def test_service_accounts_meet_the_gate_at_publish(
        gated: Gated, cairn_env: dict[str, str], namespace: Namespace) -> None:
    con, mai = gated.accounts["contributor"], gated.accounts["maintainer"]
    as_con = _as(con, gated.keys["contributor"], cairn_env)
    as_mai = _as(mai, gated.keys["maintainer"], cairn_env)
    p, r = gated.project, gated.role_only
    skipping = _staged(publish_event(p, "sa-skip", actor=con), "production")
    too_early = _staged(publish_event(p, "sa-early", actor=mai), "production")
    staged = _staged(publish_event(p, "sa-staged", actor=con), "staging")
    role_only = _staged(publish_event(r, "sa-role", actor=mai), "production")
    role_refused = _staged(publish_event(r, "sa-role-con", actor=con), "production")
    try:
        as_con.emit(skipping, staged, role_refused)
        as_mai.emit(too_early, role_only)
        ids = [e["event_id"] for e in (skipping, too_early, staged, role_only, role_refused)]
        got = await wait_recorded(namespace.database_url, [str(i) for i in ids])
    finally:
        as_con.close()
        as_mai.close()
    outcome = {e["payload"][1]["name"]: got[str(e["event_id"])]["reason"] or
               got[str(e["event_id"])]["outcome"]
               for e in (skipping, too_early, staged, role_only, role_refused)}
    assert outcome == {"sa-skip": "forbidden", "sa-early": "gate_needs_promotion",
                       "sa-staged": "applied", "sa-role": "applied",
                       "sa-role-con": "forbidden"}


async def test_a_legal_hold_is_a_maintainers_act(
        api: Service, gated: Gated, cairn_env: dict[str, str], namespace: Namespace,
        tmp_path: Path) -> None:
    p = gated.project
    with _sdk(api, API_TOKEN, cairn_env) as sdk:
        ref = _publish(sdk, tmp_path, p, "held", None).ref
    path = f"/v1/artifacts/{p}/held/versions/v1"
    by = {role: httpx.Client(base_url=api.url, timeout=30, headers={
        "Authorization": f"Bearer {gated.tokens[role]}"}) for role in ROLES}
    try:
        hold = by["maintainer"].patch(f"{path}/metadata", json={"changes": {"legal_hold": True}})
        await _applied(namespace, hold)
        release = by["contributor"].patch(f"{path}/metadata",
                                          json={"changes": {"legal_hold": False}})
        assert release.status_code == 403, release.text
        assert release.json()["error"]["reason"] == "forbidden" and "maintainer" in release.text
        undo = by["contributor"].post(f"{path}/revert",
                                      json={"event_id": hold.json()["event_id"]})
        assert undo.status_code == 403, undo.text
        unknown = by["contributor"].post(f"{path}/revert", json={"event_id": str(uuid.uuid4())})
        assert (unknown.status_code, unknown.json()["error"]["reason"]) == (404, "unknown_edit")
        described = by["contributor"].patch(f"{path}/metadata",
                                            json={"changes": {"description": "kept"}})
        await _applied(namespace, described)  # other fields stay a contributor's
        assert by["contributor"].get(path).json()["legal_hold"] is True
        assert any(d["denial"]["status"] == 403
                   for d in _denials(api, p, gated.users["contributor"]))
        undone = by["maintainer"].post(f"{path}/revert",
                                       json={"event_id": hold.json()["event_id"]})
        await _applied(namespace, undone)
        assert by["maintainer"].get(path).json()["legal_hold"] is False
    finally:
        for http in by.values():
            http.close()
    assert ref == f"{p}/held@v1"


async def test_service_accounts_need_the_hold_role(
        api: Service, gated: Gated, cairn_env: dict[str, str], namespace: Namespace,
        tmp_path: Path) -> None:
    p = gated.project
    with _sdk(api, API_TOKEN, cairn_env) as sdk:
        _publish(sdk, tmp_path, p, "sa-held", None)
    con, mai = gated.accounts["contributor"], gated.accounts["maintainer"]
    as_con = _as(con, gated.keys["contributor"], cairn_env)
    as_mai = _as(mai, gated.keys["maintainer"], cairn_env)

    def edit(actor: str, changes: dict[str, Any] | None = None, reverts: str | None = None
             ) -> dict[str, Any]:
        return new_event(f"{p}/sa-held", "MetadataEdited", {
            "version": "v1", "changes": json.dumps(changes or {}), "reverts": reverts},
            actor=actor, tool="test")

    async def recorded(emitter: Emitter, *events: dict[str, Any]) -> list[str]:
        await emitter.emit_async(*events)
        got = await wait_recorded(namespace.database_url, [str(e["event_id"]) for e in events])
        return [got[str(e["event_id"])]["reason"] or got[str(e["event_id"])]["outcome"]
                for e in events]

    try:
        hold = edit(mai, {"legal_hold": True})
        assert await recorded(as_mai, hold) == ["applied"]
        assert await recorded(as_con, edit(con, {"legal_hold": False}),
                              edit(con, reverts=str(hold["event_id"])),
                              edit(con, {"description": "fine"})) == \
            ["forbidden", "forbidden", "applied"]
        release = edit(mai, {"legal_hold": False})
        assert await recorded(as_mai, release) == ["applied"]
    finally:
        as_con.close()
        as_mai.close()
