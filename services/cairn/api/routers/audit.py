"""`GET /v1/audit`: the hash-chained event log, newest first, filtered by project, actor,
action (the event type: Published, StageChanged, ConfigChanged, AccessDenied, ...) and time.

Registry administrators see everything; a project's maintainers see that project's entries
(`project=` is then required). Every entry is a row `cairn audit verify` checks; follow
`next` (a seq) for older entries.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cairn.api.deps import PoolDep
from cairn.readmodel.audit import LogEntry, log_entries
from cairn.search.query import parse_date

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _when(text: str | None, what: str) -> dt.datetime | None:
    return None if not text else dt.datetime.fromtimestamp(parse_date(text, what) / 1000, dt.UTC)


def _entry(row: LogEntry) -> dict[str, Any]:
    ref = f"{row.artifact}@v{row.version_number}" if row.version_number else None
    return {"seq": row.seq, "event_id": row.event_id, "action": row.event_type,
            "outcome": row.outcome, "actor": row.actor, "subject": row.artifact,
            "ref": ref, "project": row.project,
            "occurred_at": row.occurred_at.astimezone(dt.UTC).isoformat(),
            "recorded_at": row.recorded_at.astimezone(dt.UTC).isoformat(),
            "denial": json.loads(row.denial) if row.denial else None, "detail": row.detail}


@router.get("")
async def audit_log(
    pool: PoolDep, project: str | None = None, actor: str | None = None,
    action: Annotated[list[str] | None, Query(description="event types, e.g. StageChanged, "
                                              "AccessDenied")] = None,
    since: Annotated[str | None, Query(description="ISO time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO time, exclusive")] = None,
    before: Annotated[int | None, Query(description="the `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Who did what, when: entries of the hash-chained log, newest first."""
    rows = await log_entries(pool, project=project, actor=actor, actions=action or None,
                             since=_when(since, "since"), until=_when(until, "until"),
                             before=before, limit=limit + 1)
    page = rows[:limit]
    return {"entries": [_entry(r) for r in page],
            "next": page[-1].seq if len(rows) > limit else None}
