"""The policy table: what every route needs. One rule per (method, route path): a permission
(`public`, `authenticated`, `site_admin`, or `read` / `publish` / `maintain` / `admin` on a
project) and where the project comes from (`where`, see WHERE).

cairn.api.guard enforces the table before every route (the app's one dependency); a route
missing from it is refused with 500, and tests/unit/test_policy_table.py fails for it. A new
route needs one line here.

You can't learn that a private project exists unless you may view it (cairn.api.hiding). A
caller with no role in a private project (anonymous, or signed in without a role) gets, on
every route addressed to it, exactly what a project that does not exist answers: 404
`not_found`, "project X does not exist" (a non-admin gets that for a missing project too,
reads and writes alike). A blob, event or subscription that only such a project shows
answers as an unknown one (404, or `pending` for an event). Two refusals still come first,
because they say nothing about the project: anonymous callers get 401 for anything beyond
`read` (authenticate before anything else; a missing project answers 401 too), and a token
without the scope gets 403 `insufficient_scope` only once the project is visible. Those who
may view the project but lack the role get 403 naming the role needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# where the project comes from:
WHERE = {
    "none": "no project: a registry-wide permission, or a scope the token must have",
    "path": "the {project} path parameter",
    "gate": "the {project} path parameter; the project's lifecycle rules may ask another role "
            "for a stage (its gate) or an alias (protected ones)",
    "ref": "the ref (query or path parameter): project/name@version",
    "body": "a JSON body field (Rule.field); none given: a site admin only",
    "event": "the artifact of the event (event_log or rejected_events); one the caller may "
             "not see reads as unknown (pending)",
    "blob": "the projects of the versions listing the blob: any readable one will do; none "
            "the caller may see: as an unknown blob",
    "subscription": "the subscription's team (members read) and filter projects; a hidden "
                    "one among those: as an unknown subscription",
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
UI_VERSION = "/ui/artifacts/{project}/{name}/versions/{selector}"

RULES: dict[tuple[str, str], Rule] = {
    **{("GET", p): PUBLIC for p in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                                    "/docs/oauth2-redirect", "/redoc")},
    ("PUT", "/v1/blobs/{sha256}"): Rule("publish", "none"),
    ("POST", "/v1/blobs"): Rule("publish", "none"),  # many small blobs at once
    ("POST", "/v1/blobs/missing"): Rule("publish", "none"),
    ("HEAD", "/v1/blobs/{sha256}"): Rule("read", "blob"),
    ("GET", "/v1/blobs/{sha256}"): Rule("read", "blob"),
    ("POST", "/v1/blobs/uploads"): Rule("publish", "none"),  # direct transfers (S3)
    ("POST", "/v1/blobs/{sha256}/uploads/{upload_id}"): Rule("publish", "none"),
    ("GET", "/v1/blobs/{sha256}/url"): Rule("read", "blob"),
    ("POST", "/v1/artifacts"): Rule("publish", "handler"),
    ("POST", "/api/v1/lineage"): Rule("publish", "handler"),  # OpenLineage (Marquez's path)
    ("POST", "/v1/openlineage"): Rule("publish", "handler"),
    ("POST", "/v1/artifacts/batch"): Rule("publish", "handler"),
    ("POST", "/v1/artifacts/batch/status"): Rule("publish", "none"),
    ("GET", ARTIFACT): Rule("read"),
    ("GET", VERSION): Rule("read"),
    ("GET", "/v1/resolve"): Rule("read", "ref"),
    ("PATCH", VERSION + "/metadata"): Rule("publish"),
    ("POST", VERSION + "/revert"): Rule("publish"),
    ("POST", VERSION + "/links"): Rule("publish"),
    ("GET", VERSION + "/history"): Rule("read"),
    ("GET", VERSION + "/events"): Rule("read"),
    ("PUT", VERSION + "/stage"): Rule("maintain", "gate"),
    ("PUT", ARTIFACT + "/aliases/{alias}"): Rule("maintain", "gate"),
    ("DELETE", ARTIFACT + "/aliases/{alias}"): Rule("maintain", "gate"),
    ("GET", "/v1/events/{event_id}"): Rule("read", "event"),
    ("GET", "/v1/lineage"): Rule("read", "ref"),
    ("GET", "/v1/lineage/{ref:path}"): Rule("read", "ref"),
    # pictures: the rule of what they draw (a plot's compare= artifacts: the route authorizes)
    **{("GET", f"/v1/lineage/{{ref:path}}.{fmt}"): Rule("read", "ref")
       for fmt in ("svg", "png", "dot")},
    ("GET", ARTIFACT + "/metrics.svg"): Rule("read"),
    ("GET", "/v1/search"): Rule("read", "filtered"),
    ("GET", "/v1/suggest"): Rule("read", "filtered"),
    ("GET", "/v1/environments/{digest}"): Rule("read", "filtered"),
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
    ("GET", "/v1/projects/{project}/artifacts"): Rule("read"),
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
    ("POST", SUB + "/test"): Rule("maintain", "subscription"),
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
    # the web UI (cairn.api.ui): each page has the rule of the JSON it shows
    ("GET", "/ui"): Rule("read", "filtered"),
    ("GET", "/ui/artifacts/{project}/{name}"): Rule("read"),
    ("GET", "/ui/artifacts/{project}/{name}/versions/{selector}"): Rule("read"),
    ("GET", "/ui/artifacts/{project}/{name}/metrics.svg"): Rule("read"),
    ("GET", "/ui/lineage/{ref:path}.svg"): Rule("read", "ref"),
    ("GET", "/ui/suggest"): Rule("read", "filtered"),
    ("GET", "/ui/compare"): Rule("read", "filtered"),
    ("GET", UI_VERSION + "/files/{path:path}"): Rule("read"),
    ("GET", UI_VERSION + "/raw/{path:path}"): Rule("read"),
    **{(m, p): PUBLIC for m, p in (("GET", "/ui/login"), ("POST", "/ui/login"),
                                   ("POST", "/ui/logout"), ("GET", "/ui/static/{name}"))},
}


def rule_for(method: str, path: str | None) -> Rule | None:
    found = RULES.get((method, path or ""))
    return RULES.get(("GET", path or "")) if found is None and method == "HEAD" else found


def routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves; the HEAD that Starlette adds to a GET is left
    out (it runs the GET's rule), a route declared for HEAD alone is kept."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazy included routers
        found = [(rc.path, set(rc.methods or ())) for rc in iter_route_contexts(app.routes)
                 if rc.path is not None]
    except ImportError:
        found = [(r.path, set(getattr(r, "methods", None) or ())) for r in app.routes]
    return sorted({(m, path) for path, methods in found for m in methods
                   if m != "HEAD" or "GET" not in methods})
