"""A wake-up for readers waiting on the ledger: it NOTIFYs `CHANNEL` in each batch's
transaction, and PostgreSQL delivers that only once the batch committed, so a waiter woken
by it reads the batch's rows (recorded or rejected) at once instead of at its next poll.

A notification says only "something committed": the waiter reads what it waits for again.
It is a hint, never the answer: with the listening connection lost (PostgreSQL restarted),
`wait` just sleeps its whole time, and waiters poll as they did without it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

CHANNEL = "cairn_recorded"


class CommitSignal:
    """One LISTEN connection per process; `generation()` before reading, then
    `wait(generation, within)` returns at the first commit after that read began."""

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self, dsn: str) -> None:
        """Listen (best effort: without it waiters poll)."""
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(lambda _: self._lost())
            self._conn = conn

    def _notified(self, *_: Any) -> None:
        woken, self._woken = self._woken, asyncio.Event()
        woken.set()

    def _lost(self) -> None:
        self._conn = None
        self._notified()  # wake everyone: they read again and fall back to polling

    def generation(self) -> asyncio.Event:
        """Take before reading: set by the first commit after this call."""
        return self._woken

    @staticmethod
    async def wait(generation: asyncio.Event, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(generation.wait(), within)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await conn.close(timeout=5)
