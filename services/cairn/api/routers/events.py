"""What became of an emitted event: pending, recorded by the ledger (with its version), or
rejected (with the reason). Writes answer 202 with an event_id; clients poll this.

An event of a private project the caller may not see answers as an unknown one does
(pending): the policy lets it through (cairn.api.resolvers) so that the answer is the same."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from cairn.api import reads
from cairn.api.deps import HiddenProjects, PoolDep
from cairn.api.visibility import Hidden, project_of_ref
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.events import event_subject
from cairn.readmodel.versions import Db

router = APIRouter(prefix="/v1/events", tags=["events"])
PENDING = {"status": "pending"}


@router.get("/{event_id}")
async def event_status(event_id: str, pool: PoolDep, hidden: HiddenProjects) -> dict[str, Any]:
    return await visible_status(pool, event_id, hidden)


async def visible_status(pool: Db, event_id: str, hidden: Hidden) -> dict[str, Any]:
    """The event's status, or pending for one of a project hidden from the caller."""
    try:
        canonical = str(uuid.UUID(event_id))
    except ValueError:
        raise InvalidInput("invalid_event_id", f"{event_id!r} is not an event id") from None
    if hidden:
        subject = await event_subject(pool, canonical)
        if subject is not None and not subject["config"] \
                and project_of_ref(subject["artifact"]) in hidden:
            return dict(PENDING)
    return await reads.event_status(pool, canonical)
