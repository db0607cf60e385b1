"""Access control on the real stack: what private projects leave out of search, facets,
suggestions, lineage and links; tokens made, scoped and revoked; `cairn login`; read-only
versions; a hand-edited log row named by `cairn audit verify`; placeholder secrets refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.readmodel.audit import verify_chain
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import Namespace, api_env
from tests.ledger_helpers import emitter_for, publish_event, settings_for, wait_recorded
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")


async def _until(check: Any, within: float = 60.0) -> Any:
    for _ in range(int(within / 0.5)):
        got = check()
        if got:
            return got
        await asyncio.sleep(0.5)
    raise AssertionError("not in time")


def _search(world: World, caller: str, **params: Any) -> dict[str, Any]:
    with world.client(caller) as http:
        reply = http.get("/v1/search", params={"project": [world.private, world.public],
                                               "size": 50, **params})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _suggest(world: World, caller: str, prefix: str, field: str) -> list[str]:
    with world.client(caller) as http:
        reply = http.get("/v1/suggest", params={"prefix": prefix, "field": field})
    return [s["value"] for s in reply.json()["suggestions"]]


def _facet(answer: dict[str, Any], name: str) -> dict[str, int]:
    return {f["value"]: f["count"] for f in answer["facets"][name]}


async def test_private_projects_stay_out_of_search_facets_and_suggestions(world: World) -> None:
    await _until(lambda: _search(world, "site_admin")["total"] == 4)
    p, q = world.private, world.public
    for caller in ("anonymous", "outsider", "expired"):
        seen = _search(world, caller)
        assert seen["total"] == 1 and [h["project"] for h in seen["hits"]] == [q]
        projects = _facet(seen, "project")  # counted without its own filter: all visible
        assert projects[q] == 1 and p not in projects  # the private one is not counted
        assert "wombat" not in _facet(seen, "tag")
        assert not any(d.startswith(f"{p}/") for d in _facet(seen, "dataset"))
        assert p not in json.dumps(seen)  # no hit names the private dataset
        assert _suggest(world, caller, "quokka", "name") == [f"{q}/quokka-public"]
        assert _suggest(world, caller, "womb", "tag") == []
    member = _search(world, "viewer")
    assert member["total"] == 4 and _facet(member, "project")[p] == 3
    assert _facet(member, "dataset") == {f"{p}/quokka-data": 2}
    assert f"{p}/quokka-model" in _suggest(world, "viewer", "quokka", "name")
    assert _suggest(world, "viewer", "womb", "tag") == ["wombat"]


def test_lineage_and_links_show_private_versions_as_redacted(world: World) -> None:
    p, ref = world.private, f"{world.public}/quokka-public@v1"
    with world.client("outsider") as http:
        graph = http.get("/v1/lineage", params={"ref": ref, "direction": "up"}).json()
        detail = http.get("/v1/resolve", params={"ref": ref}).json()
        assert http.get("/v1/lineage", params={"ref": world.model}).status_code == 404
        assert http.get(f"/v1/artifacts/{p}/quokka-model/versions/v1").status_code == 404
    assert p not in json.dumps(graph) and p not in json.dumps(detail)
    assert {"id": "redacted-1", "redacted": True, "distance": 1} in graph["nodes"]
    assert graph["edges"] == [{"from": ref, "to": "redacted-1", "relation": "trained_on"}]
    assert detail["links_out"] == [{"relation": "trained_on", "redacted": True}]
    with world.client("viewer") as http:
        graph = http.get("/v1/lineage", params={"ref": ref, "direction": "up"}).json()
        assert f"{p}/quokka-data@v1" in {n["id"] for n in graph["nodes"]}
        usage = http.get(f"/v1/artifacts/{p}/quokka-model/versions/v1").json()["usage"]
        assert set(usage) >= {"views", "downloads"}  # members see the usage figures
    with world.client("anonymous") as http:
        reply = http.get(f"/v1/artifacts/{p}/quokka-model/versions/v1")
        assert reply.status_code == 404 and "www-authenticate" not in reply.headers


async def test_tokens_are_scoped_listed_and_revoked(world: World, namespace: Namespace) -> None:
    with world.client("contributor") as http:
        made = http.post("/v1/tokens", json={"scopes": ["read"], "description": "ci"}).json()
        assert made["token"].startswith("cairn_") and made["scopes"] == ["read"]
        await wait_recorded(namespace.database_url, [made["event_id"]])
        listed = http.get("/v1/tokens").json()
        assert made["id"] in {t["id"] for t in listed}
        assert "hash" not in json.dumps(listed) and made["token"] not in json.dumps(listed)
        other = http.get("/v1/tokens", params={"owner": world.users["viewer"]})
        assert other.status_code == 403
        assert http.get(f"/v1/events/{made['event_id']}").json()["status"] == "recorded"
    with world.client("anonymous") as http:  # a configuration change is no public read
        assert http.get(f"/v1/events/{made['event_id']}").status_code == 401
    read_only = {"Authorization": f"Bearer {made['token']}"}
    with httpx.Client(base_url=world.api.url, headers=read_only, timeout=30) as http:
        assert http.get("/v1/whoami").json()["scopes"] == ["read"]
        refused = http.patch(f"/v1/artifacts/{world.private}/scratch/versions/v1/metadata",
                             json={"changes": {"description": "x"}})
        assert refused.json()["error"]["reason"] == "insufficient_scope"
        wider = http.post("/v1/tokens", json={"scopes": ["publish"]})
        assert wider.json()["error"]["reason"] == "insufficient_scope"
        with world.client("contributor") as owner:
            revoked = owner.delete(f"/v1/tokens/{made['id']}").json()
        await wait_recorded(namespace.database_url, [revoked["event_id"]])
        gone = http.get("/v1/whoami")
        assert gone.status_code == 401 and "revoked" in gone.json()["error"]["message"]


async def test_a_disabled_user_is_refused(world: World, namespace: Namespace) -> None:
    name = f"gone-{world.tag}"
    with world.client("site_admin") as admin:
        await wait_recorded(namespace.database_url,
                            [admin.put(f"/v1/users/{name}", json={}).json()["event_id"]])
        made = admin.post("/v1/tokens", json={"owner": name}).json()
        await wait_recorded(namespace.database_url, [made["event_id"]])
        mine = {"Authorization": f"Bearer {made['token']}"}
        assert admin.get("/v1/whoami", headers=mine).json()["name"] == name
        changed = admin.put(f"/v1/users/{name}", json={"disabled": True}).json()
        await wait_recorded(namespace.database_url, [changed["event_id"]])
        refused = admin.get("/v1/whoami", headers=mine)
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]


def _cli(world: World, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CAIRN_TOKEN", "CAIRN_API_URL")}
    env.update(CAIRN_CONFIG=str(config))
    return subprocess.run([CAIRN, "--api-url", world.api.url, *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_login_stores_the_token_for_the_cli_and_sdk(world: World, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cairn" / "config.toml"
    bad = _cli(world, config, "login", "--token", "cairn_0000000000000000_" + "x" * 43)
    assert bad.returncode == 1 and not config.exists()
    done = _cli(world, config, "login", "--token", str(world.tokens["viewer"]))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    me = json.loads(_cli(world, config, "whoami", "--json").stdout)
    assert me["name"] == world.users["viewer"] and me["roles"] == {world.private: "viewer"}
    shown = _cli(world, config, "show", world.model, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["ref"] == world.model
    monkeypatch.setenv("CAIRN_CONFIG", str(config))
    monkeypatch.delenv("CAIRN_TOKEN", raising=False)
    monkeypatch.setenv("CAIRN_API_URL", world.api.url)
    with Client(progress=False) as sdk:  # no token given: the stored one
        assert sdk.show(world.model)["ref"] == world.model
    assert _cli(world, config, "logout").returncode == 0 and not config.exists()
    refused = _cli(world, config, "show", world.model)  # signed out: no such project
    assert refused.returncode == 1 and "not_found" in refused.stderr, refused.stderr


async def test_old_versions_of_a_read_only_project_refuse_edits(
        world: World, namespace: Namespace, cairn_env: dict[str, str], tmp_path: Path) -> None:
    project = f"ro-{world.tag}"
    with world.client("site_admin") as admin:
        set_up = admin.put(f"/v1/projects/{project}", json={"read_only_after_days": 0})
        await wait_recorded(namespace.database_url, [set_up.json()["event_id"]])
        (tmp_path / "f").write_bytes(uuid.uuid4().bytes)
        with Client(world.api.url, str(world.tokens["site_admin"]), settings_for(cairn_env),
                    progress=False) as sdk:
            ref = sdk.publish("dataset", project, "old", [str(tmp_path / "f")],
                              root=tmp_path).ref
        base = f"/v1/artifacts/{project}/old/versions/v1"
        asked = {
            "edit": admin.patch(f"{base}/metadata", json={"changes": {"description": "new"}}),
            "staging": admin.put(f"{base}/stage", json={"stage": "staging"}),
            "hold": admin.patch(f"{base}/metadata", json={"changes": {"legal_hold": True}}),
            "archived": admin.put(f"{base}/stage", json={"stage": "archived"}),
        }
    got = await wait_recorded(namespace.database_url,
                              [r.json()["event_id"] for r in asked.values()])
    outcome = {k: got[r.json()["event_id"]] for k, r in asked.items()}
    assert outcome["edit"]["reason"] == outcome["staging"]["reason"] == "read_only_version"
    assert outcome["hold"]["outcome"] == outcome["archived"]["outcome"] == "applied", ref


async def test_a_hand_edited_log_column_is_named_by_audit_verify(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    """The hash covers the event; the actor column GET /v1/audit reads is checked too."""
    event = publish_event(f"tamper-{uuid.uuid4().hex[:6]}", "x")
    emitter = emitter_for(cairn_env)
    try:
        emitter.emit(event)
    finally:
        emitter.close()
    seq = (await wait_recorded(namespace.database_url, [event["event_id"]]))[
        event["event_id"]]["seq"]
    conn = await asyncpg.connect(namespace.database_url)
    try:
        await conn.execute("UPDATE event_log SET actor = 'mallory' WHERE seq = $1", seq)
        report = await verify_chain(namespace.database_url)
        assert not report.ok and report.first_bad_seq == seq and "actor" in str(report.problem)
        cli = await asyncio.to_thread(
            subprocess.run, [CAIRN, "audit", "verify"], capture_output=True, text=True,
            timeout=120, env={**os.environ, "DATABASE_URL": namespace.database_url})
        assert cli.returncode == 1 and f"at seq {seq}" in cli.stderr
    finally:
        await conn.execute("UPDATE event_log SET actor = $2 WHERE seq = $1", seq,
                           event["actor"])
        await conn.close()
    assert (await verify_chain(namespace.database_url)).ok


def test_placeholder_tokens_stop_the_api_outside_development(
        cairn_env: dict[str, str], ledger: Service, tmp_path: Path) -> None:
    production = api_env(cairn_env, CAIRN_ENVIRONMENT="production")  # secret-token: refused
    with pytest.raises(RuntimeError, match="exited"):
        Service("api", production, tmp_path).start(ready_timeout=60)
    assert "is refused because" in (tmp_path / "api.log").read_text()
    strong = {**production, "CAIRN_API_TOKENS": f"alice={secrets.token_hex(24)}",
              "CAIRN_SIGNING_KEY": secrets.token_hex(32)}
    (tmp_path / "strong").mkdir()
    service = Service("api", strong, tmp_path / "strong").start()
    service.stop()


def test_stage_and_alias_moves_need_the_role_the_lifecycle_rules_ask(world: World) -> None:
    """Defaults: a contributor moves versions to staging and non-protected aliases; production
    and protected aliases (prod, champion) need a maintainer."""
    base = f"/v1/artifacts/{world.private}/quokka-data"
    asked = {("contributor", "stage", "staging"): 202, ("contributor", "stage", "production"): 403,
             ("viewer", "stage", "staging"): 403, ("contributor", "alias", "candidate"): 202,
             ("contributor", "alias", "prod"): 403, ("maintainer", "alias", "prod"): 202}
    for (caller, what, value), status in asked.items():
        with world.client(caller) as http:
            reply = http.put(f"{base}/versions/v1/stage", json={"stage": value}) \
                if what == "stage" else http.put(f"{base}/aliases/{value}", json={"version": "v1"})
        assert reply.status_code == status, (caller, what, value, reply.text)
