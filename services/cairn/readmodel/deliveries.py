"""The notifier's delivery log as the ledger recorded it (`deliveries`, one row per attempt):
where a subscription's deliveries stand, a page of its attempts, and how far a restarted
notifier got with each delivery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cairn.readmodel.config import Db

# Where each of the subscription's deliveries stands: the state after its latest attempt.
TOTALS = """
SELECT state, count(*) AS n FROM (
  SELECT DISTINCT ON (delivery_id) state FROM deliveries WHERE subscription = $1
  ORDER BY delivery_id, attempt DESC, attempted_at DESC
) latest GROUP BY state
"""
PAGE = """
SELECT event_id, delivery_id, seq, event_type, artifact, target, attempt, status_code, error,
       duration_ms, state, attempted_at, next_attempt_at, recorded_at
FROM deliveries
WHERE subscription = $1 AND ($2::text IS NULL OR state = $2)
  AND ($3::timestamptz IS NULL OR (attempted_at, event_id) < ($3, $4::uuid))
ORDER BY attempted_at DESC, event_id DESC
LIMIT $5
"""
PROGRESS = """
SELECT delivery_id, max(attempt) AS attempts, bool_or(state <> 'retrying') AS ended
FROM deliveries WHERE delivery_id = ANY($1::text[]) GROUP BY delivery_id
"""


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt (fields in the order the api shows them)."""
    event_id: str
    delivery_id: str
    seq: int
    event_type: str
    artifact: str
    target: str  # scheme, host and port: never the path
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float
    state: str  # delivered, retrying, dead
    attempted_at: dt.datetime
    next_attempt_at: dt.datetime | None
    recorded_at: dt.datetime


async def delivery_totals(db: Db, subscription: str) -> dict[str, int]:
    """state → how many of the subscription's deliveries are in it now."""
    return {r["state"]: r["n"] for r in await db.fetch(TOTALS, subscription)}


async def attempts_page(db: Db, subscription: str, state: str | None,
                        after: tuple[dt.datetime, str] | None, limit: int) -> list[Attempt]:
    """Attempts newest first, in `state` only if given, older than `after` (attempted_at,
    event_id) if given."""
    at, event_id = after if after is not None else (None, None)
    rows = await db.fetch(PAGE, subscription, state, at, event_id, limit)
    return [Attempt(**{**dict(r), "event_id": str(r["event_id"])}) for r in rows]


async def delivery_progress(db: Db, delivery_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """delivery id → (attempts recorded, ended) for the ids the delivery log knows."""
    rows = await db.fetch(PROGRESS, list(delivery_ids))
    return {r["delivery_id"]: (r["attempts"], r["ended"]) for r in rows}
