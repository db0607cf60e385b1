"""Long polls for what became of events: answer once none is pending, or when time is up.

A few events (a single publish waiting in its own request) are read again as soon as the
ledger commits a batch (cairn.readmodel.commits: its NOTIFY), so the answer leaves within a
read of the commit. Many events (a bulk publish) are read again on the polling schedule
only: one read is a query per event, which every commit of a busy ledger must not cost.
Without the NOTIFY (its connection lost) every wait polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog

from cairn.api.routers.events import visible_status
from cairn.api.visibility import Hidden, hidden_projects
from cairn.core.domain.access import Principal
from cairn.readmodel.commits import CommitSignal
from cairn.readmodel.versions import Db

log = structlog.get_logger("api")
WOKEN_UP_TO = 10  # events a commit wakes a wait for; more wait for the schedule
SAFETY_POLL_S = 0.2  # with the NOTIFY: read again at least this often (a lost notice)


def poll_after(waited_s: float) -> float:
    """The polling schedule: a tenth of the time waited so far, between 5 and 200 ms."""
    return min(0.2, max(0.005, waited_s / 10))


async def statuses(pool: Db, signal: CommitSignal, event_ids: Sequence[str], hidden: Hidden,
                   wait_ms: int) -> dict[str, dict[str, Any]]:
    """event_id -> what GET /v1/events/{event_id} answers (pending, recorded, rejected)."""
    answers: dict[str, dict[str, Any]] = {}
    pending = list(dict.fromkeys(event_ids))
    start = time.monotonic()
    while True:
        woken = signal.generation()  # before reading: a commit during the read still wakes
        for event_id in pending:
            answers[event_id] = await visible_status(pool, event_id, hidden)
        pending = [e for e in pending if answers[e]["status"] == "pending"]
        waited = time.monotonic() - start
        left = wait_ms / 1000 - waited
        if not pending or left <= 0:
            return answers
        if signal.listening and len(pending) <= WOKEN_UP_TO:
            await signal.wait(woken, min(SAFETY_POLL_S, left))
        else:
            await asyncio.sleep(min(poll_after(waited), left))


async def status_or_none(pool: Db, signal: CommitSignal, principal: Principal, event_id: str,
                         wait_ms: int) -> dict[str, Any] | None:
    """An accepted write's wait: its status, or None if PostgreSQL failed meanwhile (the
    event is in Kafka: answering an error would invite the client to send it again)."""
    try:
        hidden = await hidden_projects(pool, principal)
        return (await statuses(pool, signal, [event_id], hidden, wait_ms))[event_id]
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("wait for the record failed; answered without it", event_id=event_id,
                    error=repr(exc))
        return None
