"""Every route × every caller on the real stack, generated from the policy table: a new route
shows up here by itself, with the expectation its rule implies.

Callers climb a ladder: anonymous (and an expired or a revoked token, which count for
nothing) < a user with no role (outsider) < viewer < contributor < maintainer < admin of the
private project < a registry administrator. A rule lets in everyone from one rung up; below
it the policy refuses with 401 (no valid token) or 403, naming the permission it lacked. Any
other answer (2xx, 400, 404, 422, ...) came from the route itself: the policy let it through.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from cairn.api.policy import RULES, Rule

from tests.access_world import CALLERS, HOOK, LEVEL, World, world_api, world_fixture  # noqa: F401

CASES = [(method, path, caller) for (method, path) in sorted(RULES) for caller in CALLERS]


def least(rule: Rule) -> int:
    """The lowest rung a rule lets in."""
    if rule.permission == "public" or rule.where == "filtered":
        return 0
    if rule.permission == "site_admin":
        return LEVEL["site_admin"]
    if rule.where == "team":  # the team's members: the project's four
        return LEVEL["viewer"]
    if rule.permission == "authenticated" or rule.where == "none":  # a token (with the scope)
        return LEVEL["outsider"]
    return LEVEL[{"read": "viewer", "publish": "contributor", "maintain": "maintainer",
                  "admin": "admin"}[rule.permission]]


def request_for(world: World, method: str, path: str) -> dict[str, Any]:
    """A concrete request for the route, aimed at the private project."""
    p = world.private
    params = {"project": p, "name": "scratch", "selector": "v1", "alias": "prod",
              "sha256": world.blob["sha256"], "event_id": world.event_id,
              "ref": world.model, "token_id": "0" * 16, "user": f"zz-{world.tag}",
              "team": world.team, "account": f"sa-{world.tag}",
              "sub_id": world.subscriptions[1 if method == "DELETE" else 0]}
    url = re.sub(r"\{(\w+)(:path)?\}", lambda m: params.get(m.group(1), "x1"), path)
    query = {"/v1/resolve": {"ref": world.model}, "/v1/lineage": {"ref": world.model},
             "/v1/search": {"q": "quokka"}, "/v1/suggest": {"prefix": "quo"},
             "/v1/subscriptions": {"team": world.team}, "/v1/audit": {"project": p}}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/artifacts"): {"kind": "dataset", "project": p, "name": "scratch",
                                    "files": [world.blob], "metadata": {"creator": "t"}},
        ("POST", "/v1/usage"): {"ref": world.model, "action": "view"},
        ("POST", "/v1/subscriptions"): {"team": world.team, "url": HOOK,
                                        "filter": {"projects": [p]}},
        ("POST", "/v1/blobs/missing"): {"sha256": [world.blob["sha256"]]},
        ("PUT", "/v1/teams/{team}"): {"members": sorted(world.project_body["members"])},
        ("PUT", "/v1/projects/{project}"): world.project_body,  # as it is: changes nothing
    }
    sent: dict[str, Any] = {"method": method, "url": url,
                            "params": query.get(path) if method == "GET" else None}
    if (method, path) == ("PUT", "/v1/blobs/{sha256}"):
        sent["content"] = b"not the blob"  # refused as a digest mismatch once let through
    elif method not in ("GET", "HEAD", "DELETE"):
        sent["json"] = bodies.get((method, path), {})
    return sent


def refused_by_policy(reply: httpx.Response) -> bool:
    if reply.status_code not in (401, 403):
        return False
    if reply.request.method == "HEAD":  # no body; no route answers HEAD with 401 or 403
        return True
    if reply.headers.get("content-type", "").startswith("text/html"):  # the web UI's page
        return "data-permission=" in reply.text
    return "permission" in reply.json().get("error", {})


@pytest.mark.parametrize(("method", "path", "caller"), CASES,
                         ids=[f"{m} {p} {c}" for m, p, c in CASES])
def test_route_by_caller(world: World, method: str, path: str, caller: str) -> None:
    rule = RULES[(method, path)]
    allowed = LEVEL[caller] >= least(rule)
    with world.client(caller) as http:
        reply = http.request(**request_for(world, method, path))
    if allowed:
        assert not refused_by_policy(reply), (reply.status_code, reply.text[:300])
        assert reply.status_code < 500, reply.text[:300]
    else:
        assert refused_by_policy(reply), (reply.status_code, reply.text[:300])
        assert reply.status_code == (401 if LEVEL[caller] == 0 else 403), reply.text[:300]


def test_refusals_are_in_the_audit_log(world: World) -> None:
    """After the matrix: the private project's maintainers see who was turned away."""
    wanted = {"anonymous", world.users["outsider"], world.users["viewer"]}
    query = {"project": world.private, "action": "AccessDenied", "limit": 1000}
    with world.client("maintainer") as http:
        for _ in range(60):
            page = http.get("/v1/audit", params=query)
            assert page.status_code == 200, page.text
            entries = page.json()["entries"]
            if wanted <= {e["actor"] for e in entries}:
                break
            time.sleep(0.5)
    assert wanted <= {e["actor"] for e in entries}
    denial = next(e for e in entries if e["actor"] == world.users["outsider"])
    assert denial["denial"]["status"] == 403 and denial["denial"]["project"] == world.private
    assert denial["action"] == "AccessDenied" and denial["project"] == world.private
    with world.client("contributor") as http:  # not a maintainer: no audit of the project
        assert http.get("/v1/audit", params={"project": world.private}).status_code == 403
    assert uuid.UUID(denial["event_id"])

