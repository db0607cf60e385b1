"""Fault 9: a poison record on every input topic of the ledger and the indexer.

Three kinds on each topic while a steady stream publishes: bytes that are not Avro in the
Confluent framing, a frame naming a schema id the registry does not have, and a huge record
(900 KB of noise in a valid frame). The ledger sends each of its poison records to its dead
letter topic with the reason and source in the headers; the indexer counts and logs an
undecodable changelog record (the ledger wrote it: not a consumer's to refuse). Either way
the pipeline goes on: the invariant holds for the stream around the poison.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest
from cairn.core.adapters.kafka import producer
from cairn.core.adapters.topics import Topics

from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach
from tests.faults.steady import assert_converged, pipeline
from tests.ledger_helpers import read_topic

pytestmark = pytest.mark.faults


def poisons(schema_id: int) -> list[tuple[str, bytes]]:
    return [("undecodable", b"\x07not avro at all"),
            ("unknown schema id", struct.pack(">bI", 0, 987_654_321) + b"\x02x"),
            ("huge", struct.pack(">bI", 0, schema_id) + os.urandom(900_000))]


def ledger_inputs(topics: Topics) -> list[str]:
    return [topics.events, topics.usage, topics.config, topics.deliveries]


async def test_poison_on_every_input_topic_is_set_aside_and_the_stream_goes_on(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "px", DATABASE_URL=own_database)
    topics = Topics(env["CAIRN_TOPIC_PREFIX"])
    with pipeline(env, project, tmp_path) as stream:
        await reach(own_database, project, 50, 120)
        first_id = stream_schema_id(env, topics)
        kafka = producer(env["KAFKA_BOOTSTRAP_SERVERS"], "poisoner")
        for topic in [*ledger_inputs(topics), topics.changelog, topics.usage_totals]:
            for _, value in poisons(first_id):
                kafka.produce(topic, key=f"{project}/poison".encode(), value=value)
        assert kafka.flush(30) == 0
        poisoned_at = time.monotonic()
        await reach(own_database, project, stream.sent + 50, 120)  # it goes on
        sent = stream.stop()
        await assert_converged("poison records on 6 input topics", env, own_database, project,
                               sent, poisoned_at)
        sources = [json.loads(dict(m.headers())["cairn.dlq.source"])["topic"]
                   for m in read_topic(env["KAFKA_BOOTSTRAP_SERVERS"],
                                       topics.dead_letter("ledger"))]
        for topic in ledger_inputs(topics):
            assert sources.count(topic) == 3, (topic, sources)


def stream_schema_id(env: dict[str, str], topics: Topics) -> int:
    """The schema id the stream's events carry (a real one, for the huge record's frame)."""
    first = read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], topics.events)[0]
    return int(struct.unpack(">I", first.value()[1:5])[0])
