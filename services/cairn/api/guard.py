"""Enforcing the policy table (cairn.api.policy) before every route: `enforce` is the app's
one dependency. It resolves the caller (cairn.api.principals), finds the project the rule
names (cairn.api.resolvers), decides (cairn.api.hiding over cairn.core.domain.access), records a
refusal (cairn.api.denials) and answers 401 or 403 naming the permission that was missing, or
404 exactly as for a missing thing where the caller may not see the project.

Routes whose project is only known inside the handler (a publish reads its body as a stream)
are `handler` rules: `enforce` checks what it can (a token with the scope), and the handler
calls `authorize` once it knows the project.
"""

from __future__ import annotations

from fastapi import Request

from cairn.api import denials
from cairn.api.errors import ApiError, Reason
from cairn.api.hiding import ABSENT, is_unseen, judge
from cairn.api.policy import rule_for
from cairn.api.principals import principal_of
from cairn.api.resolvers import RESOLVERS
from cairn.core.domain.access import Decision, Principal, decide_site


def refuse(request: Request, principal: Principal, decision: Decision, permission: str,
           project_name: str | None) -> ApiError:
    """Record the refusal and build its error: the body names the permission it lacked, or,
    for a project the caller may not see, is what a missing thing answers (nothing more)."""
    if decision.reason != ABSENT:  # a probe of a hidden project is worth recording, a typo not
        denials.record(request, principal, decision, project_name)
    if is_unseen(decision):
        return ApiError(404, Reason.NOT_FOUND, decision.message)
    headers = {"WWW-Authenticate": "Bearer"} if decision.status == 401 else None
    return ApiError(decision.status, decision.reason, decision.message, headers=headers,
                    permission=permission, project=project_name)


async def authorize(request: Request, permission: str, project_name: str) -> Principal:
    """For handler rules: refuse unless the caller has `permission` on the project."""
    principal = await principal_of(request)
    decision = await judge(request.app.state.pool, principal, permission, project_name)
    if not decision.allowed:
        raise refuse(request, principal, decision, permission, project_name)
    return principal


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
