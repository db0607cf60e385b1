"""The ledger's handler of a batch of input events, a plain function of its ports.

The order of effects is what makes a kill -9 at any point safe (see batch.py): `record`
decodes and records the batch in one PostgreSQL transaction and returns once it committed;
only then are the changelog records produced, in the order they were recorded, then the
dead letters, each call returning once Kafka acknowledged it. The caller (settle) acknowledges
the input offsets only after this returns, and redoes the whole batch if it raises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from cairn.core.adapters.batches import RawRecord, event_type_header
from cairn.core.adapters.dead_letters import dead_letter_headers
from cairn.core.adapters.kafka import Header
from cairn.core.domain.event_types import RecordedEvent
from cairn.core.domain.events import payload_of
from cairn.ledger.batch import BatchResult

RECORDED = Counter("cairn_ledger_recorded_total", "Events recorded", ["outcome"])
DEAD = Counter("cairn_ledger_dead_letters_total", "Events refused", ["reason"])
REPEATS = Counter("cairn_ledger_redelivered_total", "Events seen again and republished")
LAST_SEQ = Gauge("cairn_ledger_last_seq", "Highest seq published to the changelog")

Outgoing = tuple[str, bytes | None, bytes, list[Header] | None]  # topic, key, value, headers


@dataclass(frozen=True)
class Ports:
    """What the handler needs from outside: each a plain callable, so a test passes fakes."""

    record: Callable[[list[RawRecord]], Awaitable[BatchResult]]  # returns once committed
    produce: Callable[[Sequence[Outgoing]], Awaitable[None]]  # returns once acknowledged
    encode: Callable[[RecordedEvent], bytes]  # a changelog record's Avro bytes
    changelog: str  # topic names
    dead_letters: str
    log: Any


async def record_and_publish(ports: Ports, raws: list[RawRecord]) -> BatchResult:
    """Record in PostgreSQL, then publish; both idempotent, so a retry redoes both."""
    result = await ports.record(raws)
    await ports.produce([
        (ports.changelog, r["event"]["artifact"].encode(), ports.encode(r),
         [event_type_header(payload_of(r["event"])[0])])
        for r in result.recorded])
    if result.dead:
        await ports.produce([
            (ports.dead_letters, raw.key, raw.value or b"", dead_letter_headers(raw, why, msg))
            for raw, why, msg in result.dead])
    for _, reason, message in result.dead:
        DEAD.labels(reason).inc()
        ports.log.warning("dead-lettered", reason=reason, detail=message)
    for r in result.recorded:
        RECORDED.labels(r["outcome"]).inc()
        LAST_SEQ.set(max(LAST_SEQ._value.get(), r["seq"]))
    REPEATS.inc(result.repeats)
    return result
