"""The api's commit signal (cairn.readmodel.commits) listens again after its connection is
lost: without that, one PostgreSQL restart would leave every later publish waiting by
polling until the api restarts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from cairn.core.adapters.settings import Settings
from cairn.readmodel import commits
from cairn.readmodel.commits import CHANNEL, CommitSignal

from tests.conftest import Namespace


def _backend(signal: CommitSignal) -> int:
    conn = signal._conn
    assert conn is not None
    return int(conn.get_server_pid())


async def _until(check: Any, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


async def test_the_signal_listens_again_after_its_connection_is_lost(
        namespace: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commits, "RELISTEN_S", 0.0)
    signal = CommitSignal()
    admin = await asyncpg.connect(namespace.database_url)
    try:
        await signal.start(Settings(database_url=namespace.database_url))
        assert signal.listening
        pid = _backend(signal)  # not found by query: an api of the session may listen too
        await admin.execute("SELECT pg_terminate_backend($1)", pid)

        async def lost() -> bool:
            return not signal.listening
        await _until(lost)

        async def relistening() -> bool:
            signal.generation()
            return signal.listening
        await _until(relistening)

        woken = signal.generation()
        await admin.execute(f"NOTIFY {CHANNEL}")
        await asyncio.wait_for(woken.wait(), 10)
        assert _backend(signal) != pid
    finally:
        await signal.close()
        await admin.close()
