"""Access decisions, identity items, tokens and bootstrap secrets (pure, no services)."""

from __future__ import annotations

import datetime as dt

import pytest
from cairn.api.auth import bootstrap_tokens
from cairn.api.principals import from_row
from cairn.core.adapters.settings import Settings, is_public
from cairn.core.domain.access import Principal, Project, can_see, decide, decide_site, role_in
from cairn.core.domain.config_items import check_item
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.tokens import digest, new_token, token_id, weakness
from cairn.ledger.read_only import is_read_only
from cairn.search.query import SHARED, build_request, search_body
from cairn.search.results import suggest_body

PRIVATE = Project.of("secret", {"visibility": "private", "members": {"vi": "viewer",
                                                                    "co": "contributor"},
                                "teams": {"ml": "maintainer"}})
PUBLIC = Project("open")
ANON = Principal()


def user(name: str, *teams: str, scopes: tuple[str, ...] = ("admin",)) -> Principal:
    return Principal(name, "user", teams=frozenset(teams), scopes=scopes)


@pytest.mark.parametrize(("who", "permission", "status"), [
    (ANON, "read", 401), (user("nobody"), "read", 403), (user("vi"), "read", 200),
    (user("vi"), "publish", 403), (user("co"), "publish", 200), (user("co"), "maintain", 403),
    (user("x", "ml"), "maintain", 200), (user("x", "ml"), "admin", 403),
    (Principal("root", "bootstrap", site_admin=True, scopes=("admin",)), "admin", 200),
    (user("x", "ml", scopes=("read",)), "maintain", 403),  # the token's scope is the ceiling
])
def test_roles_and_scopes_decide(who: Principal, permission: str, status: int) -> None:
    assert decide(who, permission, PRIVATE).status == status


def test_public_projects_are_read_by_anyone_and_changed_by_members() -> None:
    assert decide(ANON, "read", PUBLIC).allowed
    refused = decide(ANON, "publish", PUBLIC)
    assert (refused.status, refused.reason) == (401, "unauthenticated")
    assert decide(user("a"), "publish", PUBLIC).status == 403  # unconfigured: admins only
    expired = decide(Principal(token_problem="expired"), "publish", PUBLIC)
    assert "the token presented is expired" in expired.message


def test_visibility_and_site_permissions() -> None:
    assert not can_see(user("nobody"), PRIVATE) and can_see(user("vi"), PRIVATE)
    assert role_in(user("co", "ml"), PRIVATE) == "maintainer"  # the best of member and team
    assert decide_site(ANON, "authenticated").status == 401
    assert decide_site(user("a"), "site_admin").status == 403
    assert decide_site(user("a", scopes=("read",)), "publish").reason == "insufficient_scope"


def test_identity_items_are_checked_and_normalised() -> None:
    team = check_item("team", "ml", '{"members": ["b", "a", "a"]}')
    assert team == {"members": ["a", "b"], "description": None}
    project = check_item("project", "p", '{"visibility": "private", "members": {"a": "admin"}}')
    assert project is not None and project["read_only_after_days"] is None
    for kind, body, reason in (
        ("project", '{"visibility": "secret"}', "invalid_visibility"),
        ("project", '{"members": {"a": "owner"}}', "invalid_role"),
        ("project", '{"read_only_after_days": -1}', "invalid_project"),
        ("user", '{"admin": "yes"}', "invalid_user"),
        ("token", '{"hash": "x", "owner": "a", "owner_kind": "user", "scopes": ["read"]}',
         "invalid_token"),
        ("token", '{"hash": "' + "0" * 64 + '", "owner": "a", "owner_kind": "user", '
         '"scopes": ["all"]}', "invalid_scope"),
        ("denial", '{"status": 200}', "invalid_denial"),
    ):
        with pytest.raises(InvalidInput) as caught:
            check_item(kind, "k", body)
        assert caught.value.reason == reason


def test_tokens_are_random_found_by_id_and_kept_as_a_hash() -> None:
    tid, token = new_token()
    assert token_id(token) == tid and token_id("cairn_nothex_x") is None
    assert len({new_token()[1] for _ in range(20)}) == 20
    assert weakness(token) is None
    row = {"token": {"hash": digest(token), "owner": "ana", "owner_kind": "user",
                     "scopes": ["read", "publish"], "expires_at": 2_000, "revoked": False},
           "owner": {"admin": True}, "owner_removed": False, "teams": ["ml"]}
    got = from_row(row, token, now_ms=1_000)
    assert (got.name, got.site_admin, got.teams, got.token_id) == ("ana", True, {"ml"}, tid)
    assert from_row(row, token, now_ms=2_000).token_problem == "expired"
    assert from_row(row, token + "x", now_ms=1_000).token_problem == "not valid"
    revoked = {**row, "token": {**row["token"], "revoked": True}}
    assert from_row(revoked, token, now_ms=1_000).token_problem == "revoked"
    disabled = {**row, "owner": {"disabled": True}}
    assert "disabled" in str(from_row(disabled, token, now_ms=1_000).token_problem)


@pytest.mark.parametrize("secret", ["change-me-demo-token", "secret-token", "short",
                                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "demo-" + "x1y2z3" * 5])
def test_placeholder_bootstrap_tokens_are_refused_outside_development(secret: str) -> None:
    assert weakness(secret) is not None
    with pytest.raises(ValueError, match="refused"):
        bootstrap_tokens(Settings(api_tokens=f"demo={secret}", environment="production"))
    if not is_public(secret):  # one published in Cairn's source is refused everywhere
        assert bootstrap_tokens(Settings(api_tokens=f"demo={secret}", environment="development"))


def test_bootstrap_admin_token_joins_the_api_tokens() -> None:
    good = "3f9c2a71d0b84e6f95a1c7e2b4d80f13"
    tokens = bootstrap_tokens(Settings(api_tokens="", admin_token=good,
                                       environment="production"))
    assert tokens == (("admin", good.encode()),)
    with pytest.raises(ValueError, match="CAIRN_ADMIN_TOKEN"):
        bootstrap_tokens(Settings(admin_token="change-me", environment="production"))


def test_hidden_projects_are_filtered_in_the_engine_query() -> None:
    body = search_body(build_request(q="x", hidden_projects=["secret", "a.b"]))
    hidden = {"bool": {"must_not": [{"terms": {"project": ["a.b", "secret"]}}]}}
    assert hidden in body["query"]["bool"]["filter"]  # in the query: hits and every facet
    script = body["aggs"][SHARED]["aggs"]["dataset"]["terms"]["script"]  # their datasets
    assert script["params"] == {"hidden": {"a.b": 1, "secret": 1}, "known": None}
    assert hidden in suggest_body("re", "tag", 5, ("a.b", "secret"))["query"]["bool"]["filter"]
    plain = search_body(build_request(q="x"))
    assert plain["aggs"][SHARED]["aggs"]["dataset"]["terms"] == {"field": "datasets",
                                                                 "size": 20}
    assert "must_not" not in str(plain["query"]["bool"]["filter"])


def test_read_only_threshold() -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert is_read_only(30, now - dt.timedelta(days=31), now)
    assert not is_read_only(30, now - dt.timedelta(days=29), now)
    assert not is_read_only(None, now - dt.timedelta(days=999), now)
    assert is_read_only(0, now, now)
