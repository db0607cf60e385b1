"""Every producer cairn.core.adapters.kafka makes is bounded: with no broker, a record is
dropped by librdkafka after the delivery timeout (CAIRN_KAFKA_DELIVERY_TIMEOUT) and
produce_all says so, leaving nothing queued to be written later behind the caller's back."""

from __future__ import annotations

import socket

import pytest
from cairn.core.adapters.kafka import DeliveryFailed, produce_all, producer, producer_for
from cairn.core.adapters.settings import Settings


def closed_port() -> int:
    """A loopback port nothing listens on (connections refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_record_kafka_never_acknowledges_is_dropped_not_left_queued() -> None:
    prod = producer(f"127.0.0.1:{closed_port()}", "test-bounds", delivery_timeout=1)
    with pytest.raises(DeliveryFailed, match="0 undelivered.*MSG_TIMED_OUT"):
        produce_all(prod, [("t", b"k", b"v", None)])
    assert len(prod) == 0  # nothing left to be sent once Kafka is back


def test_a_services_producer_takes_the_setting() -> None:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", kafka_delivery_timeout=7)
    assert producer_for(settings, "test-bounds").wait_s == 7 + 10
