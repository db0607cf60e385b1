"""Identities and tokens: who am I, users, teams, service accounts, and API tokens.

Users, teams and service accounts are managed by registry administrators. Anyone with a
token makes tokens for themselves (and for the service accounts they own), never with more
scope than the token they make it with. A new token is shown once, in the answer that made
it; Cairn keeps only its sha256. It works once the ledger recorded it (follow event_id).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from cairn.api import config_store as store
from cairn.api.deps import CurrentPrincipal, EmitterDep, PoolDep, SettingsDep
from cairn.api.errors import ApiError, not_found
from cairn.api.guard import refuse
from cairn.api.models import Body
from cairn.core.adapters.signing import INTERNAL, master_key, producer_key
from cairn.core.domain.access import Decision, Principal, Project, rank, role_in
from cairn.core.domain.identity import check_name
from cairn.core.domain.principals import check_scopes
from cairn.core.domain.tokens import digest, new_token
from cairn.readmodel.config import items, tokens_of

router = APIRouter(tags=["access"])
DAY_MS = 24 * 3600 * 1000


class UserIn(Body):
    display_name: str | None = None
    email: str | None = None
    admin: bool = False
    disabled: bool = False


class TeamIn(Body):
    members: list[str] = Field(default_factory=list)
    description: str | None = None


class ServiceAccountIn(Body):
    description: str | None = None
    owner: str | None = None
    trusted: bool = False
    disabled: bool = False


class TokenIn(Body):
    owner: str | None = Field(None, description="a user or service account; default: you")
    scopes: list[str] = Field(default_factory=lambda: ["read", "publish"],
                              description="read, publish, maintain, admin (each allows those "
                              "before it)")
    expires_in_days: int = Field(90, ge=1, le=3650)
    description: str | None = Field(None, max_length=500)


@router.get("/v1/whoami")
async def whoami(principal: CurrentPrincipal, pool: PoolDep) -> dict[str, Any]:
    """The caller, its teams, its token's scopes and its roles in configured projects."""
    roles = {p.key: role for p in await items(pool, "project")
             if (role := role_in(principal, Project.of(p.key, p.body)))}
    return {"name": principal.name, "kind": principal.kind, "site_admin": principal.site_admin,
            "teams": sorted(principal.teams), "scopes": list(principal.scopes),
            "token_id": principal.token_id, "roles": roles}


async def _account(pool: PoolDep, name: str) -> tuple[str, dict[str, Any]]:
    """(kind, item) of the user or service account `name`, or 404."""
    for kind in ("user", "service_account"):
        found = await store.item(pool, kind, name)
        if found is not None:
            return kind, found
    raise not_found(f"user or service account {name}")


async def _may_manage(request: Request, principal: Principal, pool: PoolDep,
                      owner: str | None) -> tuple[str, str]:
    """(owner, owner kind) whose tokens the caller may manage: its own, those of service
    accounts it owns, or anyone's for an administrator."""
    if owner is None or owner == principal.name:
        if principal.kind in ("user", "service_account"):
            return principal.name, principal.kind
        if owner is None:
            raise ApiError(400, "owner_needed", f"{principal.name} is a bootstrap token, not an "
                           "account: give owner=<user or service account>")
    kind, found = await _account(pool, check_name(str(owner), "owner"))
    if principal.site_admin and principal.scoped("admin"):
        return str(owner), kind
    if kind == "service_account" and found.get("owner") == principal.name:
        return str(owner), kind
    raise refuse(request, principal, Decision(
        False, 403, "forbidden", f"{principal.name} may not manage the tokens of {owner}"),
        "admin", None)


@router.post("/v1/tokens", status_code=202)
async def create_token(body: TokenIn, request: Request, principal: CurrentPrincipal,
                       pool: PoolDep, emitter: EmitterDep) -> dict[str, Any]:
    """A new token, shown this once; usable as soon as the ledger recorded event_id."""
    owner, kind = await _may_manage(request, principal, pool, body.owner)
    scopes = check_scopes(body.scopes)
    if any(rank(s) > rank(principal.ceiling()) for s in scopes):
        raise refuse(request, principal, Decision(
            False, 403, "insufficient_scope", f"a token with scope {principal.ceiling()} "
            f"cannot make one with {', '.join(scopes)}"), scopes[-1], None)
    token_id, token = new_token()
    expires = int(time.time() * 1000) + body.expires_in_days * DAY_MS
    done = await store.put(emitter, "token", token_id, {
        "hash": digest(token), "owner": owner, "owner_kind": kind, "scopes": scopes,
        "expires_at": expires, "revoked": False, "description": body.description,
        "created_by": principal.name}, principal.name)
    return {"id": token_id, "token": token, "owner": owner, "scopes": scopes,
            "expires_at": _iso(expires), "event_id": done["event_id"],
            "note": "shown once: store it now (cairn login stores it for the CLI and SDK)"}


def _iso(ms: int | None) -> str | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def _token_shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["name"], "owner": row["owner"], "owner_kind": row["owner_kind"],
            "scopes": row["scopes"], "expires_at": _iso(row["expires_at"]),
            "revoked": row["revoked"], "description": row["description"],
            "created_by": row["created_by"], "created_at": row["created_at"],
            "expired": row["expires_at"] is not None
            and row["expires_at"] <= int(time.time() * 1000)}


@router.get("/v1/tokens")
async def list_tokens(request: Request, principal: CurrentPrincipal, pool: PoolDep,
                      owner: str | None = None) -> list[dict[str, Any]]:
    """Tokens (never their secrets) of the caller, or of `owner`."""
    whose, _ = await _may_manage(request, principal, pool, owner)
    return [_token_shown(store.shown(t)) for t in await tokens_of(pool, whose)]


@router.delete("/v1/tokens/{token_id}", status_code=202)
async def revoke_token(token_id: str, request: Request, principal: CurrentPrincipal,
                       pool: PoolDep, emitter: EmitterDep) -> dict[str, Any]:
    """Revoke a token for good: refused from the moment the ledger recorded event_id."""
    found = await store.item(pool, "token", token_id)
    if found is None:
        raise not_found(f"token {token_id}")
    await _may_manage(request, principal, pool, found["owner"])
    kept = {k: found[k] for k in ("hash", "owner", "owner_kind", "scopes", "expires_at",
                                  "description", "created_by")}
    done = await store.put(emitter, "token", token_id, {**kept, "revoked": True},
                           principal.name)
    return {"id": token_id, "event_id": done["event_id"], "revoked": True}


async def _put_account(pool: PoolDep, emitter: EmitterDep, kind: str, name: str,
                       body: Body, actor: str) -> dict[str, Any]:
    other = "service_account" if kind == "user" else "user"
    if kind == "service_account" and name.startswith(INTERNAL):
        raise ApiError(400, "reserved_name", f"names starting with {INTERNAL!r} are Cairn's "
                       "own services; choose another")
    if await store.item(pool, other, check_name(name, kind)) is not None:
        raise ApiError(409, "name_taken", f"{name} is already a {other.replace('_', ' ')}: "
                       "users and service accounts share one namespace (they are actors)")
    return await store.put_named(emitter, kind, name, body, actor)


@router.put("/v1/users/{user}", status_code=202)
async def put_user(user: str, body: UserIn, principal: CurrentPrincipal, pool: PoolDep,
                   emitter: EmitterDep) -> dict[str, Any]:
    """Create or change a user (admin: a registry administrator; disabled: every token of
    the user is refused)."""
    return await _put_account(pool, emitter, "user", user, body, principal.name)


@router.put("/v1/service-accounts/{account}", status_code=202)
async def put_service_account(account: str, body: ServiceAccountIn, principal: CurrentPrincipal,
                              pool: PoolDep, emitter: EmitterDep) -> dict[str, Any]:
    """Create or change a service account (an orchestrator's identity); its owner may make
    its tokens. `trusted`: it may publish to Kafka on behalf of other actors."""
    return await _put_account(pool, emitter, "service_account", account, body, principal.name)


@router.get("/v1/service-accounts/{account}/key")
async def service_account_key(account: str, request: Request, principal: CurrentPrincipal,
                              pool: PoolDep, settings: SettingsDep) -> dict[str, str]:
    """The key the account signs the events it produces to Kafka with (HMAC-SHA256 over each
    value, cairn.core.adapters.signing): for administrators and the account's owner."""
    found = await store.item(pool, "service_account", check_name(account, "account"))
    if found is None:
        raise not_found(f"service account {account}")
    await _may_manage(request, principal, pool, account)
    master = master_key(settings)
    if master is None:
        raise ApiError(503, "no_signing_key", "CAIRN_SIGNING_KEY is not set on the api")
    key = producer_key(master, account).hex()
    return {"producer": account, "key": key,
            "environment": f"CAIRN_PRODUCER={account} CAIRN_PRODUCER_KEY=<key>"}


@router.put("/v1/teams/{team}", status_code=202)
async def put_team(team: str, body: TeamIn, principal: CurrentPrincipal,
                   emitter: EmitterDep) -> dict[str, Any]:
    """Create a team or replace its members."""
    return await store.put_named(emitter, "team", team, body, principal.name)


async def _listed(pool: PoolDep, kind: str) -> list[dict[str, Any]]:
    return await store.items(pool, kind)


async def _one(pool: PoolDep, kind: str, name: str) -> dict[str, Any]:
    found = await store.item(pool, kind, name)
    if found is None:
        raise not_found(f"{kind.replace('_', ' ')} {name}")
    return found


@router.get("/v1/users")
async def list_users(pool: PoolDep) -> list[dict[str, Any]]:
    return await _listed(pool, "user")


@router.get("/v1/users/{user}")
async def get_user(user: str, pool: PoolDep) -> dict[str, Any]:
    return await _one(pool, "user", user)


@router.get("/v1/service-accounts")
async def list_service_accounts(pool: PoolDep) -> list[dict[str, Any]]:
    return await _listed(pool, "service_account")


@router.get("/v1/teams")
async def list_teams(pool: PoolDep) -> list[dict[str, Any]]:
    return await _listed(pool, "team")


@router.get("/v1/teams/{team}")
async def get_team(team: str, pool: PoolDep) -> dict[str, Any]:
    return await _one(pool, "team", team)

