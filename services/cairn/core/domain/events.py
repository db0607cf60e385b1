"""Building and reading events as the TypedDicts generated from the Avro schemas
(cairn.core.domain.event_types): the one definition of each event's shape.

The payload union is written as (record name, body) so fastavro never guesses the branch;
`plain()` turns what fastavro reads (UUID, datetime) back into JSON-ready values, the form
the ledger hashes and stores.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from uuid6 import uuid7

from cairn.core.domain.event_types import (
    PAYLOAD_TYPES,
    ArtifactEvent,
    ConfigEvent,
    P,
    Payload,
    PayloadType,
    Source,
)

__all__ = ["PAYLOAD_TYPES", "NAMESPACE", "new_event", "new_config_event", "payload_of",
           "payload_as", "plain", "now_ms", "source"]

NAMESPACE = "dev.cairn.events"
B = TypeVar("B", bound=Payload)


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def source(tool: str, run_id: str | None = None) -> Source:
    """Which program on which host made an event."""
    return {"tool": tool, "host": socket.gethostname(), "run_id": run_id}


def new_event(
    artifact: str,
    payload_type: PayloadType,
    body: P,
    *,
    actor: str,
    tool: str,
    run_id: str | None = None,
    event_id: str | None = None,
) -> ArtifactEvent[P]:
    """An event whose payload is `body`, a record of type `payload_type`."""
    if payload_type not in PAYLOAD_TYPES:
        raise ValueError(f"unknown payload type {payload_type}")
    return {
        "event_id": event_id or str(uuid7()),
        "occurred_at": now_ms(),
        "actor": actor,
        "source": source(tool, run_id),
        "artifact": artifact,
        "schema_version": 1,
        "payload": (f"{NAMESPACE}.{payload_type}", body),
    }


def new_config_event(kind: str, key: str, body: Mapping[str, Any] | None, *, actor: str,
                     tool: str) -> ConfigEvent:
    """A ConfigEvent for cairn.config.events; `body=None` removes the item. The body is a
    configuration item (a subscription, a policy, a denial): JSON of its kind's own shape."""
    return {
        "event_id": str(uuid7()),
        "occurred_at": now_ms(),
        "actor": actor,
        "source": source(tool),
        "schema_version": 1,
        "kind": kind,
        "key": key,
        "body": None if body is None else json.dumps(body, sort_keys=True),
    }


def payload_of(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(short type name, body) of an event's payload; the body is the `Payload` branch the
    name says (`payload_as` gives it typed)."""
    name, body = event["payload"]
    return name.rsplit(".", 1)[-1], body


def payload_as(event: Mapping[str, Any], record: type[B]) -> B | None:
    """The payload's body typed as `record` (a generated payload TypedDict, e.g. Verdict) if
    the event carries one, else None."""
    name, body = payload_of(event)
    return cast(B, body) if name == record.__name__ else None


_LEAVES = frozenset({str, int, float, bool, type(None)})  # copied as they are


def plain(value: Any) -> Any:
    """JSON-ready copy: UUID → str, datetime → epoch millis, tuples → lists (but a union
    branch stays a (name, body) pair). Every consumer runs it on every decoded record, so the
    exact types fastavro gives are tested first and a leaf costs no call; anything else (a
    subclass, a UUID) takes the general path."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _LEAVES else plain(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _LEAVES else plain(v) for v in value]
    if kind in _LEAVES:
        return value
    if kind is dt.datetime:
        return int(value.timestamp() * 1000)
    return _plain_other(value)


def _plain_other(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return (
            [plain(v) for v in value] if not _is_union_pair(value) else (value[0], plain(value[1]))
        )
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value


def _is_union_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and value[0].startswith(NAMESPACE + ".")
    )
