"""The one way Cairn produces to Kafka: confluent-kafka, idempotent, acks=all.

Idempotence makes broker-side retries safe (no duplicates, order kept per partition), and
`acks=all` means an event is durable before a producer reports it accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

Header = tuple[str, bytes]
# What Producer.produce takes: list is invariant, so a list[Header] is copied into one.
KafkaHeaders = list[tuple[str, str | bytes | None]]


def kafka_headers(headers: Sequence[Header] | None) -> KafkaHeaders | None:
    return None if headers is None else list(headers)


def producer(bootstrap: str, client_id: str, **extra: object) -> Producer:
    conf: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "zstd",
        "message.max.bytes": 2_000_000,
    }
    conf.update(extra)
    return Producer(conf)


class DeliveryFailed(RuntimeError):
    pass


def produce_all(
    prod: Producer,
    records: Sequence[tuple[str, bytes | None, bytes, list[Header] | None]],
    timeout: float = 60.0,
) -> None:
    """Produce (topic, key, value, headers) records and wait until every one is acknowledged."""
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    for topic, key, value, headers in records:
        while True:
            try:
                prod.produce(topic, key=key, value=value, headers=kafka_headers(headers),
                             on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                prod.poll(0.1)
            except KafkaException as exc:
                raise DeliveryFailed(str(exc)) from exc
    remaining = prod.flush(timeout)
    if remaining or errors:
        raise DeliveryFailed(f"{remaining} undelivered, errors: {errors[:3]}")


async def produce_all_async(
    prod: Producer,
    records: Sequence[tuple[str, bytes | None, bytes, list[Header] | None]],
    flush_timeout_s: float = 60.0,
) -> None:
    """`produce_all` off the event loop: librdkafka's flush blocks (up to flush_timeout_s)."""
    await asyncio.to_thread(produce_all, prod, records, flush_timeout_s)
