"""What became of an emitted event: pending, recorded by the ledger (with its version), or
rejected (with the reason). Writes answer 202 with an event_id; clients poll this."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from cairn.api import reads
from cairn.api.deps import PoolDep
from cairn.core.identity import InvalidInput

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("/{event_id}")
async def event_status(event_id: str, pool: PoolDep) -> dict[str, Any]:
    try:
        canonical = str(uuid.UUID(event_id))
    except ValueError:
        raise InvalidInput("invalid_event_id", f"{event_id!r} is not an event id") from None
    return await reads.event_status(pool, canonical)
