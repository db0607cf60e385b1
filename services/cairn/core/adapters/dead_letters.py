"""Dead letters: a record no consumer can ever process goes, as it came, to a `.dlq` topic
with why in its headers, and is counted and logged. The ledger and the indexer both do it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Producer
from prometheus_client import Counter

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.kafka import produce_all_async


def dead_letter_headers(raw: RawRecord, reason: str, message: str) -> list[tuple[str, bytes]]:
    return [
        ("cairn.dlq.reason", reason.encode()),
        ("cairn.dlq.message", message[:2000].encode()),
        (
            "cairn.dlq.source",
            json.dumps(
                {"topic": raw.topic, "partition": raw.partition, "offset": raw.offset}
            ).encode(),
        ),
    ]


async def send_dead_letters(kafka: Producer, topic: str,
                            dead: Sequence[tuple[RawRecord, str, str]]) -> None:
    """Produce each refused record as it came, with its reason in the headers; wait for acks."""
    if dead:
        await produce_all_async(kafka, [
            (topic, raw.key, raw.value or b"", dead_letter_headers(raw, reason, message))
            for raw, reason, message in dead])


async def dead_letter(kafka: Producer, topic: str, dead: Sequence[tuple[RawRecord, str, str]],
                      counter: Counter, log: Any, what: str) -> None:
    """Send the refused records to `topic`, then count each by reason on `counter` and log
    it as `what`: every batch that refuses records does all three."""
    await send_dead_letters(kafka, topic, dead)
    for _, reason, message in dead:
        counter.labels(reason).inc()
        log.warning(what, reason=reason, detail=message)
