"""The indexer's alias correction reads every stale copy, however many there are.

After a replay of the changelog (a new indexer, a new consumer group), each version of an
artifact was indexed with the aliases it held when it was published, so every former holder
of `latest` still lists it until the Refresher compares the index with the ledger. It read at
most 10,000 alias-holding documents per chunk of artifacts and then forgot those artifacts,
so a larger replay left stale `latest`s for good (seen in CI: test_search_engine_restart
waited forever for 33 of them). This test builds that state on purpose.
"""

from __future__ import annotations

import uuid

import asyncpg
from cairn.indexer.sync import Refresher
from cairn.readmodel import index_rows
from cairn.search.documents import version_document
from cairn.search.engines import physical_name
from cairn.search.mappings import index_body

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event
from tests.processes import Service
from tests.search_helpers import backend_of, drop_indices

ARTIFACTS, VERSIONS = 41, 250  # 10,250 versions: more than one capped page of 10,000


async def test_a_replay_with_more_stale_aliases_than_one_page_is_fully_corrected(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = f"stale{uuid.uuid4().hex[:6]}"
    events = [publish_event(p, f"a{a:02d}") for _ in range(VERSIONS) for a in range(ARTIFACTS)]
    got = await emit_recorded(cairn_env, namespace.database_url, events)
    assert [r["outcome"] for r in got.values()].count("applied") == len(events)

    backend, _ = backend_of(cairn_env)
    alias = f"{namespace.index_prefix}-stale-{uuid.uuid4().hex[:6]}"
    pool = await asyncpg.create_pool(namespace.database_url, min_size=1, max_size=2)
    try:
        index = physical_name(alias)
        await backend.create_index(index, index_body("1s"))
        await backend.swap_alias(alias, index)
        async with pool.acquire() as conn:
            ids = [r["id"] for r in await conn.fetch(
                "SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
                " WHERE a.project = $1", p)]
            docs = []
            for state, usage in await index_rows.states(conn, ids):
                state["aliases"] = ["latest"]  # as each version was when it was published
                doc_id, body = version_document(state, usage)
                docs.append((doc_id, body["seq"], body))
        for start in range(0, len(docs), 2000):
            await backend.bulk_index(alias, docs[start:start + 2000])
        await backend.refresh(alias)

        async def the_pool() -> asyncpg.Pool:
            return pool

        refresher = Refresher(backend, alias, the_pool, usage_every=3600, visible_after=0)
        refresher.touch(f"{p}/a{a:02d}" for a in range(ARTIFACTS))
        await refresher.reconcile_aliases()
        assert not refresher.pending
        await backend.refresh(alias)
        holders = await backend.search(alias, {
            "size": 10_000, "_source": ["ref"], "track_total_hits": True,
            "query": {"term": {"aliases": "latest"}}})
        held = {h["_source"]["ref"] for h in holders["hits"]["hits"]}
        assert holders["hits"]["total"]["value"] == ARTIFACTS, holders["hits"]["total"]
        assert held == {f"{p}/a{a:02d}@v{VERSIONS}" for a in range(ARTIFACTS)}
    finally:
        await pool.close()
        await backend.close()
        drop_indices(cairn_env["SEARCH_URL"], alias)
