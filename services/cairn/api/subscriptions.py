"""What the api reads about subscriptions and their deliveries (the ledger wrote both).

A subscription is the `config_items` row of kind 'subscription'; its owner is the actor of
the event that created it (the first entry of its history in event_log). Its URL is shown
whole only to the owner: others see the origin, since a webhook's path is often its
credential (Slack's are). Deliveries are paged newest first with an opaque cursor.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from cairn.api.errors import not_found
from cairn.api.reads import snapshot
from cairn.core.adapters.targets import origin
from cairn.core.domain.identity import InvalidInput

SELECT = """
SELECT c.key, c.body, c.removed, c.created_at, c.updated_at, c.seq,
       first.actor AS owner, first.seq AS since
FROM config_items c
CROSS JOIN LATERAL (
  SELECT e.seq, e.actor FROM event_log e
  WHERE e.artifact = 'subscription/' || c.key ORDER BY e.seq LIMIT 1
) first
WHERE c.kind = 'subscription'
"""
ONE = SELECT + " AND c.key = $1"
MANY = SELECT + (" AND NOT c.removed AND ($1::text IS NULL OR c.body->>'team' = $1)"
                 " ORDER BY c.created_at DESC, c.key LIMIT $2")
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

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def shown(row: asyncpg.Record, actor: str) -> dict[str, Any]:
    body = json.loads(row["body"]) if row["body"] is not None else {}
    url = body.get("url")
    if url is not None and actor != row["owner"]:
        url = f"{origin(url)}/…"
    return {"id": row["key"], "team": body.get("team"), "url": url,
            "filter": body.get("filter"), "format": body.get("format"),
            "active": body.get("active"), "description": body.get("description"),
            "removed": row["removed"], "owner": row["owner"], "since_seq": row["since"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


async def find(pool: asyncpg.Pool, sub_id: str) -> asyncpg.Record:
    """The subscription's row (removed ones too); 404 if the ledger never recorded it."""
    row = await pool.fetchrow(ONE, sub_id)
    if row is None:
        raise not_found(f"subscription {sub_id}")
    return row


async def detail(pool: asyncpg.Pool, sub_id: str, actor: str) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        row = await conn.fetchrow(ONE, sub_id)
        if row is None:
            raise not_found(f"subscription {sub_id}")
        totals = await conn.fetch(TOTALS, sub_id)
    return {**shown(row, actor), "deliveries": {r["state"]: r["n"] for r in totals}}


async def listing(pool: asyncpg.Pool, team: str | None, limit: int, actor: str
                  ) -> list[dict[str, Any]]:
    return [shown(r, actor) for r in await pool.fetch(MANY, team, limit)]


def cursor_of(row: asyncpg.Record) -> str:
    micros = (row["attempted_at"] - EPOCH) // dt.timedelta(microseconds=1)  # exact, no float
    return f"{micros}.{row['event_id']}"


def parse_cursor(cursor: str | None) -> tuple[dt.datetime | None, str | None]:
    if not cursor:
        return None, None
    try:
        micros, _, event_id = cursor.partition(".")
        at = EPOCH + dt.timedelta(microseconds=int(micros))
        return at, str(uuid.UUID(event_id))
    except (ValueError, OverflowError):
        raise InvalidInput("invalid_cursor", f"cursor {cursor!r} is not one this api gave "
                           "out: pass the `next` of the previous page") from None


async def delivery_page(pool: asyncpg.Pool, sub_id: str, state: str | None, limit: int,
                        cursor: str | None) -> dict[str, Any]:
    at, event_id = parse_cursor(cursor)
    async with snapshot(pool) as conn:
        if await conn.fetchval(ONE, sub_id) is None:
            raise not_found(f"subscription {sub_id}")
        rows = await conn.fetch(PAGE, sub_id, state, at, event_id, limit + 1)
    page = rows[:limit]
    return {
        "subscription": sub_id,
        "deliveries": [{**dict(r), "event_id": str(r["event_id"]),
                        "attempted_at": _iso(r["attempted_at"]),
                        "next_attempt_at": _iso(r["next_attempt_at"]),
                        "recorded_at": _iso(r["recorded_at"])} for r in page],
        "next": cursor_of(page[-1]) if len(rows) > limit else None,
    }
