"""Versions older than their project's `read_only_after_days` (the `project` config item)
are read-only: the ledger refuses their metadata edits (a legal hold excepted: retention
must still be able to protect an old version) and every stage move but to `archived`.

Checked by the ledger, in the transaction that would apply the change, so no producer can
get around it; the age counts from the version's creation to the time the ledger applies
the change.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from cairn.core.domain.identity import InvalidInput

DAY = dt.timedelta(days=1)
THRESHOLD_SQL = """
SELECT (c.body->>'read_only_after_days')::int AS days, v.created_at, v.version_number
FROM versions v JOIN artifacts a ON a.id = v.artifact_id
JOIN config_items c ON c.kind = 'project' AND c.key = a.project AND NOT c.removed
WHERE v.id = $1
"""


def is_read_only(days: int | None, created_at: dt.datetime, now: dt.datetime) -> bool:
    return days is not None and now - created_at >= days * DAY


async def guard(conn: asyncpg.Connection, artifact: str, version_id: int, what: str, *,
                allowed: bool = False) -> None:
    """Refuse `what` on a read-only version, unless it is `allowed` on one anyway."""
    if allowed:
        return
    row = await conn.fetchrow(THRESHOLD_SQL, version_id)
    if row is None or not is_read_only(row["days"], row["created_at"], dt.datetime.now(dt.UTC)):
        return
    raise InvalidInput("read_only_version",
                       f"{artifact}@v{row['version_number']} is read-only: versions of its "
                       f"project become read-only {row['days']} days after they are made, so "
                       f"{what} is refused (moving it to archived still works)")
