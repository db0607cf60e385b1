"""One event as the ledger left it: recorded (`event_log`, with the version it made or
changed) or rejected (`rejected_events`), and what it was about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from cairn.core.domain.config_items import CHECKS
from cairn.readmodel.versions import Db

RECORDED_SQL = """
SELECT e.seq, e.outcome, e.event_type, e.artifact, v.version_number, v.digest
FROM event_log e LEFT JOIN versions v ON v.id = e.version_id WHERE e.event_id = $1
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
