"""Every route the api serves has exactly one rule in the policy table, and every rule a route.

A new endpoint without a rule fails here (and is refused with 500 at run time): add it to
cairn.api.policy.RULES with the permission it needs.
"""

from __future__ import annotations

import re

import pytest
from cairn.api import policy
from cairn.api.app import create_app
from cairn.api.policy import RULES, WHERE, routes
from cairn.core.adapters.settings import Settings
from cairn.core.domain.access import PROJECT_PERMISSIONS, SITE_PERMISSIONS
from fastapi.testclient import TestClient

APP = create_app(Settings(api_tokens="demo=test", environment="development",
                          signing_key="unit-signing-key", webhook_key="unit-webhook-key"))
SERVED = routes(APP)
PUBLIC_PAGES = {("GET", p) for p in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")}


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{m} {p}" for m, p in SERVED])
def test_every_route_has_a_rule(method: str, path: str) -> None:
    assert (method, path) in RULES, f"{method} {path} has no rule in cairn.api.policy.RULES"


def test_every_rule_names_a_served_route() -> None:
    stale = sorted(set(RULES) - set(SERVED))
    assert not stale, f"rules for routes that do not exist: {stale}"


def test_rules_are_well_formed() -> None:
    for (method, path), rule in RULES.items():
        assert rule.permission in {"public", *SITE_PERMISSIONS, *PROJECT_PERMISSIONS}, path
        assert rule.where in WHERE
        if rule.where == "path":
            assert "{project}" in path, f"{method} {path}: a path rule needs {{project}}"
        if rule.where == "body":
            assert rule.field, path
        if method not in ("GET", "HEAD") and rule.permission == "read":
            assert path.endswith("/plan") or rule.signed_in, f"{method} {path} reads only?"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path.replace("{ref:path}", "p/n@v1"))


def test_the_policy_runs_before_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an empty table every api route refuses (500) before its own code runs: the
    policy dependency is the first thing each of them does."""
    monkeypatch.setattr(policy, "RULES", {})
    client = TestClient(APP, raise_server_exceptions=False)  # no lifespan: no services
    for method, path in SERVED:
        if ("GET", path) in PUBLIC_PAGES:
            continue  # FastAPI's own pages (docs, openapi.json) take no dependencies
        reply = client.request(method, concrete(path), json={})
        assert reply.status_code == 500, (method, path)
        assert method == "HEAD" or "no access rule" in reply.text, (method, path)
