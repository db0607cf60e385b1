"""The access-control config kinds: users, teams, service accounts, tokens, projects and
recorded denials. Pure checks, registered in `cairn.core.domain.config_items.CHECKS`, so the api
refuses a malformed item at once and the ledger dead-letters one that slipped past.

Keys: a user, team or service-account name; a token's id (never the token); a project name;
a denial's event id. A token item holds only the sha256 of the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from cairn.core.domain.access import ROLES, SCOPES, VISIBILITIES
from cairn.core.domain.identity import InvalidInput, check_name
from cairn.core.domain.lifecycle_rules import check_lifecycle
from cairn.core.domain.openlineage import check_project_settings

MAX_TEXT = 500
MAX_MEMBERS = 1000
_HASH = re.compile(r"^[0-9a-f]{64}$")


def _fields(kind: str, body: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput(f"invalid_{kind}", f"a {kind} is a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"invalid_{kind}",
                           f"unknown {kind} fields: {', '.join(sorted(unknown))}")
    return body


def _text(body: Mapping[str, Any], key: str, kind: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
        raise InvalidInput(f"invalid_{kind}",
                           f"{key} must be text of at most {MAX_TEXT} characters")
    return value


def _flag(body: Mapping[str, Any], key: str, kind: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"invalid_{kind}", f"{key} must be true or false")
    return value


def _roles(value: Any, what: str) -> dict[str, str]:
    """{name: role}; names checked like every other name, roles one of ROLES."""
    if not isinstance(value, Mapping) or len(value) > MAX_MEMBERS:
        raise InvalidInput("invalid_project", f"{what} is an object of name: role "
                           f"(at most {MAX_MEMBERS})")
    for name, role in value.items():
        check_name(str(name), what.rstrip("s"))
        if role not in ROLES:
            raise InvalidInput("invalid_role", f"{what} {name}: role {role!r} must be one of "
                               f"{', '.join(ROLES)}")
    return dict(sorted(value.items()))


def check_user(body: Mapping[str, Any]) -> dict[str, Any]:
    b = _fields("user", body, {"display_name", "email", "admin", "disabled"})
    return {"display_name": _text(b, "display_name", "user"), "email": _text(b, "email", "user"),
            "admin": _flag(b, "admin", "user"), "disabled": _flag(b, "disabled", "user")}


def check_team(body: Mapping[str, Any]) -> dict[str, Any]:
    b = _fields("team", body, {"members", "description"})
    members = b.get("members") or []
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise InvalidInput("invalid_team", f"members is a list of at most {MAX_MEMBERS} names")
    return {"members": sorted({check_name(str(m), "member") for m in members}),
            "description": _text(b, "description", "team")}


def check_service_account(body: Mapping[str, Any]) -> dict[str, Any]:
    """`trusted`: may assert another actor on events it produces to Kafka itself (an
    orchestrator publishing on behalf of its users); `owner`: the user who manages it."""
    b = _fields("service_account", body, {"description", "owner", "trusted", "disabled"})
    owner = b.get("owner")
    return {"description": _text(b, "description", "service_account"),
            "owner": None if owner is None else check_name(str(owner), "owner"),
            "trusted": _flag(b, "trusted", "service_account"),
            "disabled": _flag(b, "disabled", "service_account")}


def check_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise InvalidInput("invalid_scope", f"scopes must be a non-empty list of "
                           f"{', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


def check_token(body: Mapping[str, Any]) -> dict[str, Any]:
    b = _fields("token", body, {"hash", "owner", "owner_kind", "scopes", "expires_at",
                                "revoked", "description", "created_by"})
    if not isinstance(b.get("hash"), str) or not _HASH.match(b["hash"]):
        raise InvalidInput("invalid_token", "hash must be the token's sha256, 64 hex digits")
    if b.get("owner_kind") not in ("user", "service_account"):
        raise InvalidInput("invalid_token", "owner_kind must be user or service_account")
    expires = b.get("expires_at")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise InvalidInput("invalid_token", "expires_at is epoch milliseconds or null")
    return {"hash": b["hash"], "owner": check_name(str(b.get("owner") or ""), "owner"),
            "owner_kind": b["owner_kind"], "scopes": check_scopes(b.get("scopes")),
            "expires_at": expires, "revoked": _flag(b, "revoked", "token"),
            "description": _text(b, "description", "token"),
            "created_by": _text(b, "created_by", "token")}


def check_project(body: Mapping[str, Any]) -> dict[str, Any]:
    b = _fields("project", body, {"visibility", "members", "teams", "read_only_after_days",
                                  "description", "lifecycle", "openlineage"})
    visibility = b.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise InvalidInput("invalid_visibility", f"visibility {visibility!r} must be "
                           f"{' or '.join(VISIBILITIES)}")
    days = b.get("read_only_after_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise InvalidInput("invalid_project", "read_only_after_days is a whole number of days "
                           "(0 or more) or null")
    return {"visibility": visibility, "members": _roles(b.get("members") or {}, "members"),
            "teams": _roles(b.get("teams") or {}, "teams"), "read_only_after_days": days,
            "description": _text(b, "description", "project"),
            "lifecycle": None if b.get("lifecycle") is None else check_lifecycle(b["lifecycle"]),
            **({} if b.get("openlineage") is None
               else {"openlineage": check_project_settings(b["openlineage"])})}


def check_denial(body: Mapping[str, Any]) -> dict[str, Any]:
    """A refused request, as the api saw it (never the token itself)."""
    b = _fields("denial", body, {"method", "path", "route", "status", "reason", "project",
                                 "token_id"})
    if b.get("status") not in (401, 403, 404):  # 404: a private project, answered as missing
        raise InvalidInput("invalid_denial", "status must be 401, 403 or 404")
    return {k: (b.get(k) if k == "status" else _text(b, k, "denial"))
            for k in ("method", "path", "route", "status", "reason", "project", "token_id")}


CHECKS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "user": check_user, "team": check_team, "service_account": check_service_account,
    "token": check_token, "project": check_project, "denial": check_denial,
}
LOG_ONLY = {"denial": "AccessDenied"}  # kinds only chained, never kept as items: event type
