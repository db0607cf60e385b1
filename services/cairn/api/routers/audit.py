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
from cairn.search.query import parse_date

router = APIRouter(prefix="/v1/audit", tags=["audit"])
# The project of an entry; migration 0007 indexes this very expression (without the `e.`),
# so keep them the same (tests/integration/test_audit_index.py checks the plan).
PROJECT_OF = """CASE
  WHEN e.event_type = 'AccessDenied' THEN (e.event->>'body')::jsonb->>'project'
  WHEN e.event_type = 'ConfigChanged' THEN
    CASE WHEN e.event->>'kind' IN ('project', 'retention_policy') THEN e.event->>'key' END
  ELSE split_part(e.artifact, '/', 1) END"""
SELECT_SQL = f"""
SELECT e.seq, e.event_id, e.event_type, e.outcome, e.actor, e.artifact, e.occurred_at,
       e.recorded_at, v.version_number, {PROJECT_OF} AS project,
       CASE WHEN e.event_type = 'AccessDenied' THEN e.event->>'body' END AS denial
FROM event_log e LEFT JOIN versions v ON v.id = e.version_id
WHERE {{project}}
  AND ($2::text IS NULL OR e.actor = $2)
  AND ($3::text[] IS NULL OR e.event_type = ANY($3))
  AND ($4::timestamptz IS NULL OR e.recorded_at >= $4)
  AND ($5::timestamptz IS NULL OR e.recorded_at < $5)
  AND ($6::bigint IS NULL OR e.seq < $6)
ORDER BY e.seq DESC LIMIT $7
"""
# Two statements, not `($1 IS NULL OR ... = $1)`: a prepared statement's generic plan could
# not use the project index for that.
ENTRIES_SQL = SELECT_SQL.format(project="$1::text IS NULL")
PROJECT_ENTRIES_SQL = SELECT_SQL.format(project=f"{PROJECT_OF} = $1::text")


def _when(text: str | None, what: str) -> dt.datetime | None:
    return None if not text else dt.datetime.fromtimestamp(parse_date(text, what) / 1000, dt.UTC)


def _entry(row: Any) -> dict[str, Any]:
    ref = f"{row['artifact']}@v{row['version_number']}" if row["version_number"] else None
    return {"seq": row["seq"], "event_id": str(row["event_id"]), "action": row["event_type"],
            "outcome": row["outcome"], "actor": row["actor"], "subject": row["artifact"],
            "ref": ref, "project": row["project"],
            "occurred_at": row["occurred_at"].astimezone(dt.UTC).isoformat(),
            "recorded_at": row["recorded_at"].astimezone(dt.UTC).isoformat(),
            "denial": json.loads(row["denial"]) if row["denial"] else None}


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
    rows = await pool.fetch(PROJECT_ENTRIES_SQL if project else ENTRIES_SQL, project, actor,
                            action or None, _when(since, "since"), _when(until, "until"),
                            before, limit + 1)
    page = rows[:limit]
    return {"entries": [_entry(r) for r in page],
            "next": page[-1]["seq"] if len(rows) > limit else None}
