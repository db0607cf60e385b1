"""Config items for the access-control routers: emitted as ConfigEvents (the ledger records
them, hash-chained, and keeps the current value in `config_items`), read back from there.

Every change answers 202 with the event_id to follow at /v1/events/{event_id}, like every
other write: it counts once the ledger recorded it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import asyncpg
from pydantic import BaseModel

from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.config_items import check_item
from cairn.core.domain.events import new_config_event
from cairn.core.domain.identity import check_name

ITEMS_SQL = ("SELECT key, body, actor, created_at, updated_at, seq FROM config_items"
             " WHERE kind = $1 AND NOT removed AND ($2::text IS NULL OR key = $2) ORDER BY key")


async def put(emitter: Emitter, kind: str, key: str, body: Mapping[str, Any] | None,
              actor: str) -> dict[str, Any]:
    """Check the item as the ledger will, emit it, and say which event to follow."""
    item = check_item(kind, key, None if body is None else json.dumps(body))
    event = new_config_event(kind, key, item, actor=actor, tool="api")
    await emitter.emit_config_async(event)
    return {"kind": kind, "key": key, "event_id": event["event_id"], "item": item}


async def put_named(emitter: Emitter, kind: str, name: str, body: BaseModel,
                    actor: str) -> dict[str, Any]:
    """What every PUT of a named item (user, service account, team, project) does: the name
    checked like any Cairn name (refused as invalid_<kind>), the whole body as the item."""
    return await put(emitter, kind, check_name(name, kind), body.model_dump(), actor)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def shown(row: asyncpg.Record) -> dict[str, Any]:
    return {"name": row["key"], **json.loads(row["body"]), "changed_by": row["actor"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
            "seq": row["seq"]}


async def items(pool: asyncpg.Pool, kind: str) -> list[asyncpg.Record]:
    return list(await pool.fetch(ITEMS_SQL, kind, None))


async def item(pool: asyncpg.Pool, kind: str, key: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(ITEMS_SQL, kind, key)
    return None if row is None else shown(row)
