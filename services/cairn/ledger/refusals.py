"""What refuses an input event, and how a refusal is noted: one place for the per-event and
the set-based paths, so both give a dead letter the same reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from cairn.core.domain.identity import InvalidInput

# Errors that mean "this event can never be recorded": refuse it, dead-letter it, go on.
# Connection-level errors are not here: the caller retries the whole batch for those.
REFUSED = (InvalidInput, KeyError, TypeError, ValueError)
UNPROCESSABLE = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)

REJECT_MANY = """
INSERT INTO rejected_events (event_id, artifact, reason, message)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class Refused:
    """Why an event was refused: its dead letter's reason and message."""

    reason: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> Refused:
        return cls(reason_of(exc), str(exc))


def reason_of(exc: BaseException) -> str:
    """The dead letter's reason: InvalidInput's own, else malformed or unprocessable."""
    reason = (
        exc.reason
        if isinstance(exc, InvalidInput)
        else ("malformed" if isinstance(exc, REFUSED) else "unprocessable")
    )
    return reason


async def note_rejected(conn: asyncpg.Connection,
                        rows: Sequence[tuple[str, str | None, str, str]]) -> None:
    """(event_id, artifact, reason, message) of refused events, in one statement."""
    if rows:
        await conn.execute(REJECT_MANY, *(list(column) for column in zip(*rows, strict=True)))
