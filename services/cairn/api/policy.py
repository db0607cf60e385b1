"""The policy table: what every route needs, enforced by one app-wide dependency.

Each (method, route path) maps to a Rule: a permission (`public`, `authenticated`,
`site_admin`, or `read` / `publish` / `maintain` / `admin` on a project) and where the
project comes from (`where`, see WHERE). `enforce` runs before every route's own
dependencies: it resolves the caller (cairn.api.principals), finds the project, decides
(cairn.core.access), records a refusal (cairn.api.denials) and answers 401 or 403. A route
missing from the table is refused with 500: tests/unit/test_policy_table.py fails for it.

Routes whose project is only known inside the handler (a publish reads its body as a stream)
are `handler` rules: `enforce` checks what it can (a token with the scope), and the handler
calls `authorize` with the project.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import Request

from cairn.api import denials
from cairn.api.errors import ApiError, Reason
from cairn.api.principals import principal_of
from cairn.api.visibility import project, project_of_ref
from cairn.core.access import ALLOW, Decision, Principal, decide, decide_site
from cairn.core.config_items import CHECKS

# where the project comes from:
WHERE = {
    "none": "no project: a registry-wide permission, or a scope the token must have",
    "path": "the {project} path parameter",
    "ref": "the ref (query or path parameter): project/name@version",
    "body": "a JSON body field (Rule.field); none given: a site admin only",
    "event": "the artifact of the event (event_log or rejected_events)",
    "blob": "the projects of the versions listing the blob: any readable one will do",
    "subscription": "the subscription's team (members read) and filter projects",
    "team": "the team query parameter: its members (site admins without one)",
    "audit": "the project query parameter (maintainers); without one, site admins",
    "filtered": "none: the route shows only what the caller may see",
    "handler": "the route calls authorize() once it knows the project",
}


@dataclass(frozen=True)
class Rule:
    permission: str
    where: str = "path"
    field: str | None = None  # for where="body": a dotted path into the JSON body
    signed_in: bool = False  # a token is needed even where anonymous could read

    def __post_init__(self) -> None:
        assert self.where in WHERE, self.where


PUBLIC = Rule("public", "none")
ARTIFACT = "/v1/artifacts/{project}/{name}"
VERSION = ARTIFACT + "/versions/{selector}"
SUB = "/v1/subscriptions/{sub_id}"
RETENTION = "/v1/projects/{project}/retention"

RULES: dict[tuple[str, str], Rule] = {
    **{("GET", p): PUBLIC for p in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                                    "/docs/oauth2-redirect", "/redoc")},
    ("PUT", "/v1/blobs/{sha256}"): Rule("publish", "none"),
    ("POST", "/v1/blobs/missing"): Rule("publish", "none"),
    ("HEAD", "/v1/blobs/{sha256}"): Rule("read", "blob"),
    ("GET", "/v1/blobs/{sha256}"): Rule("read", "blob"),
    ("POST", "/v1/artifacts"): Rule("publish", "handler"),
    ("GET", ARTIFACT): Rule("read"),
    ("GET", VERSION): Rule("read"),
    ("GET", "/v1/resolve"): Rule("read", "ref"),
    ("PATCH", VERSION + "/metadata"): Rule("publish"),
    ("POST", VERSION + "/revert"): Rule("publish"),
    ("POST", VERSION + "/links"): Rule("publish"),
    ("GET", VERSION + "/history"): Rule("read"),
    ("PUT", VERSION + "/stage"): Rule("maintain"),
    ("PUT", ARTIFACT + "/aliases/{alias}"): Rule("maintain"),
    ("DELETE", ARTIFACT + "/aliases/{alias}"): Rule("maintain"),
    ("GET", "/v1/events/{event_id}"): Rule("read", "event"),
    ("GET", "/v1/lineage"): Rule("read", "ref"),
    ("GET", "/v1/lineage/{ref:path}"): Rule("read", "ref"),
    ("GET", "/v1/search"): Rule("read", "filtered"),
    ("GET", "/v1/suggest"): Rule("read", "filtered"),
    ("POST", "/v1/usage"): Rule("read", "body", field="ref", signed_in=True),
    # access control itself
    ("GET", "/v1/whoami"): Rule("authenticated", "none"),
    ("POST", "/v1/tokens"): Rule("authenticated", "handler"),
    ("GET", "/v1/tokens"): Rule("authenticated", "handler"),
    ("DELETE", "/v1/tokens/{token_id}"): Rule("authenticated", "handler"),
    ("GET", "/v1/users"): Rule("site_admin", "none"),
    ("GET", "/v1/users/{user}"): Rule("site_admin", "none"),
    ("PUT", "/v1/users/{user}"): Rule("site_admin", "none"),
    ("GET", "/v1/teams"): Rule("authenticated", "none"),
    ("GET", "/v1/teams/{team}"): Rule("authenticated", "none"),
    ("PUT", "/v1/teams/{team}"): Rule("site_admin", "none"),
    ("GET", "/v1/service-accounts"): Rule("site_admin", "none"),
    ("GET", "/v1/service-accounts/{account}/key"): Rule("authenticated", "handler"),
    ("PUT", "/v1/service-accounts/{account}"): Rule("site_admin", "none"),
    ("GET", "/v1/projects"): Rule("read", "filtered"),
    ("GET", "/v1/projects/{project}"): Rule("read"),
    ("PUT", "/v1/projects/{project}"): Rule("admin"),
    ("GET", "/v1/audit"): Rule("maintain", "audit"),
    # subscriptions (notifier): writes by maintainers of every project the filter names (a
    # filter without projects hears about all of them: site admins only); reads by the team
    ("POST", "/v1/subscriptions"): Rule("maintain", "body", field="filter.projects"),
    ("GET", "/v1/subscriptions"): Rule("authenticated", "team"),
    ("GET", SUB): Rule("read", "subscription"),
    ("GET", SUB + "/secret"): Rule("read", "subscription"),
    ("GET", SUB + "/deliveries"): Rule("read", "subscription"),
    ("DELETE", SUB): Rule("maintain", "subscription"),
    # retention (archiver): reading and previewing is reading; changing is maintaining
    ("GET", RETENTION): Rule("read"),
    ("GET", RETENTION + "/plan"): Rule("read"),
    ("POST", RETENTION + "/plan"): Rule("read"),
    ("PUT", RETENTION): Rule("maintain"),
    ("DELETE", RETENTION): Rule("maintain"),
    ("POST", RETENTION + "/apply"): Rule("maintain"),
    ("POST", VERSION + "/archive"): Rule("maintain"),
    ("POST", VERSION + "/restore"): Rule("maintain"),
    ("POST", VERSION + "/delete"): Rule("maintain"),
}


def rule_for(method: str, path: str | None) -> Rule | None:
    found = RULES.get((method, path or ""))
    return RULES.get(("GET", path or "")) if found is None and method == "HEAD" else found


def refuse(request: Request, principal: Principal, decision: Decision, permission: str,
           project_name: str | None) -> ApiError:
    """Record the refusal and build its error (the body names the permission it lacked)."""
    denials.record(request, principal, decision, project_name)
    headers = {"WWW-Authenticate": "Bearer"} if decision.status == 401 else None
    return ApiError(decision.status, decision.reason, decision.message, headers=headers,
                    permission=permission, project=project_name)


async def authorize(request: Request, permission: str, project_name: str) -> Principal:
    """For handler rules: refuse unless the caller has `permission` on the project."""
    principal = await principal_of(request)
    decision = decide(principal, permission, await project(request.app.state.pool,
                                                           project_name))
    if not decision.allowed:
        raise refuse(request, principal, decision, permission, project_name)
    return principal


Resolver = Callable[[Request, Principal, Rule, asyncpg.Pool],
                    Awaitable[tuple[Decision, str | None]]]


async def _on(pool: asyncpg.Pool, principal: Principal, permission: str, name: str
              ) -> tuple[Decision, str | None]:
    return decide(principal, permission, await project(pool, name)), name


async def _all_of(pool: asyncpg.Pool, principal: Principal, permission: str,
                  names: list[str]) -> tuple[Decision, str | None]:
    """Every project must allow it; none named: a site admin only."""
    if not names:
        return decide_site(principal, "site_admin"), None
    for name in names:
        decision = decide(principal, permission, await project(pool, name))
        if not decision.allowed:
            return decision, name
    return ALLOW, names[0]


async def _none(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    return decide_site(principal, rule.permission), None


async def _path(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    return await _on(pool, principal, rule.permission, str(request.path_params["project"]))


async def _ref(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
               ) -> tuple[Decision, str | None]:
    ref = request.path_params.get("ref") or request.query_params.get("ref")
    name = project_of_ref(ref)
    if name is None:  # nothing named yet: the route answers 400 and shows nothing
        return ALLOW, None
    return await _on(pool, principal, rule.permission, name)


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def _body(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    try:
        body = await request.json()  # FastAPI read and cached it before any dependency
    except ValueError:
        body = None
    value = _dig(body, rule.field or "")
    if isinstance(value, str):
        return await _on(pool, principal, rule.permission, project_of_ref(value) or value)
    names = [str(v) for v in value] if isinstance(value, list) else []
    if rule.permission == "read" and not names:  # the route refuses the body itself
        return ALLOW, None
    return await _all_of(pool, principal, rule.permission, names)


EVENT_SQL = """
SELECT artifact, event_type IN ('ConfigChanged', 'AccessDenied') AS config
FROM event_log WHERE event_id = $1::uuid
UNION ALL SELECT artifact, split_part(artifact, '/', 1) = ANY($2::text[])
FROM rejected_events WHERE event_id = $1::uuid LIMIT 1
"""


async def _event(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                 ) -> tuple[Decision, str | None]:
    try:
        event_id = str(uuid.UUID(str(request.path_params["event_id"])))
    except ValueError:
        return ALLOW, None  # not an event id: the route says so
    row = await pool.fetchrow(EVENT_SQL, event_id, sorted(CHECKS))
    if row is None:
        return ALLOW, None  # pending or unknown: nothing to show
    name = project_of_ref(row["artifact"])
    if row["config"] or name is None:  # a configuration change (kind/key): with a token
        return decide_site(principal, "authenticated"), None
    return await _on(pool, principal, rule.permission, name)


BLOB_SQL = """
SELECT DISTINCT a.project FROM files f JOIN versions v ON v.id = f.version_id
JOIN artifacts a ON a.id = v.artifact_id WHERE f.sha256 = $1
"""


async def _blob(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    sha256 = str(request.path_params.get("sha256", "")).lower()
    names = [r["project"] for r in await pool.fetch(BLOB_SQL, sha256)]
    if not names:  # not published (yet): an uploader may check it; a stranger learns nothing
        stored = await asyncio.to_thread(request.app.state.blobs.has, sha256)
        return (decide_site(principal, "publish") if stored else ALLOW), None
    refusals = []
    for name in names:
        decided = await _on(pool, principal, rule.permission, name)
        if decided[0].allowed:
            return decided
        refusals.append(decided)
    return refusals[0]


SUBSCRIPTION_SQL = ("SELECT body, removed FROM config_items WHERE kind = 'subscription'"
                    " AND key = $1")


async def _subscription(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                        ) -> tuple[Decision, str | None]:
    row = await pool.fetchrow(SUBSCRIPTION_SQL, str(request.path_params["sub_id"]))
    if row is None:
        return ALLOW, None  # the route answers 404
    if row["removed"]:  # what is left of it: for those with a token
        return decide_site(principal, "authenticated"), None
    sub = json.loads(row["body"])
    names = [str(n) for n in (sub.get("filter") or {}).get("projects") or []]
    if rule.permission != "read":
        return await _all_of(pool, principal, rule.permission, names)
    if principal.site_admin or sub.get("team") in principal.teams:
        return ALLOW, None
    refusals = []  # not of the team: a maintainer of one of the projects it hears about
    for name in names:
        decided = await _on(pool, principal, "maintain", name)
        if decided[0].allowed:
            return decided
        refusals.append(decided)
    return refusals[0] if refusals else (decide_site(principal, "site_admin"), None)


async def _team(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    team = request.query_params.get("team")
    if principal.anonymous or principal.site_admin or team in principal.teams:
        return decide_site(principal, "authenticated"), None
    who = f"{principal.name} is not a member of team {team}" if team else \
        "only registry administrators list every team's subscriptions"
    return Decision(False, 403, "forbidden", f"{who}: give team=<one of your teams>"), None


async def _audit(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                 ) -> tuple[Decision, str | None]:
    name = request.query_params.get("project")
    return await _on(pool, principal, rule.permission, name) if name else \
        (decide_site(principal, "site_admin"), None)


async def _open(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    return ALLOW, None


RESOLVERS: dict[str, Resolver] = {
    "none": _none, "path": _path, "ref": _ref, "body": _body, "event": _event, "blob": _blob,
    "subscription": _subscription, "team": _team, "audit": _audit, "filtered": _open,
    "handler": _none,
}


async def enforce(request: Request) -> None:
    """The app-wide dependency: the route's rule, decided before the route runs."""
    route = request.scope.get("route")
    rule = rule_for(request.method, getattr(route, "path", None))
    if rule is None:
        raise ApiError(500, Reason.INTERNAL, f"{request.method} {getattr(route, 'path', '?')} "
                       "has no access rule (cairn.api.policy.RULES): refused")
    if rule.permission == "public":
        return
    principal = await principal_of(request)
    if rule.signed_in and principal.anonymous:
        decision, name = decide_site(principal, "authenticated"), None
    else:
        decision, name = await RESOLVERS[rule.where](request, principal, rule,
                                                     request.app.state.pool)
    if not decision.allowed:
        raise refuse(request, principal, decision, rule.permission, name)



def routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves; the HEAD that Starlette adds to a GET is left
    out (it runs the GET's rule), a route declared for HEAD alone is kept."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazy included routers
        found = [(rc.path, set(rc.methods)) for rc in iter_route_contexts(app.routes)]
    except ImportError:
        found = [(r.path, set(getattr(r, "methods", None) or ())) for r in app.routes]
    return sorted({(m, path) for path, methods in found for m in methods
                   if m != "HEAD" or "GET" not in methods})
