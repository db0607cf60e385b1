"""The ledger's batches: up to `size` events, cut when no event came for `idle` seconds, or
`within` seconds after the batch's first event, whichever is first.

faust's `take_events(size, within)` waits out its whole window however few events came, so
a lone publish sat up to `within` (10 ms) in it, about half that on average, before the
ledger even began to record it. Here a batch is cut once the stream goes quiet: a lone
event waits `idle` (1 ms), while a backlog, whose events come one after another with no gap,
still fills batches as before (the same `size` and `within`). The rest is take_events as
faust 0.15 writes it: events buffered by a stream processor, acknowledged only once the
loop body that got them returns (cairn.core.adapters.batches.settle relies on that).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import faust


async def take_until_idle(stream: faust.StreamT[Any], size: int, within: float, idle: float
                          ) -> AsyncIterator[list[Any]]:
    """Batches of the stream's events (faust EventTs), acknowledged after each is handled."""
    events: list[Any] = []
    full, consumed, started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    first = last = 0.0
    st: Any = stream  # faust's Stream: the private parts take_events uses too

    async def add(value: Any) -> Any:
        nonlocal consuming, first, last
        if consuming is not None:  # a batch is being handled: wait for it to be acked
            try:
                await consuming
            finally:
                consuming = None
        event = st.current_event
        if event is None:
            raise RuntimeError("take_until_idle found current_event is None")
        events.append(event)
        last = time.monotonic()
        if len(events) == 1:
            first = last
            started.set()
        if len(events) >= size:
            full.set()
            consumed.clear()
            await st.wait(consumed)  # never more than `size` in a batch
        return value

    acks = st.enable_acks
    st.enable_acks = False  # acked here, after the caller handled the batch
    st.add_processor(add)
    st._enable_passive(aiter(st.channel))
    try:
        while not st.should_stop:
            await st.wait_for_stopped(started)
            while events and not full.is_set():
                now = time.monotonic()
                left = min(first + within - now, last + idle - now)
                if left <= 0:
                    break
                await st.wait_for_stopped(full, timeout=left)
            if not events:
                continue
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await st.ack(event)
                events.clear()
                started.clear()
                if not consuming.done():
                    consuming.set_result(None)
                full.clear()
                consumed.set()
    finally:
        st.enable_acks = acks
        st._processors.remove(add)
