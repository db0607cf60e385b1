"""What a project's lifecycle rules ask of a write that only its body reveals: a publish's
stage (the stage's gate) and a metadata edit's legal hold (the hold role).

The policy table's rule (`publish`) is checked before the route runs; these ask more once the
body is read, through cairn.api.guard.authorize, so a refusal is the same 401/403/404 as
everywhere and is recorded in the audit log. The facts a gate needs are checked by
LifecycleRules.check_publish, the one check the ledger also applies to service accounts
(cairn.ledger.origins), so the api answers at once (422) what the ledger would refuse.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import Request

from cairn.api.errors import ApiError
from cairn.api.guard import authorize
from cairn.api.visibility import project
from cairn.core.domain.access import permission_of
from cairn.core.domain.identity import InvalidInput, check_stage
from cairn.core.domain.lifecycle_rules import DEFAULT, HOLD, LifecycleRules, rules_of


async def rules_of_project(pool: asyncpg.Pool, name: str) -> LifecycleRules:
    return rules_of({"lifecycle": (await project(pool, name)).lifecycle})


async def authorize_publish(request: Request, pool: asyncpg.Pool, project_name: str,
                            artifact: str, stage: str | None) -> None:
    """A publish into `stage` is a move into it: the stage's gate role (403), then its place
    on the ladder and the facts its gate asks, which a new version lacks (422
    unknown_stage or gate_needs_promotion: publish, then promote)."""
    if stage is not None:
        check_stage(stage)  # malformed: 400 like the stage route
    rules = await rules_of_project(pool, project_name) if stage is not None else DEFAULT
    await authorize(request, permission_of(rules.publish_role(stage)), project_name)
    if stage is not None:
        try:
            rules.check_publish(stage, artifact)
        except InvalidInput as exc:
            raise ApiError(422, exc.reason, str(exc), stage=stage) from None


async def authorize_hold(request: Request, pool: asyncpg.Pool, project_name: str,
                         changes: dict[str, Any]) -> None:
    """Setting or releasing a legal hold needs the project's hold role (maintainer unless the
    project says otherwise); other fields need only what the route's rule asked."""
    if HOLD in changes:
        rules = await rules_of_project(pool, project_name)
        await authorize(request, permission_of(rules.hold_role), project_name)
