"""Where a rule's project comes from (cairn.api.policy.WHERE), and the decision on it.

Each resolver answers (decision, project name) for one request; a request that names
nothing yet (a malformed ref, an unknown subscription) is let through to the route, which
answers 400 or 404 and shows nothing. Decisions on a project go through cairn.api.hiding, so a
project the caller may not see answers as a missing one; a blob, event or subscription that
only such a project shows answers as a missing blob, event or subscription.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import Request

from cairn.api.errors import ApiError
from cairn.api.hiding import is_unseen, judge, judge_settings, unseen
from cairn.api.policy import Rule
from cairn.api.visibility import project, project_of_ref
from cairn.core.domain.access import ALLOW, Decision, Principal, decide_site, permission_of
from cairn.core.domain.identity import InvalidInput, check_stage
from cairn.core.domain.lifecycle_rules import rules_of
from cairn.readmodel.blobs import listing_projects
from cairn.readmodel.events import event_subject
from cairn.readmodel.visibility import subscription_scope

Resolver = Callable[[Request, Principal, Rule, asyncpg.Pool],
                    Awaitable[tuple[Decision, str | None]]]


async def _on(pool: asyncpg.Pool, principal: Principal, permission: str, name: str
              ) -> tuple[Decision, str | None]:
    return await judge(pool, principal, permission, name), name


async def _all_of(pool: asyncpg.Pool, principal: Principal, permission: str,
                  names: list[str]) -> tuple[Decision, str | None]:
    """Every project must allow it; none named: a site admin only. An unseen project among
    them answers first, whatever their order, so a refusal never names a visible one
    alongside."""
    if not names:
        return decide_site(principal, "site_admin"), None
    refusals = [(d, name) for name in names
                if not (d := await judge(pool, principal, permission, name)).allowed]
    refusals.sort(key=lambda found: not is_unseen(found[0]))
    return refusals[0] if refusals else (ALLOW, names[0])


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


async def _gate(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    """A stage move or an alias change: the role the project's lifecycle rules ask for
    (the rule's own permission when the stage is not given). A caller allowed to move it
    to a stage the project's ladder lacks hears so at once (422 unknown_stage); the ledger
    checks the ladder again when it applies the move."""
    name = str(request.path_params["project"])
    settings = await project(pool, name)
    rules = rules_of({"lifecycle": settings.lifecycle})
    alias = request.path_params.get("alias")
    try:
        stage = None if alias else (await request.json()).get("stage")
    except (ValueError, AttributeError):
        stage = None
    role = rules.alias_role(str(alias)) if alias else \
        rules.stage_role(stage) if isinstance(stage, str) else None
    decision = await judge_settings(pool, principal,
                                    permission_of(role) if role else rule.permission, settings)
    if decision.allowed and isinstance(stage, str):
        try:
            rules.check_on_ladder(check_stage(stage), name)
        except InvalidInput as exc:
            if exc.reason == "unknown_stage":  # a malformed name is the route's 400
                raise ApiError(422, exc.reason, str(exc)) from None
    return decision, name


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


async def _event(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                 ) -> tuple[Decision, str | None]:
    try:
        event_id = str(uuid.UUID(str(request.path_params["event_id"])))
    except ValueError:
        return ALLOW, None  # not an event id: the route says so
    row = await event_subject(pool, event_id)
    if row is None:
        return ALLOW, None  # pending or unknown: nothing to show
    name = project_of_ref(row["artifact"])
    if row["config"] or name is None:  # a configuration change (kind/key): with a token
        return decide_site(principal, "authenticated"), None
    decided = await _on(pool, principal, rule.permission, name)
    return (ALLOW, None) if is_unseen(decided[0]) else decided  # the route says "pending"


async def _blob(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                ) -> tuple[Decision, str | None]:
    sha256 = str(request.path_params.get("sha256", "")).lower()
    names = sorted((await listing_projects(pool, [sha256])).get(sha256, ()))
    if not names:  # not published (yet): an uploader may check it; a stranger learns nothing
        stored = await asyncio.to_thread(request.app.state.blobs.has, sha256)
        return (decide_site(principal, "publish") if stored else ALLOW), None
    refusals = []
    for name in names:
        decided = await _on(pool, principal, rule.permission, name)
        if decided[0].allowed:
            return decided
        refusals.append(decided)
    return _as_missing(refusals[0], f"blob {request.path_params.get('sha256')}")


def _as_missing(decided: tuple[Decision, str | None], what: str) -> tuple[Decision, str | None]:
    """A refusal over a project the caller may not see, worded as the route's own 404 for
    an unknown `what` (the thing named in the path, not the project)."""
    if not is_unseen(decided[0]):
        return decided
    return unseen(f"{what} does not exist", exists=True), decided[1]


async def _subscription(request: Request, principal: Principal, rule: Rule, pool: asyncpg.Pool
                        ) -> tuple[Decision, str | None]:
    scope = await subscription_scope(pool, str(request.path_params["sub_id"]))
    if scope is None:
        return ALLOW, None  # the route answers 404
    if scope.body is None:  # removed; what is left of it: for those with a token
        return decide_site(principal, "authenticated"), None
    sub = scope.body
    names = [str(n) for n in (sub.get("filter") or {}).get("projects") or []]
    what = f"subscription {request.path_params['sub_id']}"
    if rule.permission != "read":
        return _as_missing(await _all_of(pool, principal, rule.permission, names), what)
    if principal.site_admin or sub.get("team") in principal.teams:
        return ALLOW, None
    refusals = []  # not of the team: a maintainer of one of the projects it hears about
    for name in names:
        decided = await _on(pool, principal, "maintain", name)
        if decided[0].allowed:
            return decided
        refusals.append(decided)
    refusals.sort(key=lambda found: not is_unseen(found[0]))
    return _as_missing(refusals[0], what) if refusals else \
        (decide_site(principal, "site_admin"), None)


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
    "none": _none, "path": _path, "gate": _gate, "ref": _ref, "body": _body, "event": _event,
    "blob": _blob,
    "subscription": _subscription, "team": _team, "audit": _audit, "filtered": _open,
    "handler": _none,
}
