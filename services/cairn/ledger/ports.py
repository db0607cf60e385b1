"""The port types the ledger's usage, config and deliveries handlers share: plain callables,
so a unit test hands a handler fakes and app.py hands it the real clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cairn.core.adapters.batches import RawRecord

Dead = list[tuple[RawRecord, str, str]]  # refused records: (record, reason, message)
Internal = Callable[[Sequence[RawRecord], Dead], list[RawRecord]]  # those a Cairn service signed
DeadLetter = Callable[[Dead], Awaitable[None]]  # produce, count and log the refused
