"""The replicated topology of `scripts/stack up --cluster` (issue 16), checked on the running
cluster: Cairn's topics and faust's have three copies and need two in sync, the index has a
replica on the other search node, and versions published through either api end up in one
chain that `cairn audit verify` accepts.

Runs only in a shell pointed at the cluster (`eval "$(scripts/stack env --cluster)"`, which
sets CAIRN_CLUSTER_DIR); elsewhere every test here is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from cairn.sdk.client import Client
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.cluster import needs_cluster

pytestmark = needs_cluster


def _admin() -> AdminClient:
    return AdminClient({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]})


def test_topics_have_three_copies_and_need_two_in_sync() -> None:
    admin = _admin()
    topics = admin.list_topics(timeout=15).topics
    cairn = ["cairn.artifact.events", "cairn.artifact.changelog", "cairn.config.events"]
    faust = [name for name in topics if name.startswith("cairn-ledger-")]
    assert faust, sorted(topics)  # the ledger's own faust topics
    for name in cairn + faust:
        assert {len(p.replicas) for p in topics[name].partitions.values()} == {3}, name
    configs = admin.describe_configs([ConfigResource("topic", name) for name in cairn])
    for resource, future in configs.items():
        assert future.result(timeout=15)["min.insync.replicas"].value == "2", resource


def test_the_index_has_a_replica_on_the_other_node() -> None:
    search = os.environ["SEARCH_URL"]
    health = httpx.get(f"{search}/_cluster/health", params={"wait_for_status": "green",
                                                           "timeout": "30s"}, timeout=40).json()
    assert health["number_of_data_nodes"] == 2 and health["status"] == "green", health
    assert health["number_of_nodes"] == 3, health  # and the voter that holds no data
    settings = httpx.get(f"{search}/cairn-versions/_settings", timeout=10).json()
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"1"}


def test_publishes_through_both_apis_make_one_chain(tmp_path: Path) -> None:
    apis = os.environ["CAIRN_API_URLS"].split(",")
    assert len(apis) == 2
    project = f"c{uuid.uuid4().hex[:8]}"
    numbers: dict[str, list[int | None]] = {"m0": [], "m1": []}
    for i, url in enumerate(apis * 3):  # each artifact's versions alternate between the apis
        name = f"m{i % 2}"
        weights = tmp_path / f"weights{i}.bin"
        weights.write_bytes(os.urandom(256))
        with Client(url, os.environ["CAIRN_TOKEN"], progress=False) as client:
            result = client.publish("model", project, name, weights, root=tmp_path,
                                    metadata={"creator": "cluster-test"})
        assert result.outcome == "applied", result
        numbers[name].append(result.version_number)
    assert numbers == {"m0": [1, 2, 3], "m1": [1, 2, 3]}
    audit = subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify"],
                           env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout + audit.stderr
