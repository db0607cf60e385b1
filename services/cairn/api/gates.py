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
                            artifact: str, stage: str | None, *,
                            version_number: int | None = None, as_recorded: bool = False
                            ) -> None:
    """A publish into `stage` is a move into it: the stage's gate role (403), then its place
    on the ladder and the facts its gate asks, which a new version lacks (422
    unknown_stage or gate_needs_promotion: publish, then promote). An import's requested
    `version_number` or `as_recorded` stage needs the project's admin role (403); an
    as-recorded stage skips the gate's facts (the Published event says so: audited)."""
    if stage is not None:
        check_stage(stage)  # malformed: 400 like the stage route
    rules = await rules_of_project(pool, project_name) if stage is not None else DEFAULT
    await authorize(request, permission_of(rules.publish_role(stage)), project_name)
    if version_number is not None or as_recorded:
        await _authorize_import(request, project_name, "a requested version number"
                                if version_number is not None else "an as-recorded import")
    if stage is not None:
        try:
            if as_recorded:  # the gate's facts are skipped, not the ladder
                rules.check_on_ladder(stage, project_name)
            else:
                rules.check_publish(stage, artifact)
        except InvalidInput as exc:
            raise ApiError(422, exc.reason, str(exc), stage=stage) from None


async def _authorize_import(request: Request, project_name: str, what: str) -> None:
    """Only a project admin (or a registry administrator) imports as recorded."""
    try:
        await authorize(request, "admin", project_name)
    except ApiError as exc:
        if exc.status != 403:
            raise
        raise ApiError(403, exc.reason, f"{what} is an import's: it needs the admin role on "
                       f"project {project_name} ({exc.message})", permission="admin",
                       project=project_name) from None


async def authorize_hold(request: Request, pool: asyncpg.Pool, project_name: str,
                         changes: dict[str, Any]) -> None:
    """Setting or releasing a legal hold needs the project's hold role (maintainer unless the
    project says otherwise); other fields need only what the route's rule asked."""
    if HOLD in changes:
        rules = await rules_of_project(pool, project_name)
        await authorize(request, permission_of(rules.hold_role), project_name)
