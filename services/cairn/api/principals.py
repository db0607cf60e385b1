"""Who is calling: the one place that turns a request's bearer token into a Principal.

A bootstrap token (CAIRN_API_TOKENS, CAIRN_ADMIN_TOKEN) makes a registry administrator; a
Cairn token (`cairn_<id>_<secret>`) is looked up by its id (cairn.readmodel.principals) and compared
by its sha256, then checked for revocation, expiry and a disabled owner. No token is
anonymous. A token that counts for nothing (wrong, expired, revoked) also makes the request
anonymous, with the problem noted, so a public read still works and a refusal says why.
The result is kept on `request.state` for the rest of the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
from fastapi import Request

from cairn.api.auth import Tokens, actor_for
from cairn.core.domain.access import SCOPES, Principal
from cairn.core.domain.tokens import matches, token_id
from cairn.readmodel.principals import token_row

NOBODY = Principal()
COOKIE = "cairn_token"  # the web UI's sign-in cookie (GETs under /ui only)


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def from_row(row: Mapping[str, Any] | None, token: str, now_ms: int) -> Principal:
    """The principal a stored token stands for (pure: the row is a readmodel TokenRow)."""
    stored = _json(row["token"]) if row is not None else {}
    if not stored or not matches(token, stored["hash"]):
        return Principal(token_problem="not valid")
    if stored.get("revoked"):
        return Principal(token_problem="revoked")
    if stored.get("expires_at") is not None and stored["expires_at"] <= now_ms:
        return Principal(token_problem="expired")
    owner = _json(row["owner"]) if row is not None else {}
    if row is None or row["owner_removed"] or owner.get("disabled"):
        return Principal(token_problem=f"of {stored['owner']}, who is disabled or removed")
    return Principal(stored["owner"], stored["owner_kind"],
                     site_admin=stored["owner_kind"] == "user" and bool(owner.get("admin")),
                     teams=frozenset(row["teams"] or ()), scopes=tuple(stored["scopes"]),
                     token_id=token_id(token))


async def resolve(pool: asyncpg.Pool, bootstrap: Tokens, header: str) -> Principal:
    if not header:
        return NOBODY
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return Principal(token_problem="not a bearer token")
    found_id = token_id(token)
    if found_id is None:
        actor = actor_for(bootstrap, token)
        if actor is None:
            return Principal(token_problem="not valid")
        return Principal(actor, "bootstrap", site_admin=True, scopes=SCOPES)
    row = await token_row(pool, found_id)
    return from_row(row, token, int(time.time() * 1000))


def credentials(request: Request) -> str:
    """The Authorization header; for a GET under /ui without one, the web UI's sign-in cookie
    (cairn.api.ui.session) as a bearer token. Only GETs under /ui take the cookie: those
    pages only read, so a cross-site request can never use it to change anything."""
    header = request.headers.get("authorization", "")
    path = request.url.path
    if header or request.method != "GET" or not (path == "/ui" or path.startswith("/ui/")):
        return header
    token = request.cookies.get(COOKIE, "")
    return f"Bearer {token}" if token else ""


async def principal_of(request: Request) -> Principal:
    """The request's caller, resolved once per request."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    principal = await resolve(request.app.state.pool, request.app.state.tokens,
                              credentials(request))
    request.state.principal = principal
    return principal
