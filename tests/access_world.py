"""A small world for access-control tests, built through the real api and ledger.

One private project with a member of each role (viewer, contributor, maintainer, admin, all
in one team), a user with no role (outsider), a public project whose model was trained on
the private dataset, tokens for everyone (plus an expired and a revoked one), and two
subscriptions on the private project. `site_admin` is the api's bootstrap token.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.core.domain.events import new_config_event
from cairn.core.domain.tokens import digest, new_token
from cairn.sdk import Client

from tests.conftest import API_TOKEN, Namespace, api_env
from tests.ledger_helpers import emitter_for, settings_for, wait_recorded
from tests.processes import Service

ROLES = ("viewer", "contributor", "maintainer", "admin")
CALLERS = ("anonymous", "expired", "revoked", "outsider", *ROLES, "site_admin")
LEVEL = {"anonymous": 0, "expired": 0, "revoked": 0, "outsider": 1, "viewer": 2,
         "contributor": 3, "maintainer": 4, "admin": 5, "site_admin": 6}
HOOK = "http://127.0.0.1:9/cairn-hook"  # never called: nothing runs a notifier here


@dataclass
class World:
    api: Service
    tag: str
    private: str
    public: str
    team: str
    users: dict[str, str]
    tokens: dict[str, str | None]
    project_body: dict[str, Any]
    blob: dict[str, Any] = field(default_factory=dict)  # a file of the private model
    event_id: str = ""  # the private model's publish
    subscriptions: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return f"{self.private}/quokka-model@v1"

    def headers(self, caller: str) -> dict[str, str]:
        token = self.tokens[caller]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def client(self, caller: str) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, timeout=30, headers=self.headers(caller))


def _accepted(reply: httpx.Response) -> str:
    assert reply.status_code in (200, 201, 202), reply.text
    return str(reply.json()["event_id"])


async def _recorded(ns: Namespace, event_ids: list[str]) -> None:
    got = await wait_recorded(ns.database_url, event_ids)
    assert len(got) == len(event_ids) and {r["outcome"] for r in got.values()} == {"applied"}, got


async def _expired_token(cairn_env: dict[str, str], owner: str) -> tuple[str, dict[str, Any]]:
    """A token whose expiry passed, as the ledger would hold it (the api never makes one)."""
    token_id, token = new_token()
    event = new_config_event("token", token_id, {
        "hash": digest(token), "owner": owner, "owner_kind": "user", "scopes": ["admin"],
        "expires_at": int(time.time() * 1000) - 60_000, "revoked": False}, actor="test",
        tool="test")
    emitter = emitter_for(cairn_env)
    try:
        await emitter.emit_config_async(event)
    finally:
        emitter.close()
    return token, event


async def build(api: Service, cairn_env: dict[str, str], ns: Namespace, tmp: Path) -> World:
    tag = uuid.uuid4().hex[:6]
    users = {role: f"{role[:2]}-{tag}" for role in (*ROLES, "outsider")}
    private, public, team = f"acl-{tag}", f"aclpub-{tag}", f"team-{tag}"
    body = {"visibility": "private", "members": {users[r]: r for r in ROLES}, "teams": {},
            "read_only_after_days": None, "description": "access-control tests"}
    world = World(api, tag, private, public, team, users, {"anonymous": None,
                                                           "site_admin": API_TOKEN}, body)
    admin = world.client("site_admin")
    events = [_accepted(admin.put(f"/v1/users/{u}", json={})) for u in users.values()]
    events.append(_accepted(admin.put(f"/v1/teams/{team}",
                                      json={"members": [users[r] for r in ROLES]})))
    events.append(_accepted(admin.put(f"/v1/projects/{private}", json=body)))
    await _recorded(ns, events)
    for who, name in users.items():
        made = admin.post("/v1/tokens", json={"owner": name, "scopes": ["admin"]}).json()
        world.tokens[who] = made["token"]
        events.append(made["event_id"])
    doomed = admin.post("/v1/tokens", json={"owner": users["viewer"]}).json()
    world.tokens["revoked"] = doomed["token"]
    await _recorded(ns, [*events, doomed["event_id"]])
    await _recorded(ns, [_accepted(admin.delete(f"/v1/tokens/{doomed['id']}"))])
    world.tokens["expired"], expired = await _expired_token(cairn_env, users["viewer"])
    await _recorded(ns, [expired["event_id"]])
    await _publish(world, cairn_env, tmp)
    for _ in range(2):
        sub = admin.post("/v1/subscriptions", json={"team": team, "url": HOOK,
                                                    "filter": {"projects": [private]}}).json()
        world.subscriptions.append(sub["id"])
        await _recorded(ns, [sub["event_id"]])
    admin.close()
    return world


def _file(tmp: Path, name: str, content: bytes) -> list[str]:
    path = tmp / name
    path.write_bytes(content)
    return [str(path)]


async def _publish(world: World, cairn_env: dict[str, str], tmp: Path) -> None:
    """private: quokka-data ← quokka-model (tag wombat), scratch; public: quokka-public,
    trained on the private dataset."""
    p, tag = world.private, world.tag
    meta = {"creator": "tests", "license": "MIT"}
    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        sdk.publish("dataset", p, "quokka-data", _file(tmp, f"d-{tag}", uuid.uuid4().bytes),
                    metadata=meta, root=tmp)
        secret = uuid.uuid4().bytes * 3
        model = sdk.publish("model", p, "quokka-model", _file(tmp, f"m-{tag}", secret),
                            metadata={**meta, "tags": ["wombat"]}, root=tmp,
                            links=[("trained_on", f"{p}/quokka-data@v1")])
        world.event_id = model.event_id
        world.blob = {"path": f"m-{tag}", "size": len(secret),
                      "sha256": hashlib.sha256(secret).hexdigest()}
        sdk.publish("dataset", p, "scratch", _file(tmp, f"s-{tag}", uuid.uuid4().bytes),
                    metadata=meta, root=tmp)
        sdk.publish("model", world.public, "quokka-public",
                    _file(tmp, f"pub-{tag}", uuid.uuid4().bytes), metadata=meta, root=tmp,
                    links=[("trained_on", f"{p}/quokka-data@v1")])


@pytest.fixture(scope="module")
def world_api(cairn_env: dict[str, str], ledger: Service, indexer: Service,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """An api whose subscriptions may name a loopback webhook (none is ever called)."""
    env = api_env(cairn_env, CAIRN_ALLOW_PRIVATE_WEBHOOKS="true")
    service = Service("api", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module", name="world")
async def world_fixture(world_api: Service, cairn_env: dict[str, str], namespace: Namespace,
                tmp_path_factory: pytest.TempPathFactory) -> World:
    return await build(world_api, cairn_env, namespace, tmp_path_factory.mktemp("files"))
