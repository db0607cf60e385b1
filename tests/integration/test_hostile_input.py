"""Hostile bytes in every path parameter and query value, on the real api: never a 5xx.

Every route of the served OpenAPI spec and of the web UI gets, in each of its path and query
parameters in turn (the others harmless), NUL, other C0/DEL/C1 controls, invalid UTF-8 and
a 10,000-character value, from an anonymous caller and from an administrator. PostgreSQL
cannot store NUL, so before cairn.api.input_guard many of these were 500s; now each is a 400
naming the parameter. JSON bodies with NUL or a lone surrogate are refused the same way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cairn.api.principals import COOKIE
from cairn.api.ui import pages, session
from cairn.search.query import FACETS

from tests.processes import Service

# (what, percent-encoded as sent, reason the guard gives)
HOSTILE = [
    ("NUL", "a%00b", "invalid_characters"),
    ("U+0001", "a%01b", "invalid_characters"),
    ("U+001F", "a%1Fb", "invalid_characters"),
    ("DEL", "a%7Fb", "invalid_characters"),
    ("C1 U+0085", "a%C2%85b", "invalid_characters"),
    ("invalid UTF-8 ff", "a%ffb", "invalid_characters"),
    ("invalid UTF-8 c3 28", "a%c3%28b", "invalid_characters"),
    ("10,000 characters", "a" * 10_000, "value_too_long"),
]
HARMLESS = {"project": "p-hostile", "name": "m", "selector": "v1", "alias": "prod",
            "sha256": "0" * 64, "ref": "p-hostile/m@v1", "event_id": str(uuid.UUID(int=1)),
            "sub_id": str(uuid.UUID(int=2)), "token_id": str(uuid.UUID(int=3)),
            "prefix": "m", "user": "someone", "account": "cairn-x", "team": "t"}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # as FastAPI writes it: /v1/artifacts/{project}/{name}
    query: tuple[str, ...]
    required_query: tuple[str, ...] = ()

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.template)

    def url(self, hostile: tuple[str, str] | None) -> str:
        """The path with every parameter harmless but `hostile` (name, encoded value), plus
        the required query values and the hostile one if it is a query parameter."""
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return hostile[1] if hostile and hostile[0] == name else HARMLESS.get(name, "x")

        path = _PARAM.sub(fill, self.template)
        query = {q: HARMLESS.get(q, "x") for q in self.required_query}
        if hostile and hostile[0] in self.query:
            query[hostile[0]] = hostile[1]
        return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def spec_routes(spec: dict[str, Any]) -> list[Route]:
    routes = []
    for template, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            routes.append(Route(
                method.upper(), template,
                tuple(p["name"] for p in params if p["in"] == "query"),
                tuple(p["name"] for p in params if p["in"] == "query" and p.get("required"))))
    return routes


def ui_routes() -> list[Route]:
    """The UI's routes (left out of the spec), read from its routers; the search page reads
    the facet parameters by hand."""
    routes = []
    for route in [*pages.router.routes, *session.router.routes]:
        query = tuple(p.alias for p in route.dependant.query_params)  # type: ignore[attr-defined]
        if route.path == "/ui":  # type: ignore[attr-defined]
            query += tuple(FACETS)
        for method in sorted(route.methods):  # type: ignore[attr-defined]
            routes.append(Route(method, route.path, query))  # type: ignore[attr-defined]
    return routes


@pytest.fixture(scope="module")
def callers(api: Service, api_token: str) -> Iterator[dict[str, httpx.Client]]:
    admin = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=api.url, timeout=30) as anonymous, \
            httpx.Client(base_url=api.url, timeout=30, headers=admin,
                         cookies={COOKIE: api_token}) as administrator:
        yield {"anonymous": anonymous, "admin": administrator}


def _reason(reply: httpx.Response) -> tuple[str | None, str | None]:
    """(reason, parameter) of a JSON error; (reason, None) read off a UI error page."""
    if reply.status_code < 400:
        return None, None
    if reply.headers.get("content-type", "").startswith("application/json"):
        error = reply.json().get("error", {})
        return error.get("reason"), error.get("parameter")
    found = re.search(r"reason: <code>([a-z_]+)</code>", reply.text)
    return (found.group(1) if found else None), None


def _judge(client: httpx.Client, who: str, route: Route, param: str,
           hostile: tuple[str, str, str]) -> str | None:
    """What is wrong with the answer to one hostile request (None: a 400 with the reason)."""
    what, encoded, reason = hostile
    where = f"{who} {route.method} {route.template} {param}={what}"
    try:
        reply = client.request(route.method, route.url((param, encoded)))
    except httpx.TransportError as exc:  # the api failed mid-answer
        return f"{where}: {exc!r}"
    got, named = _reason(reply) if route.method != "HEAD" else (reason, None)
    if reply.status_code >= 500:
        return f"{reply.status_code} {where}: {reply.text[:200]}"
    if reply.status_code != 400 or got != reason:
        return f"{where}: {reply.status_code} {got}, wanted 400 {reason}"
    if named is not None and named != param:
        return f"{where}: names parameter {named!r}"
    return None


def test_every_route_refuses_hostile_path_and_query_values(
        callers: dict[str, httpx.Client]) -> None:
    spec = callers["anonymous"].get("/openapi.json").json()
    cases = [(client, who, route, param, hostile)
             for route in spec_routes(spec) + ui_routes()
             for param in [*route.path_params, *route.query]
             for hostile in HOSTILE for who, client in callers.items()]
    assert 1000 < len(cases) < 5000  # every route walked, within bounds
    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(lambda case: _judge(*case), cases) if p]
    failed = [p for p in problems if p.startswith("5") or "Error(" in p]  # listed first
    assert not problems, (f"{len(problems)} of {len(cases)} answers wrong, {len(failed)} "
                          "of them 5xx or dropped:\n" + "\n".join((failed + problems)[:60]))


def test_refusals_name_the_parameter_in_the_api_error_shape(
        callers: dict[str, httpx.Client]) -> None:
    reply = callers["admin"].get("/v1/audit?actor=a%00")
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["reason"] == "invalid_characters" and error["parameter"] == "actor"
    assert error["where"] == "query" and "U+0000" in error["message"]
    reply = callers["anonymous"].get("/v1/artifacts/a%00/x")
    assert reply.json()["error"]["parameter"] == "project"
    page = callers["anonymous"].get("/ui/artifacts/a%00b/x")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "invalid_characters" in page.text and "content-security-policy" in page.headers


def test_ordinary_text_is_not_refused(callers: dict[str, httpx.Client]) -> None:
    """Spaces, non-ASCII letters and a value at the limit pass the guard."""
    for url in ("/v1/audit?actor=r%C3%A9seau+neuronal", "/v1/audit?actor=" + "a" * 1024,
                "/v1/audit?actor=%E6%9D%8E"):
        reply = callers["admin"].get(url)
        assert reply.status_code == 200, (url, reply.text)


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/artifacts", '{"kind": "dataset", "project": "p-nul", "name": "m", '
     '"files": [{"path": "a.bin", "size": 1, "sha256": "' + "0" * 64 + '"}], '
     '"metadata": {"creator": "alice", "description": "x\\u0000y"}}'),
    ("PATCH", "/v1/artifacts/p-nul/m/versions/v1/metadata", '{"description": "a\\u0000"}'),
    ("PUT", "/v1/projects/p-nul", '{"visibility": "public", "members": {"a\\u0000": "viewer"}}'),
    ("PUT", "/v1/projects/p-nul", '{"visibility": "public\\ud800"}'),
])
def test_json_bodies_with_nul_or_lone_surrogates_are_refused(
        callers: dict[str, httpx.Client], method: str, path: str, body: str) -> None:
    reply = callers["admin"].request(method, path, content=body,
                                     headers={"content-type": "application/json"})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["reason"] == "invalid_characters" and error["where"] == "body", error


def test_newlines_and_tabs_in_json_bodies_pass(callers: dict[str, httpx.Client]) -> None:
    reply = callers["admin"].put("/v1/projects/p-tabs", content='{"visibility": "public", '
                                 '"lifecycle": null, "note": "a\\tb\\nc"}',
                                 headers={"content-type": "application/json"})
    assert reply.json().get("error", {}).get("reason") != "invalid_characters", reply.text


def test_form_bodies_are_checked_like_query_values(callers: dict[str, httpx.Client]) -> None:
    reply = callers["anonymous"].post("/ui/login", content="token=a%00b",
                                      headers={"content-type":
                                               "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and "invalid_characters" in reply.text
