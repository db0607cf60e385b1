"""The stream services' lifespan and lazy pool, with fakes: every client is closed once the
app stopped, each even when one before it fails, and a pool is opened once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, cast

import faust
import pytest
from cairn.core.adapters import worker
from cairn.core.adapters.settings import Settings
from cairn.ledger.app import LedgerAdapters
from cairn.notifier.app import NotifierAdapters


class FakeApp:
    """What lifespan uses of a faust App: tasks, and an exit stack left when it stops."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], Awaitable[None]]] = []
        self.stack = AsyncExitStack()

    def task(self, fun: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(fun)

    async def add_async_context(self, context: AbstractAsyncContextManager[Any]) -> Any:
        return await self.stack.enter_async_context(context)

    async def start_and_stop(self) -> None:
        for fun in self.tasks:
            await fun()
        await self.stack.aclose()


class Log:
    def __init__(self, closed: list[str]) -> None:
        self.closed = closed

    def info(self, what: str, **fields: Any) -> None:
        self.closed.append(what)


class Client:
    """A fake of each kind of client: a registry's close, an HTTP client's aclose, a
    producer's flush (a pool's close is async: FakePool)."""

    def __init__(self, name: str, closed: list[str], fails: bool = False) -> None:
        self.name, self.closed, self.fails = name, closed, fails

    def _done(self) -> None:
        self.closed.append(self.name)
        if self.fails:
            raise RuntimeError(f"{self.name} failed to close")

    def close(self) -> None:
        self._done()

    async def aclose(self) -> None:
        self._done()

    def flush(self, timeout: float) -> int:
        self._done()
        return 0


class FakePool(Client):
    async def close(self) -> None:  # type: ignore[override]
        self._done()


async def test_every_client_is_closed_at_stop_even_when_one_fails() -> None:
    closed: list[str] = []
    app = FakeApp()
    registry, producer = Client("registry", closed), Client("producer", closed, fails=True)
    adapters = LedgerAdapters(*cast(Any, (registry, producer, FakePool("pool", closed))))
    worker.lifespan(cast(faust.App, app), adapters.closing, Log(closed))
    await app.tasks[0]()
    assert closed == []  # open while the app runs
    with pytest.raises(RuntimeError, match="producer"):
        await app.stack.aclose()
    assert closed == ["pool", "producer", "registry", "clients closed"]


async def test_the_notifier_closes_its_webhook_client_first() -> None:
    closed: list[str] = []
    app = FakeApp()
    adapters = NotifierAdapters(*cast(Any, (Client("registry", closed), Client("producer", closed),
                                            FakePool("pool", closed), Client("http", closed))))
    worker.lifespan(cast(faust.App, app), adapters.closing, Log(closed))
    await app.start_and_stop()
    assert closed == ["http", "pool", "producer", "registry", "clients closed"]


async def test_a_lazy_pool_is_opened_once_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FakePool] = []
    closed: list[str] = []

    async def create_pool(dsn: str, **options: object) -> FakePool:
        await asyncio.sleep(0.01)  # a slow connect: the second caller must wait, not connect
        made.append(FakePool(dsn, closed))
        return made[-1]

    monkeypatch.setattr(worker.asyncpg, "create_pool", create_pool)
    lazy = worker.LazyPool(Settings(database_url="postgresql://nowhere/db"))
    assert not lazy.opened
    first, second = await asyncio.gather(lazy(), lazy())
    assert first is second and len(made) == 1 and lazy.opened
    await lazy.close()
    await lazy.close()  # a second close is harmless
    assert closed == ["postgresql://nowhere/db"] and not lazy.opened
