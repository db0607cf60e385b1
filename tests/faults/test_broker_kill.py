"""Fault 1: a Kafka broker of the replicated topology killed (SIGKILL) mid-stream, then
restarted on its data.

Runs on `scripts/stack up --cluster` only (3 KRaft brokers; skipped elsewhere). The test's
own ledger and indexer (a private namespace, as every fault test) make their topics there with
3 copies and min.insync.replicas 2 (CAIRN_TOPIC_REPLICATION, CAIRN_TOPIC_MIN_ISR from
`scripts/stack env --cluster`), and the steady stream produces through the api's emitter
(acks=all, idempotent). The broker killed is the one leading the most partitions of the
ledger's input topic, so the api's producer, the ledger's consumer and, through the
changelog, the indexer all lose a leader at once. With two brokers in sync, acks=all still
succeeds, so the stream keeps going while it is down; once it is back and caught up, every
acknowledged event is recorded exactly once, the chain intact, and the index matches.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from cairn.core.adapters.topics import Topics
from confluent_kafka.admin import AdminClient

from tests import cluster
from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach, until
from tests.faults.steady import assert_converged, indexed, pipeline

pytestmark = [pytest.mark.faults, cluster.needs_cluster,
              pytest.mark.timeout(900)]  # a restart under load takes minutes

DOWN_S = 25  # past the brokers' session timeout (9 s), so the controller moves leaders


def _partitions(topics: list[str]) -> list[tuple[int, list[int], list[int]]]:
    """(leader, replicas, in-sync replicas) of every partition of `topics` on the cluster."""
    admin = AdminClient({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]})
    meta = admin.list_topics(timeout=15).topics
    return [(p.leader, list(p.replicas), list(p.isrs))
            for name in topics for p in meta[name].partitions.values()]


async def test_a_broker_killed_mid_stream_loses_and_repeats_nothing(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "bk", DATABASE_URL=own_database)
    topics = Topics(env["CAIRN_TOPIC_PREFIX"])
    watched = [topics.events, topics.changelog]
    with pipeline(env, project, tmp_path) as stream:
        await reach(own_database, project, 50, 120)
        await indexed(env, 50)
        parts = _partitions(watched)
        assert {len(replicas) for _, replicas, _ in parts} == {3}, parts  # else no test
        leader, led = Counter(p[0] for p in _partitions([topics.events])).most_common(1)[0]
        broker = f"kafka{leader}"
        led_changelog = sum(p[0] == leader for p in _partitions([topics.changelog]))
        sent_at_kill = stream.sent
        cluster.kill(broker)
        await asyncio.sleep(DOWN_S)
        sent_while_down = stream.sent - sent_at_kill
        assert sent_while_down > 0, "acks=all with two of three brokers in sync must go on"
        restarting = time.monotonic()
        await asyncio.to_thread(cluster.start, broker)
        healed_at = time.monotonic()  # back and healthy: converged_s counts from here
        restart_s = round(healed_at - restarting, 1)

        async def all_in_sync() -> bool:
            return all(len(isrs) == 3 for _, _, isrs in _partitions(watched))

        await until(all_in_sync, 240, f"{broker} back in sync on every partition")
        in_sync_s = round(time.monotonic() - healed_at, 1)
        await asyncio.sleep(2)  # a little of the stream with the broker back
        sent = stream.stop()
        await assert_converged(
            f"broker {broker} killed {DOWN_S} s", env, own_database, project, sent, healed_at,
            killed=broker, led_partitions={"input": led, "changelog": led_changelog},
            sent_while_down=sent_while_down, restart_s=restart_s, in_sync_s=in_sync_s)
