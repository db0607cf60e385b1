"""Emit input events to cairn.artifact.events: checked, Avro-encoded, acknowledged.

The SDK (direct mode) and the api both publish through this, so the same checks and size
limit apply whichever way an event enters. Every record is signed here
(cairn.core.adapters.signing):
the ledger refuses artifact and config events whose producer it cannot verify, and an
emitter with no key to sign with is never made (MissingKey).
"""

from __future__ import annotations

from cairn.core.adapters import schemas, signing
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.kafka import (
    Header,
    kafka_headers,
    produce_all,
    produce_all_async,
    producer_for,
)
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.topics import Topics
from cairn.core.domain.event_types import ArtifactEvent, ConfigEvent, P
from cairn.core.domain.identity import InvalidInput


class Emitter:
    def __init__(self, settings: Settings, client_id: str) -> None:
        self.settings = settings
        # Before any client is made: without a key (signing.MissingKey) nothing is opened.
        self.producer_name, self._key = signing.signer(settings, client_id)
        self.topics = Topics(settings.topic_prefix)
        self.registry = RegistryClient(settings.schema_registry_url)
        self.codec = AvroCodec(self.registry, self.topics.events, schemas.EVENT)
        # Bounded (cairn.core.adapters.kafka): an emit ends with every event acknowledged or
        # dropped, so an api 503 means the event was not written, and never will be.
        self.producer = producer_for(settings, client_id)
        self.config_codec = AvroCodec(self.registry, self.topics.config, schemas.CONFIG)

    def signed(self, value: bytes) -> list[Header]:
        return signing.sign(value, self.producer_name, self._key)

    def encode(self, event: ArtifactEvent[P]) -> tuple[str, bytes, bytes, list[Header]]:
        value = self.codec.encode(event)
        if len(value) > self.settings.max_event_bytes:
            raise InvalidInput(
                "event_too_large",
                f"the event is {len(value)} bytes; the limit is {self.settings.max_event_bytes}"
                " (CAIRN_MAX_EVENT_BYTES): move large metadata into a file of the artifact",
            )
        return self.topics.events, event["artifact"].encode(), value, self.signed(value)

    def emit(self, *events: ArtifactEvent[P]) -> None:
        """Block until Kafka acknowledged every event (acks=all)."""
        produce_all(self.producer, [self.encode(e) for e in events])

    async def emit_async(self, *events: ArtifactEvent[P]) -> None:
        await produce_all_async(self.producer, [self.encode(e) for e in events])

    def encode_config(self, event: ConfigEvent) -> tuple[str, bytes, bytes, list[Header]]:
        """A ConfigEvent's record, keyed kind/key so one item's changes stay in order."""
        value = self.config_codec.encode(event)
        if len(value) > self.settings.max_event_bytes:
            raise InvalidInput("event_too_large", f"the change is {len(value)} bytes; the "
                               f"limit is {self.settings.max_event_bytes}")
        key = f"{event['kind']}/{event['key']}".encode()
        return self.topics.config, key, value, self.signed(value)

    async def emit_config_async(self, event: ConfigEvent) -> None:
        await produce_all_async(self.producer, [self.encode_config(event)])

    def emit_config_soon(self, event: ConfigEvent) -> None:
        """Queue a ConfigEvent without waiting for Kafka's ack (a record of something that
        happened, such as a refused request, that must never hold up the request)."""
        topic, key, value, headers = self.encode_config(event)
        self.producer.produce(topic, key=key, value=value, headers=kafka_headers(headers))
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(10)
        self.registry.close()
