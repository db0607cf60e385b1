"""One leader among several instances of a service: a session-level PostgreSQL advisory lock
held on a connection of its own, so scheduled work (the archiver's retention tick) runs once
per tick however many instances run.

The lock is the lease: PostgreSQL holds it for exactly as long as the holder's session lives,
so a leader that dies (kill -9, a lost network) frees it without any expiry to tune, and the
next instance to ask becomes leader. Nothing is written: the ledger stays the only writer of
the tables. Advisory locks belong to one database, so each namespace (each test's database)
has its own leader. Needs a direct connection (or a session-pooling proxy): a
transaction-pooling proxy would hand the lock's session to someone else. The connection is
made like every Cairn connection (cairn.core.adapters.postgres), its waits WAIT seconds: the
server's keepalives end a vanished leader's session, and so its lock, within about a minute.
I/O and no table, so it is an adapter, not a read model.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from cairn.core.adapters import postgres
from cairn.core.adapters.settings import Settings

TAKE = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
ALIVE = "SELECT 1"
WAIT = 5.0  # seconds for a connect or a query before the instance counts itself a follower


class Leadership:
    """`await held()` before each scheduled run: True while this instance holds the lock."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._settings = settings.model_copy(update={"pg_command_timeout": WAIT})
        self._key = f"cairn.leader:{name}"
        self._conn: asyncpg.Connection | None = None
        self._held = False

    async def held(self) -> bool:
        """Take the lock if it is free, or check that our session (and so the lock) is still
        alive. Any failure to reach PostgreSQL counts as not leading: a run is skipped rather
        than risk two."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._held = False
                self._conn = await postgres.connect(self._settings)
            if self._held:
                await self._conn.fetchval(ALIVE)
            else:
                self._held = bool(await self._conn.fetchval(TAKE, self._key))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.close()
        return self._held

    async def close(self) -> None:
        """Leave the session, which frees the lock for another instance."""
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), WAIT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    def describe(self) -> dict[str, Any]:
        return {"leader": self._held}
