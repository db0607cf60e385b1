"""What the api shows of subscriptions and their deliveries (the ledger wrote both; the read
model, cairn.readmodel.subscriptions and .deliveries, reads them).

A subscription's owner is the actor of the event that created it. Its URL is shown
whole only to the owner: others see the origin, since a webhook's path is often its
credential (Slack's are). Deliveries are paged newest first with an opaque cursor.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

import asyncpg

from cairn.api.errors import not_found
from cairn.api.reads import snapshot
from cairn.core.adapters.targets import origin
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.deliveries import Attempt, attempts_page, delivery_totals
from cairn.readmodel.subscriptions import SubscriptionRow, subscription, subscriptions

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def shown(row: SubscriptionRow, actor: str) -> dict[str, Any]:
    body = row["body"]
    url = body.get("url")
    if url is not None and actor != row["owner"]:
        url = f"{origin(url)}/…"
    return {"id": row["key"], "team": body.get("team"), "url": url,
            "filter": body.get("filter"), "format": body.get("format"),
            "active": body.get("active"), "description": body.get("description"),
            "removed": row["removed"], "owner": row["owner"], "since_seq": row["since"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


async def find(pool: asyncpg.Pool, sub_id: str) -> SubscriptionRow:
    """The subscription's row (removed ones too); 404 if the ledger never recorded it."""
    row = await subscription(pool, sub_id)
    if row is None:
        raise not_found(f"subscription {sub_id}")
    return row


async def detail(pool: asyncpg.Pool, sub_id: str, actor: str) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        row = await subscription(conn, sub_id)
        if row is None:
            raise not_found(f"subscription {sub_id}")
        totals = await delivery_totals(conn, sub_id)
    return {**shown(row, actor), "deliveries": totals}


async def listing(pool: asyncpg.Pool, team: str | None, limit: int, actor: str
                  ) -> list[dict[str, Any]]:
    return [shown(r, actor) for r in await subscriptions(pool, team, limit)]


def cursor_of(row: Attempt) -> str:
    micros = (row.attempted_at - EPOCH) // dt.timedelta(microseconds=1)  # exact, no float
    return f"{micros}.{row.event_id}"


def parse_cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    """The (attempted_at, event_id) a page goes on after; None for the first page."""
    if not cursor:
        return None
    try:
        micros, _, event_id = cursor.partition(".")
        at = EPOCH + dt.timedelta(microseconds=int(micros))
        return at, str(uuid.UUID(event_id))
    except (ValueError, OverflowError):
        raise InvalidInput("invalid_cursor", f"cursor {cursor!r} is not one this api gave "
                           "out: pass the `next` of the previous page") from None


async def delivery_page(pool: asyncpg.Pool, sub_id: str, state: str | None, limit: int,
                        cursor: str | None) -> dict[str, Any]:
    after = parse_cursor(cursor)
    async with snapshot(pool) as conn:
        if await subscription(conn, sub_id) is None:
            raise not_found(f"subscription {sub_id}")
        rows = await attempts_page(conn, sub_id, state, after, limit + 1)
    page = rows[:limit]
    return {
        "subscription": sub_id,
        "deliveries": [{**asdict(r), "attempted_at": _iso(r.attempted_at),
                        "next_attempt_at": _iso(r.next_attempt_at),
                        "recorded_at": _iso(r.recorded_at)} for r in page],
        "next": cursor_of(page[-1]) if len(rows) > limit else None,
    }
