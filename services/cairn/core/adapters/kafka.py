"""The one way Cairn produces to Kafka: confluent-kafka, idempotent, acks=all.

Idempotence makes broker-side retries safe (no duplicates, order kept per partition), and
`acks=all` means an event is durable before a producer reports it accepted. Every producer
is bounded: Kafka has `delivery_timeout` seconds (CAIRN_KAFKA_DELIVERY_TIMEOUT, librdkafka's
message.timeout.ms) to acknowledge a record before librdkafka drops it, and `produce_all`
waits WAIT_MARGIN_S longer, so it ends with every record acknowledged or dropped, never
still queued: a record whose produce failed is not written later behind the caller's back
(librdkafka's own default, 300 s, outlived the wait: an api request answered 503 during a
Kafka outage was still written once Kafka came back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from cairn.core.adapters.settings import KAFKA_DELIVERY_TIMEOUT_S, Settings

Header = tuple[str, bytes]
# What Producer.produce takes: list is invariant, so a list[Header] is copied into one.
KafkaHeaders = list[tuple[str, str | bytes | None]]


def kafka_headers(headers: Sequence[Header] | None) -> KafkaHeaders | None:
    return None if headers is None else list(headers)


WAIT_MARGIN_S = 10.0  # a wait for acknowledgements outlasts the delivery timeout by this


class BoundedProducer(Producer):
    """A Producer that knows how long to wait for its acknowledgements (`wait_s`)."""

    def __init__(self, conf: dict[str, object], wait_s: float) -> None:
        super().__init__(conf)
        self.wait_s = wait_s


def producer(bootstrap: str, client_id: str, *,
             delivery_timeout: float = KAFKA_DELIVERY_TIMEOUT_S,
             **extra: object) -> BoundedProducer:
    conf: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "zstd",
        "message.max.bytes": 2_000_000,
        "message.timeout.ms": int(delivery_timeout * 1000),
    }
    conf.update(extra)
    return BoundedProducer(conf, delivery_timeout + WAIT_MARGIN_S)


def producer_for(settings: Settings, client_id: str, **extra: object) -> BoundedProducer:
    """A service's producer, bounded by the settings' CAIRN_KAFKA_DELIVERY_TIMEOUT."""
    return producer(settings.kafka_bootstrap_servers, client_id,
                    delivery_timeout=settings.kafka_delivery_timeout, **extra)


def wait_of(prod: Producer) -> float:
    """How long to wait for `prod`'s acknowledgements (a plain Producer: librdkafka's
    default delivery timeout, 300 s, and the margin)."""
    return prod.wait_s if isinstance(prod, BoundedProducer) else 300.0 + WAIT_MARGIN_S


class DeliveryFailed(RuntimeError):
    pass


def produce_all(
    prod: Producer,
    records: Sequence[tuple[str, bytes | None, bytes, list[Header] | None]],
    timeout: float | None = None,
) -> None:
    """Produce (topic, key, value, headers) records and wait until every one is acknowledged
    (up to `timeout`, by default the producer's own wait)."""
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
    remaining = prod.flush(wait_of(prod) if timeout is None else timeout)
    if remaining or errors:
        raise DeliveryFailed(f"{remaining} undelivered, errors: {errors[:3]}")


async def produce_all_async(
    prod: Producer,
    records: Sequence[tuple[str, bytes | None, bytes, list[Header] | None]],
    flush_timeout_s: float | None = None,
) -> None:
    """`produce_all` off the event loop: librdkafka's flush blocks."""
    await asyncio.to_thread(produce_all, prod, records, flush_timeout_s)
