"""Fault 6: the api cut from Kafka while publish requests arrive.

A private broker (tests/kafka_node.py) with a second listener whose advertised address is a
Toxiproxy port: the api bootstraps there, so all its Kafka traffic goes through the proxy,
while the ledger and indexer use the direct listener. Requests arrive steadily before, during
and after a cut of CUT_S seconds, longer than the api's Kafka delivery timeout (set short here
to keep the test short; the default is 50 s). The invariant:
a request answered 202 is recorded exactly once; one answered 503 (reason `unavailable`)
is never recorded, not even after the network returns: nothing half-done.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import API_TOKEN, Namespace, api_env
from tests.e2e.faults import private_env, until
from tests.faults.steady import indexed
from tests.faults.toxiproxy import Proxy, Toxiproxy
from tests.kafka_node import KafkaNode, libs
from tests.processes import Service, free_port
from tests.search_helpers import drop_indices

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]  # a broker, a cut

DELIVERY_S = 15  # the api's CAIRN_KAFKA_DELIVERY_TIMEOUT (default 50 s)
CUT_S = 25  # longer than that
EVERY_S = 0.5  # one publish request started this often


def _outside_listener(node: KafkaNode, proxy_port: int) -> int:
    """Add listener OUTSIDE on a port of its own, advertised as the proxy's port."""
    outside = free_port()
    lines = []
    for line in node.config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "listeners":
            value += f",OUTSIDE://127.0.0.1:{outside}"
        elif key == "advertised.listeners":
            value += f",OUTSIDE://127.0.0.1:{proxy_port}"
        elif key == "listener.security.protocol.map":
            value += ",OUTSIDE:PLAINTEXT"
        lines.append(f"{key}={value}" if key else line)
    node.config.write_text("\n".join(lines) + "\n")
    return outside


@pytest.fixture
def proxied_kafka(toxiproxy: Toxiproxy) -> Iterator[tuple[KafkaNode, Proxy]]:
    found = libs()
    if found is None:
        pytest.skip("no Kafka jars under .cache/stack (scripts/stack up provisions them)")
    node = KafkaNode(found)
    port = free_port()  # the proxy listens where OUTSIDE is advertised
    outside = _outside_listener(node, port)
    proxy = toxiproxy.proxy(f"kafka-{uuid.uuid4().hex[:8]}", f"127.0.0.1:{outside}", port)
    try:
        yield node.start(), proxy
    finally:
        node.remove()


async def _publish(client: httpx.AsyncClient, project: str, i: int) -> tuple[str, int, str]:
    """Upload a blob and publish version 1 of `req-i`: (name, status, reason)."""
    data = uuid.uuid4().bytes
    digest = hashlib.sha256(data).hexdigest()
    name = f"req-{i:04d}"
    up = await client.put(f"/v1/blobs/{digest}", content=data)
    assert up.status_code in (200, 201), up.text
    body = {"kind": "dataset", "project": project, "name": name,
            "files": [{"path": "d.bin", "size": len(data), "sha256": digest}],
            "metadata": {"creator": "alice@example.org"}}
    reply = await client.post("/v1/artifacts", json=body)
    reason = reply.json()["error"]["reason"] if reply.status_code >= 400 else ""
    return name, reply.status_code, reason


async def _recorded_names(url: str, project: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["name"] for r in await conn.fetch(
            "SELECT a.name FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1", project)]
    finally:
        await conn.close()


async def test_api_cut_from_kafka_answers_503_and_leaves_nothing_half_done(
    proxied_kafka: tuple[KafkaNode, Proxy], own_database: str, cairn_env: dict[str, str],
    namespace: Namespace, tmp_path: Path,
) -> None:
    broker, kafka = proxied_kafka
    env, project = private_env(cairn_env, namespace, "ak", DATABASE_URL=own_database,
                               KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap)
    ledger = Service("ledger", env, tmp_path).start()
    indexer = Service("indexer", env, tmp_path).start()
    api = Service("api", api_env({**env, "KAFKA_BOOTSTRAP_SERVERS": kafka.address,
                                  "CAIRN_KAFKA_DELIVERY_TIMEOUT": str(DELIVERY_S)}),
                  tmp_path).start()
    client = httpx.AsyncClient(base_url=api.url, timeout=120,
                               limits=httpx.Limits(max_connections=200),
                               headers={"Authorization": f"Bearer {API_TOKEN}"})
    requests: list[asyncio.Task[tuple[str, int, str]]] = []

    async def arrive(seconds: float) -> None:
        for _ in range(int(seconds / EVERY_S)):
            requests.append(asyncio.create_task(_publish(client, project, len(requests))))
            await asyncio.sleep(EVERY_S)

    try:
        await arrive(5)
        kafka.cut()
        await arrive(CUT_S)
        kafka.heal()
        healed_at = time.monotonic()
        await arrive(5)
        answers = await asyncio.gather(*requests)
        accepted = sorted(name for name, status, _ in answers if status == 202)
        refused = [(status, reason) for _, status, reason in answers if status != 202]
        assert refused, "the cut must refuse some requests"
        assert set(refused) == {(503, "unavailable")}, refused

        async def all_in() -> bool:
            return len(await _recorded_names(own_database, project)) >= len(accepted)

        await until(all_in, 120, f"{len(accepted)} accepted publishes recorded")
        recorded_s = time.monotonic() - healed_at
        await indexed(env, len(accepted))
        converged_s = time.monotonic() - healed_at
        await asyncio.sleep(10)  # a refused event delivered late would show up now
        assert sorted(await _recorded_names(own_database, project)) == accepted
        print("FIGURES " + str({
            "fault": f"api cut from Kafka {CUT_S} s", "sent": len(answers),
            "accepted": len(accepted), "refused_503": len(refused),
            "recorded": len(accepted), "lost": 0, "repeated": 0,
            "recorded_s": round(recorded_s, 1), "converged_s": round(converged_s, 1)}))
    finally:
        kafka.heal()
        await client.aclose()
        api.stop()
        indexer.stop()
        ledger.stop()
        drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
