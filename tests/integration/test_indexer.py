"""The indexer on the real stack: changelog → index, equal to what the ledger says.

Every comparison is with documents built from PostgreSQL's current state (the same
`version_document` the indexer uses), field by field, not with what the test sent.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import httpx
from cairn.core.adapters.kafka import produce_all, producer
from cairn.core.adapters.topics import Topics
from cairn.core.domain.events import new_event

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event, read_topic
from tests.processes import Service
from tests.search_helpers import (
    backend_of,
    index_documents,
    ledger_documents,
    wait_consumed,
    wait_index_matches_ledger,
)


def _event(artifact: str, kind: str, **body: Any) -> dict[str, Any]:
    return new_event(artifact, kind, body, actor="tester", tool="test")


def history(p: str) -> list[dict[str, Any]]:
    """Two artifacts with versions, edits, stage and alias moves (aliases change holders)."""
    model, data = f"{p}/resnet50", f"{p}/imagenet"
    return [
        publish_event(p, "imagenet", "dataset"),
        publish_event(p, "resnet50", "model", links=[{"relation": "trained_on",
                                                      "target": f"{data}@v1"}]),
        publish_event(p, "resnet50", "model"),
        _event(model, "AliasMoved", alias="prod", version="v1"),
        _event(model, "StageChanged", version="v1", stage="staging"),
        _event(model, "MetadataEdited", version="v2", reverts=None,
               changes=json.dumps({"description": "second try", "tags": ["cv", "big"]})),
        publish_event(p, "resnet50", "model"),
        _event(model, "StageChanged", version="v3", stage="staging"),
        _event(model, "StageChanged", version="v1", stage="development"),
        _event(model, "AliasMoved", alias="prod", version="v3"),  # v1's last state had prod
        _event(model, "LifecycleRequested", version="v2", action="archive",
               reason=None),  # unlinked
        _event(model, "AliasMoved", alias="champion", version="v2"),
        _event(model, "AliasMoved", alias="champion", version=None),
    ]


async def _publish(env: dict[str, str], ns: Namespace, events: list[dict[str, Any]]) -> None:
    got = await emit_recorded(env, ns.database_url, events)
    rejected = {k: r["reason"] for k, r in got.items() if r["outcome"] == "rejected"}
    assert not rejected, rejected


async def test_documents_equal_the_ledgers_state_after_a_history(
    indexer: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = f"ix{uuid.uuid4().hex[:8]}"
    await _publish(cairn_env, namespace, history(p))
    backend, alias = backend_of(cairn_env)
    try:
        await wait_index_matches_ledger(backend, alias, namespace.database_url)
        artifacts = [f"{p}/resnet50", f"{p}/imagenet"]
        expected = await ledger_documents(namespace.database_url, artifacts)
        assert await index_documents(backend, alias, artifacts) == expected
        assert expected[f"{p}/resnet50@v3"]["aliases"] == ["latest", "prod"]
        assert expected[f"{p}/resnet50@v1"]["aliases"] == []  # lost latest and prod
        assert expected[f"{p}/resnet50@v1"]["datasets"] == [f"{p}/imagenet"]
    finally:
        await backend.close()


async def test_changelog_redelivered_out_of_order_changes_nothing(
    indexer: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = f"rd{uuid.uuid4().hex[:8]}"
    await _publish(cairn_env, namespace, history(p))
    topics = Topics(namespace.topic_prefix)
    backend, alias = backend_of(cairn_env)
    try:
        await wait_index_matches_ledger(backend, alias, namespace.database_url)
        old = [m for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topics.changelog)
               if m.key().decode().startswith(f"{p}/")]
        assert len(old) == len(history(p))
        again = list(reversed(old)) + random.Random(7).sample(old, len(old))  # newest first
        kafka = producer(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], "test-redelivery")
        produce_all(kafka, [(topics.changelog, m.key(), m.value(), None) for m in again])
        group = f"{namespace.topic_prefix}cairn-indexer.{alias}"
        await wait_consumed(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], group, topics.changelog)
        await wait_index_matches_ledger(backend, alias, namespace.database_url)
        artifacts = [f"{p}/resnet50", f"{p}/imagenet"]
        assert await index_documents(backend, alias, artifacts) == \
            await ledger_documents(namespace.database_url, artifacts)
    finally:
        await backend.close()


async def test_undecodable_records_are_dead_lettered_and_indexing_goes_on(
    indexer: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    topics = Topics(namespace.topic_prefix)
    kafka = producer(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], "test-garbage")
    produce_all(kafka, [(topics.changelog, b"x/y", b"not avro at all", None)])
    p = f"dl{uuid.uuid4().hex[:8]}"
    await _publish(cairn_env, namespace, [publish_event(p, "after-garbage")])
    backend, alias = backend_of(cairn_env)
    try:
        await wait_index_matches_ledger(backend, alias, namespace.database_url)
    finally:
        await backend.close()
    dead = [m for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"],
                                  topics.dead_letter("indexer")) if m.value() == b"not avro at all"]
    assert len(dead) == 1
    assert dict(dead[0].headers())["cairn.dlq.reason"] == b"undecodable"
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{indexer.url}/metrics")).text
    assert 'cairn_indexer_dead_letters_total{reason="undecodable"} 1.0' in metrics
