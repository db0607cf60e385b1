"""A replay of the changelog ends with exactly the ledger's alias holders, in any order.

Each alias move's changelog record carries the states of the versions that lost the alias
(`alias_losers`), and every document write is a merge ordered by the seq its state is true
at. So a new consumer group replaying the whole changelog — or batches redelivered late, out
of order, twice — leaves no former holder still listing `latest` or `prod`, with no PostgreSQL
read to correct it afterwards (the indexer's old Refresher, gone). Before alias_losers, every
former holder of `latest` kept it after a replay: here that would be 19 of 20 versions per
artifact.

The records are the ledger's real ones, read back from this run's changelog topic, and fed
to the indexer's own batch function against the real engine.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import asyncpg
from cairn.core.adapters import schemas
from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.topics import Topics
from cairn.core.domain.events import new_event
from cairn.indexer.batch import changelog_merges, index_batch
from cairn.search.engines import physical_name
from cairn.search.mappings import index_body

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event, read_topic
from tests.processes import Service
from tests.search_helpers import backend_of, drop_indices

ARTIFACTS, VERSIONS = 12, 20


def history(p: str) -> list[dict[str, Any]]:
    """Versions published in rounds; `prod` follows along two versions behind, and
    `champion` is set on v1 and then removed, so every kind of alias change is in it."""
    events: list[dict[str, Any]] = []
    for v in range(1, VERSIONS + 1):
        for a in range(ARTIFACTS):
            artifact = f"{p}/a{a:02d}"
            events.append(publish_event(p, f"a{a:02d}"))
            if v == 1:
                events.append(new_event(artifact, "AliasMoved", {"alias": "champion",
                                                                 "version": "v1"},
                                        actor="tester", tool="test"))
            if v > 2:
                events.append(new_event(artifact, "AliasMoved", {"alias": "prod",
                                                                 "version": f"v{v - 2}"},
                                        actor="tester", tool="test"))
    events += [new_event(f"{p}/a{a:02d}", "AliasMoved", {"alias": "champion", "version": None},
                         actor="tester", tool="test") for a in range(ARTIFACTS)]
    return events


async def ledger_holders(database_url: str, project: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT a.name, v.version_number, array_agg(al.alias ORDER BY al.alias) AS aliases"
            " FROM aliases al JOIN versions v ON v.id = al.version_id"
            " JOIN artifacts a ON a.id = al.artifact_id WHERE a.project = $1"
            " GROUP BY a.name, v.version_number", project)
    finally:
        await conn.close()
    return {f"{project}/{r['name']}@v{r['version_number']}": list(r["aliases"]) for r in rows}


async def test_a_replay_in_any_order_ends_with_exactly_the_ledgers_alias_holders(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = f"replay{uuid.uuid4().hex[:6]}"
    got = await emit_recorded(cairn_env, namespace.database_url, history(p))
    assert {r["outcome"] for r in got.values()} == {"applied"}
    want = await ledger_holders(namespace.database_url, p)
    assert len(want) == 2 * ARTIFACTS  # latest on v20, prod on v18

    topic = Topics(namespace.topic_prefix).changelog
    ours = f"{p}/".encode()
    raws = [RawRecord(m.key(), m.value(), topic, m.partition(), m.offset())
            for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic)
            if (m.key() or b"").startswith(ours)]
    codec = AvroCodec(RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic, schemas.RECORDED)
    losers = sum(len(codec.decode(r.value).get("alias_losers") or []) for r in raws)
    assert losers == ARTIFACTS * ((VERSIONS - 1) + (VERSIONS - 3))  # latest and prod moves

    backend, _ = backend_of(cairn_env)
    rng = random.Random(10)
    orders = {"in order": raws, "reversed": raws[::-1],
              "shuffled, half of it twice": rng.sample(raws + raws[: len(raws) // 2],
                                                       len(raws) + len(raws) // 2)}
    try:
        for label, order in orders.items():
            alias = f"{namespace.index_prefix}-replay-{uuid.uuid4().hex[:6]}"
            index = physical_name(alias)
            await backend.create_index(index, index_body("1s"))
            await backend.swap_alias(alias, index)

            async def ensure(alias: str = alias) -> str:
                return alias

            try:
                for start in range(0, len(order), 100):  # batches, as the indexer takes them
                    out = await index_batch(order[start:start + 100], codec, changelog_merges,
                                            backend, alias, ensure)
                    assert not out.dead and not out.result.rejected, label
                await backend.refresh(alias)
                hits = (await backend.search(alias, {
                    "size": 10_000, "_source": ["ref", "aliases"],
                    "query": {"exists": {"field": "aliases"}}}))["hits"]["hits"]
                held = {h["_source"]["ref"]: h["_source"]["aliases"] for h in hits
                        if h["_source"]["aliases"]}
                assert held == want, label
                assert await backend.count(alias) == ARTIFACTS * VERSIONS, label
            finally:
                drop_indices(cairn_env["SEARCH_URL"], alias)
    finally:
        await backend.close()
