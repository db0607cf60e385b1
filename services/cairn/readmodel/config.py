"""Config items as the ledger keeps them: `config_items` holds the current value of each
(kind, key) the ConfigEvents set (users, teams, service accounts, tokens, projects, ...).
Removed items are never returned here."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection  # a pool, or a connection in a transaction
CURRENT = ("SELECT key, body, actor, created_at, updated_at, seq FROM config_items"
           " WHERE kind = $1 AND NOT removed")
ITEMS_SQL = CURRENT + " AND ($2::text IS NULL OR key = $2) ORDER BY key"
TOKENS_SQL = CURRENT + " AND body->>'owner' = $2 ORDER BY created_at"


@dataclass(frozen=True)
class ConfigItem:
    key: str
    body: dict[str, Any]
    actor: str  # who set the current value
    created_at: dt.datetime
    updated_at: dt.datetime
    seq: int  # the event_log entry that set it


def loaded(value: Any) -> dict[str, Any]:
    """A jsonb value as a dict, whether the pool decodes JSON or hands back its text."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def _item(row: asyncpg.Record) -> ConfigItem:
    return ConfigItem(row["key"], loaded(row["body"]), row["actor"], row["created_at"],
                      row["updated_at"], row["seq"])


async def items(db: Db, kind: str) -> list[ConfigItem]:
    """Every current item of the kind, by key."""
    return [_item(r) for r in await db.fetch(ITEMS_SQL, kind, None)]


async def item(db: Db, kind: str, key: str) -> ConfigItem | None:
    row = await db.fetchrow(ITEMS_SQL, kind, key)
    return None if row is None else _item(row)


async def tokens_of(db: Db, owner: str) -> list[ConfigItem]:
    """The owner's tokens (revoked and expired ones too), oldest first."""
    return [_item(r) for r in await db.fetch(TOKENS_SQL, "token", owner)]
