"""Every route × every caller on the real stack, generated from the policy table: a new route
shows up here by itself, with the expectation its rule implies.

Callers climb a ladder: anonymous (and an expired or a revoked token, which count for
nothing) < a user with no role (outsider) < viewer < contributor < maintainer < admin of the
private project < a registry administrator. A rule lets in everyone from one rung up; below
it the policy refuses with 401 (no valid token) or 403, naming the permission it lacked. Any
other answer (2xx, 400, 404, 422, ...) came from the route itself: the policy let it through.

Except where the caller may not see the private project the request is aimed at (anonymous
and the outsider): there the answer must be exactly what the same request aimed at a missing
project (blob, event, subscription) gets, so it confirms nothing; anonymous callers still
get 401 first for anything beyond reading.
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

# Routes whose answer is not the one refusal this matrix reads: the batch publish answers 200
# with a result (and a refusal) per item, and an OpenLineage event goes to the project its
# namespace maps to, which this world does not map. Their roles are checked per item and per
# project in test_bulk_publish.py and test_openlineage.py.
PER_ITEM = {("POST", "/v1/artifacts/batch"), ("POST", "/api/v1/lineage"),
            ("POST", "/v1/openlineage")}
CASES = [(method, path, caller) for (method, path) in sorted(RULES) for caller in CALLERS
         if (method, path) not in PER_ITEM]
# rules whose request names the private project, or a blob, event or subscription of it
ADDRESSED = {"path", "gate", "ref", "body", "audit", "handler", "event", "blob", "subscription"}
MISSING = "as if missing"


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


def expected_refusal(rule: Rule, caller: str) -> int | str:
    """What a caller below the rule's rung gets: 401, 403, or MISSING."""
    if rule.where not in ADDRESSED or LEVEL[caller] >= LEVEL["viewer"]:
        return 401 if LEVEL[caller] == 0 else 403
    if LEVEL[caller] == 0 and (rule.signed_in or rule.permission != "read"
                               or rule.where == "subscription"):  # read by maintainers
        return 401
    return MISSING


def targets(world: World, missing: bool = False) -> dict[str, str]:
    """What requests name: the private project's things, or ones that do not exist."""
    if not missing:
        return {"project": world.private, "sha256": world.blob["sha256"],
                "event_id": world.event_id, "sub": world.subscriptions[0],
                "sub_delete": world.subscriptions[1]}
    return {"project": f"nope-{world.tag}", "sha256": "e" * 64,
            "event_id": "0190b0c0-0000-7000-8000-00000000000e",
            "sub": "0190b0c0-0000-7000-8000-0000000000aa",
            "sub_delete": "0190b0c0-0000-7000-8000-0000000000bb"}


def request_for(world: World, method: str, path: str, missing: bool = False
                ) -> dict[str, Any]:
    """A concrete request for the route, aimed at the private project (or at missing
    things in the same shape)."""
    aim = targets(world, missing)
    p = aim["project"]
    model = f"{p}/quokka-model@v1"
    params = {"project": p, "name": "scratch", "selector": "v1", "alias": "prod",
              "sha256": aim["sha256"], "event_id": aim["event_id"],
              "ref": model, "token_id": "0" * 16, "user": f"zz-{world.tag}",
              "team": world.team, "account": f"sa-{world.tag}",
              "sub_id": aim["sub_delete" if method == "DELETE" else "sub"]}
    url = re.sub(r"\{(\w+)(:path)?\}", lambda m: params.get(m.group(1), "x1"), path)
    query = {"/v1/resolve": {"ref": model}, "/v1/lineage": {"ref": model},
             "/v1/search": {"q": "quokka"}, "/v1/suggest": {"prefix": "quo"},
             "/v1/subscriptions": {"team": world.team}, "/v1/audit": {"project": p}}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/artifacts"): {"kind": "dataset", "project": p, "name": "scratch",
                                    "files": [world.blob], "metadata": {"creator": "t"}},
        ("POST", "/v1/usage"): {"ref": model, "action": "view"},
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


def no_direct_transfers(reply: httpx.Response) -> bool:
    """The route's own answer where blobs live in a local directory (the world's): 501, not
    a failure; the S3 side of those routes is tested in test_direct_transfers.py."""
    return (reply.status_code == 501
            and reply.json()["error"]["reason"] == "direct_transfer_unavailable")


def shown(world: World, reply: httpx.Response, missing: bool) -> tuple[int, str]:
    """Status and body, with what the request named replaced by placeholders."""
    text = reply.text
    for key, value in targets(world, missing).items():
        text = text.replace(value, f"<{key}>")
    return reply.status_code, text


@pytest.mark.parametrize(("method", "path", "caller"), CASES,
                         ids=[f"{m} {p} {c}" for m, p, c in CASES])
def test_route_by_caller(world: World, method: str, path: str, caller: str) -> None:
    rule = RULES[(method, path)]
    allowed = LEVEL[caller] >= least(rule)
    with world.client(caller) as http:
        reply = http.request(**request_for(world, method, path))
        refusal = None if allowed else expected_refusal(rule, caller)
        if refusal == MISSING:
            control = http.request(**request_for(world, method, path, missing=True))
    if allowed:
        assert not refused_by_policy(reply), (reply.status_code, reply.text[:300])
        assert reply.status_code < 500 or no_direct_transfers(reply), reply.text[:300]
    elif refusal == MISSING:
        assert shown(world, reply, False) == shown(world, control, True)
        assert reply.status_code in (200, 404), reply.text[:300]  # an event: still pending
        assert not refused_by_policy(reply)  # it names only what the request named
    else:
        assert refused_by_policy(reply), (reply.status_code, reply.text[:300])
        assert reply.status_code == refusal, reply.text[:300]


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
    assert denial["denial"]["status"] == 404 and denial["denial"]["project"] == world.private
    assert denial["denial"]["reason"] == "hidden"  # answered as missing, recorded as a probe
    assert denial["action"] == "AccessDenied" and denial["project"] == world.private
    with world.client("contributor") as http:  # not a maintainer: no audit of the project
        assert http.get("/v1/audit", params={"project": world.private}).status_code == 403
    assert uuid.UUID(denial["event_id"])

