"""The search engine stopped while 1,000 artifacts are published: once it is back, all
1,000 are searchable and none twice. A private OpenSearch node stands in for the engine
(the shared stack's must never be stopped), with an indexer of its own pointed at it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from cairn.search.backend import OpenSearchBackend

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.opensearch_node import OpenSearchNode, private_opensearch  # noqa: F401 (fixture)
from tests.processes import Service
from tests.search_helpers import wait_index_matches_ledger

COUNT = 1000


@pytest.fixture(scope="module")
def private_indexer(private_opensearch: OpenSearchNode, cairn_env: dict[str, str],  # noqa: F811
                    ledger: Service, namespace: Namespace,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Its own index prefix, hence its own consumer group: it reads the whole changelog."""
    env = {**cairn_env, "SEARCH_URL": private_opensearch.url, "SEARCH_ENGINE": "opensearch",
           "CAIRN_INDEX_PREFIX": f"{namespace.index_prefix}-private"}
    service = Service("indexer", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.mark.timeout(900)  # it first replays the run's whole changelog into its own node
async def test_engine_down_while_publishing_loses_nothing_and_doubles_nothing(
    private_opensearch: OpenSearchNode, private_indexer: Service,  # noqa: F811
    cairn_env: dict[str, str], namespace: Namespace
) -> None:
    alias = f"{namespace.index_prefix}-private-versions"
    backend = OpenSearchBackend(private_opensearch.url, patience=60)
    try:
        caught_up = await wait_index_matches_ledger(backend, alias, namespace.database_url, 600)
        print(f"\nprivate indexer replayed the changelog so far in {caught_up:.1f} s")
    finally:
        await backend.close()

    await asyncio.to_thread(private_opensearch.stop)
    p = f"down{uuid.uuid4().hex[:8]}"
    events = [publish_event(p, f"artifact-{i:04d}") for i in range(COUNT)]
    emitter = emitter_for(cairn_env)
    try:
        await asyncio.to_thread(emitter.emit, *events)
    finally:
        emitter.close()
    got = await wait_recorded(namespace.database_url, [e["event_id"] for e in events])
    assert sorted(r["outcome"] for r in got.values()) == ["applied"] * COUNT
    await asyncio.sleep(5)  # the indexer is now retrying its batch against a dead engine

    started = time.monotonic()
    await asyncio.to_thread(private_opensearch.start)
    backend = OpenSearchBackend(private_opensearch.url, patience=60)
    try:
        await wait_index_matches_ledger(backend, alias, namespace.database_url, 300)
        print(f"all {COUNT} searchable {time.monotonic() - started:.1f} s after the restart")
        reply = await backend.search(alias, {
            "size": 2 * COUNT, "query": {"term": {"project": p}},
            "aggs": {"names": {"cardinality": {"field": "artifact"}}}})
    finally:
        await backend.close()
    hits = reply["hits"]["hits"]
    assert reply["hits"]["total"]["value"] == len(hits) == COUNT
    assert len({h["_id"] for h in hits}) == COUNT
    assert {h["_source"]["name"] for h in hits} == {f"artifact-{i:04d}" for i in range(COUNT)}
    assert reply["aggregations"]["names"]["value"] == COUNT
