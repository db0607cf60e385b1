"""What every fault test checks once things recover (DESIGN.md invariant 1): every accepted
event in the ledger exactly once, version numbers gapless, the chain intact, and every
version in the index exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from cairn.readmodel.audit import verify_chain

from tests.conftest import Namespace
from tests.search_helpers import backend_of


def private_env(cairn_env: dict[str, str], namespace: Namespace, tag: str, **overrides: str
                ) -> tuple[dict[str, str], str]:
    """The environment of services that must not meet the session's ledger (their own topic
    and index prefixes inside this run's namespace), and a fresh project name."""
    suffix = f"{tag}{uuid.uuid4().hex[:6]}"
    env = {**cairn_env, "CAIRN_TOPIC_PREFIX": f"{namespace.topic_prefix}{suffix}.",
           "CAIRN_INDEX_PREFIX": f"{namespace.index_prefix}-{suffix}", **overrides}
    return env, f"crash{suffix}"


async def recorded(url: str, project: str) -> int:
    """Versions of `project` in the ledger; -1 while the database is down or unmigrated."""
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return -1
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1", project))
    except asyncpg.PostgresError:
        return -1
    finally:
        await conn.close()


async def until(predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within:.0f}s")
        await asyncio.sleep(0.2)


async def reach(url: str, project: str, count: int, within: float) -> int:
    async def enough() -> bool:
        return await recorded(url, project) >= count

    await until(enough, within, f"{count} versions of {project} recorded")
    return await recorded(url, project)


async def assert_ledger_exact(url: str, project: str, events: int, names: int) -> None:
    await reach(url, project, events, 240)
    await asyncio.sleep(2)  # anything extra would show up now
    assert await recorded(url, project) == events
    conn = await asyncpg.connect(url)
    try:
        rows, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT event_id) FROM event_log"
            " WHERE artifact LIKE $1 || '/%'", project)
        assert rows == distinct == events
        numbers = await conn.fetch(
            "SELECT array_agg(v.version_number ORDER BY v.version_number) AS nums"
            " FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1"
            " GROUP BY a.name", project)
        assert [r["nums"] for r in numbers] == [list(range(1, events // names + 1))] * names
    finally:
        await conn.close()
    assert (await verify_chain(url)).ok


async def assert_indexed_once(env: dict[str, str], count: int) -> None:
    backend, alias = backend_of(env)
    try:
        async def all_indexed() -> bool:
            await backend.refresh(alias)
            return await backend.count(alias) >= count

        await until(all_indexed, 180, f"{count} documents searchable")
        await asyncio.sleep(1.5)
        await backend.refresh(alias)
        assert await backend.count(alias) == count  # one document per version, none twice
    finally:
        await backend.close()
