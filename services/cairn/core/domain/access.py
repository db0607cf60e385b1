"""Who may do what: principals, per-project roles and token scopes, decided in pure code.

A permission is needed either on a project (`read`, `publish`, `maintain`, `admin`: at least
the role viewer, contributor, maintainer or admin there) or on the registry itself
(`authenticated`: any valid token; `site_admin`: a registry administrator). A token's scopes
are a ceiling on top of its owner's roles: a `read` token of a project admin only reads.

A project without a `project` config item is public and has no members: anyone reads it and
only site admins change it. Site admins are the bootstrap tokens of the configuration
(CAIRN_API_TOKENS, CAIRN_ADMIN_TOKEN) and users whose item says `admin: true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("viewer", "contributor", "maintainer", "admin")
SCOPES = ("read", "publish", "maintain", "admin")  # each allows everything below it
PROJECT_PERMISSIONS = dict(zip(SCOPES, ROLES, strict=True))  # permission -> least role
SITE_PERMISSIONS = ("authenticated", "site_admin")
VISIBILITIES = ("public", "private")
ANONYMOUS = "anonymous"


def rank(role_or_scope: str | None) -> int:
    """0 for None; 1..4 up the ladder (a role and its scope share a rank)."""
    if role_or_scope is None:
        return 0
    ladder = ROLES if role_or_scope in ROLES else SCOPES
    return ladder.index(role_or_scope) + 1


@dataclass(frozen=True)
class Principal:
    """The caller of one request. `token_problem` says why a presented token counted for
    nothing (invalid, expired, revoked, disabled): the request was then judged anonymous."""

    name: str = ANONYMOUS
    kind: str = "anonymous"  # anonymous | user | service_account | bootstrap
    site_admin: bool = False
    teams: frozenset[str] = frozenset()
    scopes: tuple[str, ...] = ("read",)
    token_id: str | None = None
    token_problem: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    def scoped(self, permission: str) -> bool:
        """Whether the token's scopes reach `permission` (a project permission)."""
        return any(rank(s) >= rank(permission) for s in self.scopes)

    def ceiling(self) -> str:
        return max(self.scopes, key=rank)


@dataclass(frozen=True)
class Project:
    """A project's access settings (the `project` config item, or the defaults)."""

    name: str
    visibility: str = "public"
    members: Mapping[str, str] = field(default_factory=dict)  # principal name -> role
    teams: Mapping[str, str] = field(default_factory=dict)  # team -> role
    read_only_after_days: int | None = None
    configured: bool = False
    lifecycle: Mapping[str, Any] | None = None  # cairn.core.domain.lifecycle_rules

    @classmethod
    def of(cls, name: str, body: Mapping[str, Any] | None) -> Project:
        if body is None:
            return cls(name)
        return cls(name, body.get("visibility", "public"), dict(body.get("members") or {}),
                   dict(body.get("teams") or {}), body.get("read_only_after_days"), True,
                   body.get("lifecycle"))

    @property
    def private(self) -> bool:
        return self.visibility == "private"


def permission_of(role: str) -> str:
    """The project permission a role grants (contributor → publish, maintainer → maintain)."""
    return SCOPES[ROLES.index(role)]


def role_in(principal: Principal, project: Project) -> str | None:
    """The principal's best role in the project, directly or through a team."""
    if principal.site_admin:
        return "admin"
    if principal.anonymous:
        return None
    held = [project.members.get(principal.name),
            *(project.teams.get(team) for team in principal.teams)]
    return max(held, key=rank) if any(held) else None


def can_see(principal: Principal, project: Project) -> bool:
    return not project.private or role_in(principal, project) is not None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = "allowed"
    message: str = ""


ALLOW = Decision(True)


def _refuse(principal: Principal, message: str) -> Decision:
    """401 for the anonymous (saying why a presented token did not count), else 403."""
    if principal.anonymous:
        why = f"the token presented is {principal.token_problem}; " \
            if principal.token_problem else ""
        return Decision(False, 401, "unauthenticated",
                        f"{why}{message}: send 'Authorization: Bearer <token>' (CAIRN_TOKEN or "
                        "`cairn login`)")
    return Decision(False, 403, "forbidden", message)


def decide_site(principal: Principal, permission: str) -> Decision:
    """`authenticated` or `site_admin`, or a project permission needed nowhere in particular
    (uploading a blob needs a token with the `publish` scope, and nothing more)."""
    if principal.anonymous:
        return _refuse(principal, "this needs a token")
    if permission == "site_admin":
        if principal.site_admin and principal.scoped("admin"):
            return ALLOW
        return _refuse(principal, f"only registry administrators may do this; {principal.name} "
                       "is not one (or the token lacks the admin scope)")
    if permission in PROJECT_PERMISSIONS and not principal.scoped(permission):
        return _scope_refusal(principal, permission)
    return ALLOW


def _scope_refusal(principal: Principal, permission: str) -> Decision:
    return Decision(False, 403, "insufficient_scope",
                    f"the token's scopes ({', '.join(principal.scopes)}) do not include "
                    f"{permission}: create a token with --scope {permission}")


def decide(principal: Principal, permission: str, project: Project) -> Decision:
    """May the principal use `permission` (read, publish, maintain, admin) on the project?"""
    if permission == "read" and not project.private:
        return ALLOW
    if principal.anonymous:
        return _refuse(principal, f"{permission} on project {project.name} needs a token")
    if not principal.scoped(permission):
        return _scope_refusal(principal, permission)
    held = role_in(principal, project)
    needed = PROJECT_PERMISSIONS[permission]
    if rank(held) >= rank(needed):
        return ALLOW
    what = f"a {held}" if held else "not a member"
    return _refuse(principal, f"{principal.name} is {what} of project {project.name}; "
                   f"{permission} needs {needed} or more")
