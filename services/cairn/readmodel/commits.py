"""A wake-up for readers waiting on the ledger: it NOTIFYs `CHANNEL` in each batch's
transaction, and PostgreSQL delivers that only once the batch committed, so a waiter woken
by it reads the batch's rows (recorded or rejected) at once instead of at its next poll.

A notification says only "something committed": the waiter reads what it waits for again.
It is a hint, never the answer: with the listening connection lost (PostgreSQL restarted),
`wait` just sleeps its whole time, and waiters poll as they did without it, until a waiter
coming at least RELISTEN_S later has it listen again. The connection is bounded like every
Cairn connection (cairn.core.adapters.postgres: keepalives end a half-open one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg

from cairn.core.adapters import postgres
from cairn.core.adapters.settings import Settings

CHANNEL = "cairn_recorded"
RELISTEN_S = 5.0  # at most one attempt to listen again in this long


class CommitSignal:
    """One LISTEN connection per process; `generation()` before reading, then
    `wait(generation, within)` returns at the first commit after that read began."""

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._settings: Settings | None = None
        self._tried = 0.0  # monotonic time of the last attempt to listen
        self._relisten: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self, settings: Settings) -> None:
        """Listen (best effort: without it waiters poll)."""
        self._settings = settings
        await self._listen()

    async def _listen(self) -> None:
        self._tried = time.monotonic()
        if self._settings is None:
            return
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
            conn = await postgres.connect(self._settings)
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
        if (not self.listening and self._settings is not None
                and (self._relisten is None or self._relisten.done())
                and time.monotonic() - self._tried >= RELISTEN_S):
            self._relisten = asyncio.get_running_loop().create_task(self._listen())
        return self._woken

    @staticmethod
    async def wait(generation: asyncio.Event, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(generation.wait(), within)

    async def close(self) -> None:
        self._settings = None  # no listening again
        if self._relisten is not None:
            self._relisten.cancel()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await conn.close(timeout=5)
