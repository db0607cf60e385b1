"""Deciding on a project without confirming that a private one exists.

A caller who may not view a project (a private one they have no role in, or one that does
not exist) gets the same answer for both: 404 `not_found`, "project X does not exist ...",
whatever the route and whatever permission it needs. Only then does the usual decision
(cairn.core.domain.access.decide) speak, with its 403 naming the role needed: that tells nothing to
one who may see the project anyway. Anonymous callers asking for more than `read` still get
401 first: authentication comes before anything else, and it says nothing about the project
(a missing one answers 401 too).

The two 404s differ only in an internal reason (HIDDEN or ABSENT) that never leaves the api:
a probe of a hidden project is recorded in the audit log (cairn.api.denials), a typo is not.
"""

from __future__ import annotations

from cairn.api.visibility import project
from cairn.core.domain.access import Decision, Principal, Project, can_see, decide
from cairn.readmodel.versions import Db
from cairn.readmodel.visibility import has_publications

HIDDEN, ABSENT = "hidden", "absent"  # internal reasons of an unseen-project Decision


def unseen(message: str, *, exists: bool) -> Decision:
    """A refusal the guard answers as 404 not_found with `message` and nothing else."""
    return Decision(False, 404, HIDDEN if exists else ABSENT, message)


def unseen_project(principal: Principal, name: str, *, exists: bool) -> Decision:
    why = f" (the token presented is {principal.token_problem})" if principal.token_problem \
        else " (sign in to see private projects)" if principal.anonymous \
        else f": check the name, or ask a site administrator to create it " \
        f"(cairn project set {name})"
    return unseen(f"project {name} does not exist{why}", exists=exists)


def is_unseen(decision: Decision) -> bool:
    return decision.reason in (HIDDEN, ABSENT)


async def visible(db: Db, principal: Principal, settings: Project) -> bool:
    """May the principal learn that the project exists? A configured project: unless it is
    private and they have no role in it; an unconfigured one: if anything was published in
    it. Site admins see everything, so their missing projects reach the route, which may
    create them."""
    if principal.site_admin:
        return True
    if settings.configured:
        return can_see(principal, settings)
    return await has_publications(db, settings.name)


async def judge_settings(db: Db, principal: Principal, permission: str, settings: Project
                         ) -> Decision:
    """decide(), with an unseen project answered as a missing one (see the module doc)."""
    if principal.anonymous and permission != "read":
        return decide(principal, permission, settings)  # 401 whatever the project
    if not await visible(db, principal, settings):
        return unseen_project(principal, settings.name, exists=settings.configured)
    return decide(principal, permission, settings)


async def judge(db: Db, principal: Principal, permission: str, name: str) -> Decision:
    return await judge_settings(db, principal, permission, await project(db, name))
