"""Usage events produced straight to Kafka, signed as a Cairn service signs them (the ledger
counts usage only from Cairn's own services: cairn.core.adapters.signing.check_internal)."""

from __future__ import annotations

from typing import Any

from cairn.core.adapters import schemas, signing
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import produce_all, producer
from cairn.core.adapters.topics import Topics
from confluent_kafka import Producer

from tests.ledger_helpers import settings_for

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]] | None]


class UsageWriter:
    """Encodes and sends UsageEvents; `as_producer` signs as someone else (a service
    account's name and key) and `signed=False` sends no signature, to test refusals."""

    def __init__(self, env: dict[str, str]) -> None:
        settings = settings_for(env)
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).usage
        self.codec = AvroCodec(RegistryClient(settings.schema_registry_url), self.topic,
                               schemas.USAGE)
        self.producer: Producer = producer(settings.kafka_bootstrap_servers, "cairn-test")

    def record(self, event: dict[str, Any], *, signed: bool = True,
               as_producer: str | None = None) -> Record:
        value = self.codec.encode(dict(event))
        name, key = signing.signer(self.settings, "cairn-test")
        if as_producer is not None:
            master = signing.required_master(self.settings, "the test")
            name, key = as_producer, signing.producer_key(master, as_producer)
        headers = signing.sign(value, name, key) if signed else None
        return self.topic, str(event["artifact"]).encode(), value, headers

    def send(self, *records: Record) -> None:
        produce_all(self.producer, list(records))
