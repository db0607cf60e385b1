"""Smoke tests: each real service does the one thing Cairn relies on it for."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid

import asyncpg
import fastavro
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.conftest import Namespace
from tests.endpoints import Endpoints

PING_V1 = {
    "type": "record",
    "name": "Ping",
    "namespace": "dev.cairn.smoke",
    "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
}


def _create_topic(kafka: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1)]).values():
        future.result(timeout=30)


async def test_avro_record_round_trips_through_registry(
    endpoints: Endpoints, namespace: Namespace
) -> None:
    topic = f"{namespace.topic_prefix}smoke.ping"
    _create_topic(endpoints.kafka, topic)
    registry = SchemaRegistryClient({"url": endpoints.registry, "timeout": 30})
    # TopicNameStrategy, as Cairn's codec uses: confluent-kafka 2.16's default first asks
    # the registry for "associations", a call Apicurio once left unanswered (a 300 s CI hang).
    serializer = AvroSerializer(registry, json.dumps(PING_V1),
                                conf={"subject.name.strategy": topic_subject_name_strategy})
    producer = Producer({"bootstrap.servers": endpoints.kafka, "enable.idempotence": True})
    sent = {"id": str(uuid.uuid4()), "n": 42}
    value = serializer(sent, SerializationContext(topic, MessageField.VALUE))
    producer.produce(topic, key=b"smoke", value=value)
    assert producer.flush(30) == 0

    # The partition is assigned, not subscribed to: a subscription made while the new topic
    # is not yet in the broker's metadata would wait for the next refresh (5 min by default).
    consumer = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka, auto_offset_reset="earliest",
                                metadata_max_age_ms=1000)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), 60)
    finally:
        await consumer.stop()

    raw = record.value
    magic, schema_id = struct.unpack(">bI", raw[:5])
    assert magic == 0
    async with httpx.AsyncClient() as http:
        fetched = (await http.get(f"{endpoints.registry}/schemas/ids/{schema_id}")).json()
    schema = fastavro.parse_schema(json.loads(fetched["schema"]))
    assert fastavro.schemaless_reader(io.BytesIO(raw[5:]), schema) == sent


async def test_registry_refuses_incompatible_schema(
    endpoints: Endpoints, namespace: Namespace
) -> None:
    subject = f"{namespace.topic_prefix}smoke.compat-value"
    # A new field without a default cannot read old data: not BACKWARD compatible.
    breaking = {**PING_V1, "fields": [*PING_V1["fields"], {"name": "extra", "type": "string"}]}
    compatible = {
        **PING_V1,
        "fields": [*PING_V1["fields"], {"name": "note", "type": "string", "default": ""}],
    }
    url = f"{endpoints.registry}/subjects/{subject}/versions"
    async with httpx.AsyncClient() as http:
        first = await http.post(url, json={"schema": json.dumps(PING_V1)})
        assert first.status_code == 200, first.text
        put = await http.put(
            f"{endpoints.registry}/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"}
        )
        assert put.status_code == 200, put.text
        refused = await http.post(url, json={"schema": json.dumps(breaking)})
        assert refused.status_code == 409, refused.text
        accepted = await http.post(url, json={"schema": json.dumps(compatible)})
        assert accepted.status_code == 200, accepted.text
        versions = (await http.get(url)).json()
    assert versions == [1, 2]


def _search_client(endpoints: Endpoints):  # type: ignore[no-untyped-def]
    if endpoints.search_engine == "elasticsearch":
        from elasticsearch import Elasticsearch

        return Elasticsearch(endpoints.search_url)
    from opensearchpy import OpenSearch

    return OpenSearch(endpoints.search_url)


def test_search_terms_aggregation(endpoints: Endpoints, namespace: Namespace) -> None:
    client = _search_client(endpoints)
    index = f"{namespace.index_prefix}-smoke"
    client.indices.create(
        index=index,
        body={"mappings": {"properties": {"kind": {"type": "keyword"}, "text": {"type": "text"}}}},
    )
    try:
        docs = [("model", "resnet trained on imagenet"), ("dataset", "imagenet snapshot"),
                ("model", "bert fine-tuned")]
        for i, (kind, text) in enumerate(docs):
            client.index(index=index, id=str(i), body={"kind": kind, "text": text})
        client.indices.refresh(index=index)
        result = client.search(
            index=index,
            body={"query": {"match": {"text": "imagenet"}},
                  "aggs": {"kinds": {"terms": {"field": "kind"}}}},
        )
        buckets = {b["key"]: b["doc_count"] for b in result["aggregations"]["kinds"]["buckets"]}
        assert buckets == {"model": 1, "dataset": 1}
    finally:
        client.indices.delete(index=index)


async def test_postgres_round_trip(namespace: Namespace) -> None:
    conn = await asyncpg.connect(namespace.database_url)
    try:
        await conn.execute("CREATE TABLE smoke (id uuid PRIMARY KEY, body jsonb NOT NULL)")
        key = uuid.uuid4()
        await conn.execute(
            "INSERT INTO smoke VALUES ($1, $2::jsonb)", key, json.dumps({"seeds": [1, 2]})
        )
        row = await conn.fetchrow("SELECT body->'seeds' AS seeds FROM smoke WHERE id = $1", key)
        assert json.loads(row["seeds"]) == [1, 2]
        assert await conn.fetchval("SELECT current_database()") == namespace.database
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _print_origin(endpoints: Endpoints) -> None:
    print(f"services from {endpoints.origin}")


def test_services_starting_together_register_one_subject(
    endpoints: Endpoints, namespace: Namespace
) -> None:
    """Every service registers its schemas at start-up, at the same moment in CI: the
    registry's 409s to the losers of that race must not stop any of them."""
    from concurrent.futures import ThreadPoolExecutor

    from cairn.core.adapters.codec import IncompatibleSchema, RegistryClient

    subject = f"{namespace.topic_prefix}smoke.race-{uuid.uuid4().hex[:8]}-value"
    text = json.dumps(PING_V1)

    def start_up(_: int) -> int:
        client = RegistryClient(endpoints.registry)
        try:
            schema_id = client.register(subject, text)
            client.set_compatibility(subject, "BACKWARD_TRANSITIVE")
            return schema_id
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(start_up, range(8)))
    assert len(set(ids)) == 1, ids
    client = RegistryClient(endpoints.registry)
    try:
        assert client.compatibility(subject) == "BACKWARD_TRANSITIVE"
        breaking = {**PING_V1, "fields": [*PING_V1["fields"], {"name": "x", "type": "string"}]}
        with pytest.raises(IncompatibleSchema):
            client.register(subject, json.dumps(breaking))
    finally:
        client.close()
