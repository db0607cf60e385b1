"""Webhook subscriptions as the ledger keeps them: the `config_items` rows of kind
'subscription', each with its owner and `since`, the actor and seq of the event_log entry
that created it (the first of its history). The api shows them, the notifier delivers to the
active ones."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from cairn.readmodel.config import Db, loaded

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
ACTIVE = SELECT + " AND NOT c.removed ORDER BY c.key"
# Moves with every creation, change and removal: the notifier reloads only then.
MARKER = "SELECT coalesce(max(seq), 0) FROM config_items WHERE kind = 'subscription'"


class SubscriptionRow(TypedDict):
    key: str
    body: dict[str, Any]  # team, url, filter, format, active, description; {} once removed
    removed: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    seq: int  # the entry that set the current value
    owner: str  # the actor who created it
    since: int  # the seq that created it


def _row(row: Any) -> SubscriptionRow:
    return SubscriptionRow(key=row["key"], body=loaded(row["body"]), removed=row["removed"],
                           created_at=row["created_at"], updated_at=row["updated_at"],
                           seq=row["seq"], owner=row["owner"], since=row["since"])


async def subscription(db: Db, key: str) -> SubscriptionRow | None:
    """The subscription (removed ones too), or None if the ledger never recorded it."""
    row = await db.fetchrow(ONE, key)
    return None if row is None else _row(row)


async def subscriptions(db: Db, team: str | None, limit: int) -> list[SubscriptionRow]:
    """Current subscriptions, of `team` only if given, newest first."""
    return [_row(r) for r in await db.fetch(MANY, team, limit)]


async def active_subscriptions(db: Db) -> list[SubscriptionRow]:
    """Every subscription not removed (`active` false ones too), by id."""
    return [_row(r) for r in await db.fetch(ACTIVE)]


async def subscriptions_marker(db: Db) -> int:
    """The highest seq among subscriptions: it changes when any of them does."""
    return int(await db.fetchval(MARKER))
