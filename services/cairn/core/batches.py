"""Finish a consumed batch before its offsets can be acknowledged.

faust's `take_events` acknowledges a batch when the loop body leaves it, even when the body
leaves by an exception or by cancellation at shutdown, and acknowledged offsets get
committed. So a batch's work must never leave half-done: it is retried until it succeeds
(deterministic bad input is dead-lettered inside the work, so only outages are retried), and
a cancellation waits for the work in flight to finish first. A kill -9 acknowledges nothing,
and the batch is redelivered; the work is idempotent, so that is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential


async def settle(work: Callable[[], Awaitable[None]], log: Any, what: str) -> None:
    task = asyncio.ensure_future(_until_done(work, log, what))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task  # shutting down: let the batch finish, then let the stream ack it
        raise


async def _until_done(work: Callable[[], Awaitable[None]], log: Any, what: str) -> None:
    def report(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "batch failed; retrying", work=what, attempt=state.attempt_number, error=repr(exc)
        )

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential(multiplier=0.2, max=30),
        before_sleep=report,
    ):
        with attempt:
            await work()
