"""Who you are, tokens, projects' settings and roles, users, teams, service accounts and the
audit log: the Client's methods over the api's access routes.

    client.whoami()                                   # {"name", "kind", "teams", ...}
    made = client.create_token(scopes=["read"], expires_in_days=30)   # made["token"] once
    client.set_project("vision", {**client.project("vision"), "visibility": "private"})
    client.audit_log(project="vision", actions=["StageChanged"], limit=20)

Each change is an audited event: with wait=True (the default) a method returns once the
ledger recorded it, with the api's answer and the ledger's status in one dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from cairn.sdk.calls import ApiCalls, present


def segment(name: str) -> str:
    """A name as one path segment: a '/' or '?' in it cannot reach another route."""
    return quote(name, safe="")


class AccessCalls(ApiCalls):
    def whoami(self) -> dict[str, Any]:
        """Who the api takes this client's token for: name, kind, teams, scopes, roles."""
        return dict(self._get("/v1/whoami"))

    # -- tokens -----------------------------------------------------------------------------

    def create_token(self, owner: str | None = None, scopes: Sequence[str] = ("read", "publish"),
                     expires_in_days: int = 90, description: str | None = None, *,
                     wait: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """A new token for you (or a service account you own; admins: anyone). Its secret,
        `token`, is in this answer only."""
        body = {"owner": owner, "scopes": list(scopes), "expires_in_days": expires_in_days,
                "description": description}
        return self._write("POST", "/v1/tokens", body, wait, timeout)

    def tokens(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Your tokens (or `owner`'s): ids, scopes, expiry, revoked; never the secrets."""
        return list(self._get("/v1/tokens", present(owner=owner)))

    def revoke_token(self, token_id: str, *, wait: bool = True, timeout: float = 60.0
                     ) -> dict[str, Any]:
        return self._write("DELETE", f"/v1/tokens/{segment(token_id)}", None, wait, timeout)

    # -- projects ---------------------------------------------------------------------------

    def project(self, name: str) -> dict[str, Any]:
        """Visibility, your role and (to members) members, teams and lifecycle."""
        return dict(self._get(f"/v1/projects/{segment(name)}"))

    def set_project(self, name: str, settings: Mapping[str, Any], *, wait: bool = True,
                    timeout: float = 60.0) -> dict[str, Any]:
        """Replace a project's settings (visibility, members, teams, read_only_after_days,
        description, lifecycle): what is left out is reset, so start from `project()`."""
        return self._write("PUT", f"/v1/projects/{segment(name)}", dict(settings), wait,
                           timeout)

    # -- principals (administrators) --------------------------------------------------------

    def set_user(self, name: str, *, admin: bool = False, disabled: bool = False,
                 display_name: str | None = None, email: str | None = None, wait: bool = True,
                 timeout: float = 60.0) -> dict[str, Any]:
        body = {"admin": admin, "disabled": disabled, "display_name": display_name,
                "email": email}
        return self._write("PUT", f"/v1/users/{segment(name)}", body, wait, timeout)

    def set_team(self, name: str, members: Sequence[str] = (), description: str | None = None,
                 *, wait: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """Create a team or replace its whole member list."""
        body = {"members": list(members), "description": description}
        return self._write("PUT", f"/v1/teams/{segment(name)}", body, wait, timeout)

    def set_service_account(self, name: str, *, owner: str | None = None, trusted: bool = False,
                            disabled: bool = False, description: str | None = None,
                            wait: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """`trusted`: may publish to Kafka for other actors."""
        body = {"owner": owner, "trusted": trusted, "disabled": disabled,
                "description": description}
        return self._write("PUT", f"/v1/service-accounts/{segment(name)}", body, wait, timeout)

    # -- audit ------------------------------------------------------------------------------

    def audit_log(self, *, project: str | None = None, actor: str | None = None,
                  actions: Sequence[str] = (), since: str | None = None,
                  until: str | None = None, limit: int = 50) -> dict[str, Any]:
        """Who did what, newest first: {"entries": [...], ...} (administrators; a project's
        maintainers with `project`). `actions` are event types, e.g. StageChanged."""
        params = present(project=project, actor=actor, action=list(actions) or None,
                         since=since, until=until, limit=str(limit))
        return dict(self._get("/v1/audit", params))
