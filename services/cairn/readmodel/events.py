"""One event as the ledger left it: recorded (`event_log`, with the version it made or
changed) or rejected (`rejected_events`), and what it was about."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from cairn.core.domain.config_items import CHECKS
from cairn.core.domain.environments import lean_event
from cairn.core.domain.event_types import RecordedEvent
from cairn.readmodel.versions import Db

RECORDED_SQL = """
SELECT e.seq, e.outcome, e.event_type, e.artifact, v.version_number, v.digest
FROM event_log e LEFT JOIN versions v ON v.id = e.version_id WHERE e.event_id = $1
"""
RECENT_SQL = """
SELECT e.*, en.body AS environment FROM event_log e
LEFT JOIN environments en ON en.first_seq = e.seq
WHERE e.version_id IS NOT NULL ORDER BY e.seq DESC LIMIT $1
"""
REJECTED_SQL = "SELECT reason, message FROM rejected_events WHERE event_id = $1"
SUBJECT_SQL = """
SELECT artifact, event_type IN ('ConfigChanged', 'AccessDenied') AS config
FROM event_log WHERE event_id = $1::uuid
UNION ALL SELECT artifact, split_part(artifact, '/', 1) = ANY($2::text[])
FROM rejected_events WHERE event_id = $1::uuid LIMIT 1
"""


@dataclass(frozen=True)
class Recorded:
    """A recorded event; the version fields are None when it made or changed no version."""

    seq: int
    outcome: str
    event_type: str
    artifact: str
    version_number: int | None
    digest: str | None


@dataclass(frozen=True)
class Rejected:
    reason: str
    message: str


class EventSubject(TypedDict):
    """What an event was about: `artifact` (project/name, or kind/key of a configuration
    change), and `config`: whether it was a configuration change."""

    artifact: str | None
    config: bool


async def recorded(db: Db, event_id: str) -> Recorded | None:
    row = await db.fetchrow(RECORDED_SQL, event_id)
    return None if row is None else Recorded(
        row["seq"], row["outcome"], row["event_type"], row["artifact"], row["version_number"],
        row["digest"])


async def rejected(db: Db, event_id: str) -> Rejected | None:
    row = await db.fetchrow(REJECTED_SQL, event_id)
    return None if row is None else Rejected(row["reason"], row["message"])


async def event_subject(db: Db, event_id: str) -> EventSubject | None:
    """What a recorded or rejected event was about, or None for one the ledger has not seen."""
    row = await db.fetchrow(SUBJECT_SQL, event_id, sorted(CHECKS))
    return None if row is None else EventSubject(artifact=row["artifact"],
                                                 config=bool(row["config"]))


def changelog_record(row: Any) -> RecordedEvent:
    """An event_log row as the changelog record the ledger published for it: the event lean
    (lean_event), and the whole environment when the row first stored it (`environment`:
    environments.body joined on first_seq; absent from the row: none)."""
    event = json.loads(row["event"])
    event["payload"] = tuple(event["payload"])
    environment = row.get("environment")
    return {
        "seq": row["seq"],
        "recorded_at": int(row["recorded_at"].timestamp() * 1000),
        "hash": row["hash"],
        "outcome": row["outcome"],
        "event": cast(Any, lean_event(event)),
        "state": json.loads(row["state"]),
        "alias_losers": json.loads(row["alias_losers"]),
        "link_targets": json.loads(row["link_targets"]),
        "environment": None if environment is None else json.loads(environment),
    }


async def recent_changelog(db: Db, limit: int) -> list[RecordedEvent]:
    """The newest `limit` changelog records about versions, newest first."""
    return [changelog_record(r) for r in await db.fetch(RECENT_SQL, limit)]
