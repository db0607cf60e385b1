"""The one way a Cairn service opens PostgreSQL: every pool and connection bounded in time.

A real partition sends no reset: a statement whose request or reply the network dropped
waits, without a bound, for an answer that never comes (the kernel's TCP timeout takes about
15 minutes, and a link whose route came back but whose bytes were lost never ends). So each
statement, each connect and each cancel of a timed-out statement is bounded by
CAIRN_PG_COMMAND_TIMEOUT (asyncpg's `command_timeout` and `timeout`): a statement that
outlives it raises TimeoutError, asyncpg cancels it, and a connection whose cancel gets no
answer either is closed, so the caller's retry (the services' batch loop) runs on a new
connection. The server is asked to probe idle clients with TCP keepalives, so a session
whose client vanished (with the locks its transaction holds) ends within about a minute
rather than the kernel's two hours.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from cairn.core.adapters.settings import Settings

# Server-side keepalives (seconds; probes every 10 s after 30 s idle, 3 unanswered: gone).
KEEPALIVES = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
              "tcp_keepalives_count": "3"}


def options(settings: Settings) -> dict[str, Any]:
    """asyncpg's connect arguments beside the DSN, for a pool or a single connection."""
    bound = settings.pg_command_timeout
    return {"command_timeout": bound, "timeout": bound, "server_settings": dict(KEEPALIVES)}


async def create_pool(settings: Settings, *, min_size: int, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(settings.database_url, min_size=min_size,
                                     max_size=max_size, **options(settings))


async def connect(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(settings.database_url, **options(settings))
