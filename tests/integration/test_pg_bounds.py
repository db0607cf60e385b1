"""Every Cairn pool is bounded in time (cairn.core.adapters.postgres): a statement that
outlives CAIRN_PG_COMMAND_TIMEOUT raises TimeoutError and the pool goes on serving, and the
server is asked to probe the session with TCP keepalives (so a vanished client's session,
and its locks, end). The half-open link itself: tests/faults/test_postgres_half_open.py."""

from __future__ import annotations

import pytest
from cairn.core.adapters import postgres
from cairn.core.adapters.settings import Settings

from tests.conftest import Namespace


async def test_a_pools_statements_are_bounded_and_its_sessions_kept_alive(
    namespace: Namespace,
) -> None:
    settings = Settings(database_url=namespace.database_url, pg_command_timeout=1)
    pool = await postgres.create_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW tcp_keepalives_idle") == "30"
            assert await conn.fetchval("SHOW tcp_keepalives_count") == "3"
        with pytest.raises(TimeoutError):
            await pool.fetchval("SELECT pg_sleep(30)")
        assert await pool.fetchval("SELECT 1") == 1  # the next statement, served again
    finally:
        await pool.close()
