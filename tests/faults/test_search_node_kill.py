"""Fault 4b: one OpenSearch node of the replicated topology killed (SIGKILL) mid-stream, then
restarted on its data.

Runs on `scripts/stack up --cluster` only (2 search nodes; skipped elsewhere). The test's own
ledger and indexer (a private namespace) write an index with one replica
(CAIRN_SEARCH_REPLICAS=1 from `scripts/stack env --cluster`), and the indexer knows both nodes
(SEARCH_URL as a list, as the cluster's indexers). The node killed is the one holding the
primary of the index's shard, so the replica on the other node is promoted and the indexer
must carry on there. Once the node is back: every version in the index once, as in the
ledger, and the index green again with its replica on the returning node.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from tests import cluster
from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach, until
from tests.faults.steady import assert_converged, indexed, pipeline

pytestmark = [pytest.mark.faults, cluster.needs_cluster,
              pytest.mark.timeout(900)]  # a restart under load takes minutes

DOWN_S = 25


def _shards(search_url: str, alias: str) -> list[dict[str, str]]:
    reply = httpx.get(f"{search_url}/_cat/shards/{alias}", timeout=30,
                      params={"format": "json", "h": "index,shard,prirep,state,node"})
    reply.raise_for_status()
    return list(reply.json())


async def test_a_search_node_killed_mid_stream_the_index_converges_and_turns_green(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    nodes = os.environ["CAIRN_SEARCH_URLS"]
    env, project = private_env(cairn_env, namespace, "sn", DATABASE_URL=own_database)
    alias = f"{env['CAIRN_INDEX_PREFIX']}-versions"
    with pipeline(env, project, tmp_path, indexer_env={"SEARCH_URL": nodes}) as stream:
        await reach(own_database, project, 50, 120)
        await indexed(env, 50)
        shards = _shards(env["SEARCH_URL"], alias)
        assert sorted(s["prirep"] for s in shards) == ["p", "r"], shards  # else no test
        primary = next(s["node"] for s in shards if s["prirep"] == "p")
        survivor = next(u for u, name in zip(nodes.split(","), ("search1", "search2"),
                                             strict=True) if name != primary)
        cluster.kill(primary)
        sent_at_kill = stream.sent
        await asyncio.sleep(DOWN_S)
        sent_while_down = stream.sent - sent_at_kill
        promoted = _shards(survivor, alias)
        assert [s["node"] for s in promoted if s["prirep"] == "p"] != [primary], promoted
        restarting = time.monotonic()
        await asyncio.to_thread(cluster.start, primary)
        healed_at = time.monotonic()  # back and healthy: converged_s counts from here
        restart_s = round(healed_at - restarting, 1)

        async def green() -> float:
            async with httpx.AsyncClient(base_url=survivor, timeout=30) as client:
                async def is_green() -> bool:
                    reply = await client.get(f"/_cluster/health/{alias}")
                    return bool(reply.json().get("status") == "green")

                await until(is_green, 240, f"{alias} green again")
            return time.monotonic() - healed_at

        turned_green = asyncio.create_task(green())
        await asyncio.sleep(2)  # a little of the stream with the node back
        sent = await asyncio.to_thread(stream.stop)  # the green check goes on meanwhile
        await assert_converged(
            f"search node {primary} killed {DOWN_S} s", env, own_database, project, sent,
            healed_at, killed=primary, sent_while_down=sent_while_down, restart_s=restart_s)
        print(f"FIGURES {{\"green_s\": {await turned_green:.1f}}}")
        shards = _shards(survivor, alias)
        assert {s["state"] for s in shards} == {"STARTED"}, shards
        assert {s["node"] for s in shards} == {"search1", "search2"}, shards
