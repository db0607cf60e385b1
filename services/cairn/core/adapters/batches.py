"""Finish a consumed batch before its offsets can be acknowledged.

faust's `take_events` acknowledges a batch when the loop body leaves it, even when the body
leaves by an exception or by cancellation at shutdown, and acknowledged offsets get
committed. So a batch's work must never leave half-done: it is retried until it succeeds
(deterministic bad input is dead-lettered inside the work, so only outages are retried), and
a cancellation waits for the work in flight to finish first. A kill -9 acknowledges nothing,
and the batch is redelivered; the work is idempotent, so that is safe. `batch_agent` is the
one way a Cairn service consumes a topic in batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    headers: tuple[tuple[str, bytes | None], ...] = ()  # the producer's signature among them


# The ledger names each changelog record's event type in this header, so a consumer that
# judges or places only some types skips decoding the rest (half the changelog is verdicts).
EVENT_TYPE_HEADER = "cairn-event-type"


def event_type_header(event_type: str) -> tuple[str, bytes]:
    return EVENT_TYPE_HEADER, event_type.encode()


def of_types(raw: RawRecord, types: Collection[str]) -> bool:
    """Whether `raw` may be of one of `types`: its header says so, or it has none (a record
    written before the header, or by another producer, is decoded and judged by its body)."""
    for name, value in raw.headers:
        if name == EVENT_TYPE_HEADER and value is not None:
            return value.decode() in types
    return True


def headers_of(message: Any) -> tuple[tuple[str, bytes | None], ...]:
    """A consumed message's headers as (name, value) pairs, whatever shape the client gave."""
    found = getattr(message, "headers", None) or ()
    return tuple(found.items() if isinstance(found, dict) else found)


def raw_records(batch: Sequence[Any]) -> list[RawRecord]:
    """faust events → RawRecords (headers kept: the ledger checks signatures in them)."""
    return [RawRecord(e.message.key, e.message.value, e.message.topic, e.message.partition,
                      e.message.offset, headers_of(e.message)) for e in batch]


def batch_agent(app: faust.App, topic: str, work: Callable[[list[RawRecord]], Awaitable[None]],
                *, size: int, within: float, log: Any, name: str) -> None:
    """Consume `topic` in batches of up to `size` (or what came `within` seconds), each one
    done by `work` inside settle(): faust acknowledges a batch however the loop body leaves
    it, so the body may only leave once the work is done (it is retried until then)."""
    async def agent(stream: faust.StreamT[Any]) -> None:
        async for batch in stream.take_events(size, within=within):  # type: ignore[attr-defined]
            await settle(partial(work, raw_records(batch)), log, name)

    agent.__name__ = agent.__qualname__ = name  # faust names the agent (and its group) by it
    app.agent(app.topic(topic, value_type=bytes, key_type=bytes), name=name)(agent)


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
