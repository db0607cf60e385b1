"""Config items for the access-control routers: emitted as ConfigEvents (the ledger records
them, hash-chained, and keeps the current value in `config_items`), read back from there
through the read model (cairn.readmodel.config).

Every change answers 202 with the event_id to follow at /v1/events/{event_id}, like every
other write: it counts once the ledger recorded it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.config_items import check_item
from cairn.core.domain.events import new_config_event
from cairn.core.domain.identity import check_name
from cairn.readmodel import config
from cairn.readmodel.config import ConfigItem, Db


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


def shown(found: ConfigItem) -> dict[str, Any]:
    return {"name": found.key, **found.body, "changed_by": found.actor,
            "created_at": _iso(found.created_at), "updated_at": _iso(found.updated_at),
            "seq": found.seq}


async def items(pool: Db, kind: str) -> list[dict[str, Any]]:
    return [shown(found) for found in await config.items(pool, kind)]


async def item(pool: Db, kind: str, key: str) -> dict[str, Any] | None:
    found = await config.item(pool, kind, key)
    return None if found is None else shown(found)
