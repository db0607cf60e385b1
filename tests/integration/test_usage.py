"""Usage on the real stack: api reads and SDK pulls → cairn.usage → the ledger's counts.

Counts are read back with the `Cairn-Usage: client` header, which the api does not count, so
checking never changes what is checked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.topics import Topics
from cairn.core.domain.usage import REPORTED, REPORTED_HEADER, usage_event
from cairn.sdk import Client

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event, read_topic, settings_for
from tests.processes import Service
from tests.usage_helpers import UsageWriter

UNCOUNTED = {REPORTED_HEADER: REPORTED}


@pytest.fixture(scope="module")
def http(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


@pytest.fixture
def sdk(api: Service, api_token: str, cairn_env: dict[str, str]) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


def detail(http: httpx.Client, ref: str) -> dict[str, Any]:
    reply = http.get("/v1/resolve", params={"ref": ref}, headers=UNCOUNTED)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def usage(http: httpx.Client, ref: str) -> dict[str, Any]:
    return detail(http, ref)["usage"]  # type: ignore[no-any-return]


def wait_usage(http: httpx.Client, ref: str, timeout: float = 60.0, **expected: Any
               ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = usage(http, ref)
        if {k: got[k] for k in expected} == expected or time.monotonic() > deadline:
            assert {k: got[k] for k in expected} == expected, got
            return got
        time.sleep(0.3)


def files(root: Path, **contents: bytes) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (root / name).write_bytes(data)
    return list(contents)


def test_views_downloads_and_a_pull_are_counted(sdk: Client, http: httpx.Client,
                                                tmp_path: Path) -> None:
    p = f"use-{uuid.uuid4().hex[:8]}"
    names = files(tmp_path / "src", a=uuid.uuid4().bytes * 50, b=uuid.uuid4().bytes * 70)
    ref = sdk.publish("dataset", p, "d", names, root=tmp_path / "src").ref
    assert ref == f"{p}/d@v1"
    assert usage(http, ref) == {"views": 0, "downloads": 0, "retrieves": 0,
                                "mean_retrieve_ms": None, "last_used_at": None}
    shas = {f["path"]: f["sha256"] for f in detail(http, ref)["files"]}

    for url, params in ((f"/v1/artifacts/{p}/d/versions/v1", None),
                        (f"/v1/artifacts/{p}/d/versions/latest", None),
                        ("/v1/resolve", {"ref": ref})):
        assert http.get(url, params=params).status_code == 200  # 3 views
    assert http.get(f"/v1/blobs/{shas['a']}", params={"ref": ref}).status_code == 200
    assert http.get(f"/v1/blobs/{shas['b']}").status_code == 200  # one version has it: counted
    wait_usage(http, ref, views=3, downloads=2, retrieves=0)

    sdk.pull(ref, tmp_path / "pulled")  # one download with its time; its reads are not counted
    counted = wait_usage(http, ref, views=3, downloads=3, retrieves=1)
    assert counted["mean_retrieve_ms"] >= 0 and counted["last_used_at"]
    assert http.get(f"/v1/artifacts/{p}/d/versions/v1", headers=UNCOUNTED).json()[
        "usage"] == counted


def test_pulls_without_a_working_token_still_succeed(
        api: Service, cairn_env: dict[str, str], sdk: Client, http: httpx.Client,
        tmp_path: Path) -> None:
    p = f"use-{uuid.uuid4().hex[:8]}"
    names = files(tmp_path / "src", x=uuid.uuid4().bytes * 9, y=uuid.uuid4().bytes * 11)
    ref = sdk.publish("dataset", p, "d", names, root=tmp_path / "src").ref
    settings = settings_for(cairn_env)
    with Client(api.url, "wrong-token", settings, progress=False) as refused:
        assert len(refused.pull(ref, tmp_path / "one")) == 2  # its report got 401: no matter
    with Client(api.url, "", settings, progress=False) as anonymous:
        assert len(anonymous.pull(ref, tmp_path / "two")) == 2  # no report: reads are counted
    wait_usage(http, ref, views=1, downloads=2, retrieves=0)


def test_reports_need_a_token_and_sane_values(api: Service, api_token: str,
                                              http: httpx.Client, sdk: Client,
                                              tmp_path: Path) -> None:
    p = f"use-{uuid.uuid4().hex[:8]}"
    names = files(tmp_path, m=uuid.uuid4().bytes)
    ref = sdk.publish("model", p, "m", names, root=tmp_path).ref
    body = {"ref": ref, "action": "download", "retrieve_ms": 100}
    assert http.post("/v1/usage", json=body).status_code == 401
    auth = {"Authorization": f"Bearer {api_token}"}
    for bad, status, reason in (({"action": "steal"}, 400, "invalid_action"),
                                ({"retrieve_ms": -5}, 400, "invalid_retrieve_ms"),
                                ({"ref": f"{p}/m@v7"}, 404, "not_found"),
                                ({"ref": "nonsense"}, 400, "invalid_ref")):
        reply = http.post("/v1/usage", json={**body, **bad}, headers=auth)
        assert (reply.status_code, reply.json()["error"]["reason"]) == (status, reason)
    for ms in (100, 300):
        reply = http.post("/v1/usage", json={**body, "retrieve_ms": ms}, headers=auth)
        assert reply.status_code == 202 and reply.json()["event_id"]
    got = wait_usage(http, ref, downloads=2, retrieves=2)
    assert (got["views"], got["mean_retrieve_ms"]) == (0, 200.0)


async def published(cairn_env: dict[str, str], namespace: Namespace, artifact: str) -> str:
    """Record a version straight through the ledger; its digest."""
    event = publish_event(*artifact.split("/"))
    await emit_recorded(cairn_env, namespace.database_url, [event])
    return str(event["payload"][1]["digest"])


async def test_a_redelivered_usage_event_is_counted_once(
        api: Service, cairn_env: dict[str, str], namespace: Namespace,
        http: httpx.Client) -> None:
    artifact = f"use-{uuid.uuid4().hex[:8]}/d"
    digest = await published(cairn_env, namespace, artifact)
    writer = UsageWriter(cairn_env)
    view = usage_event(artifact, digest, "view", actor="tester", tool="test")
    record = writer.record(view)
    writer.send(record, record)  # twice in one batch
    wait_usage(http, f"{artifact}@v1", views=1)
    writer.send(record)  # and again later, in a batch of its own
    marker = usage_event(artifact, digest, "download", actor="tester", tool="test")
    writer.send(writer.record(marker))
    # same key, same partition: once the later marker is counted, the repeat was seen
    got = wait_usage(http, f"{artifact}@v1", downloads=1)
    assert got["views"] == 1


async def test_usage_of_an_unknown_version_is_dead_lettered(
        api: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    artifact = f"use-{uuid.uuid4().hex[:8]}/d"
    await published(cairn_env, namespace, artifact)
    writer = UsageWriter(cairn_env)
    stray = usage_event(artifact, "0" * 64, "view", actor="tester", tool="test")
    writer.send(writer.record(stray))
    assert await dead_reasons(cairn_env, namespace, artifact, 1) == [b"unknown_version"]


async def dead_reasons(cairn_env: dict[str, str], namespace: Namespace, key: str, n: int
                       ) -> list[bytes]:
    """The dead-letter reasons of the ledger's records keyed `key`, once there are `n`."""
    dead_topic = Topics(namespace.topic_prefix).dead_letter("ledger")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reasons = [dict(m.headers() or []).get("cairn.dlq.reason")
                   for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], dead_topic)
                   if m.key() == key.encode()]
        if len(reasons) >= n:
            return sorted(reasons)
        await asyncio.sleep(0.5)
    raise AssertionError(f"{n} dead letters for {key} never arrived")


async def test_usage_only_counts_from_cairns_own_services(
        api: Service, cairn_env: dict[str, str], namespace: Namespace,
        http: httpx.Client) -> None:
    """Usage figures rank artifacts ("most used"): an unsigned event, or one signed by a
    service account rather than a Cairn service, is dead-lettered and never counted."""
    artifact = f"use-{uuid.uuid4().hex[:8]}/d"
    digest = await published(cairn_env, namespace, artifact)
    writer = UsageWriter(cairn_env)

    def view() -> dict[str, Any]:
        return dict(usage_event(artifact, digest, "view", actor="tester", tool="test"))

    writer.send(writer.record(view(), signed=False),
                writer.record(view(), as_producer="orchestrator"))
    marker = usage_event(artifact, digest, "download", actor="tester", tool="test")
    writer.send(writer.record(marker))  # same partition: counted after the two were judged
    got = wait_usage(http, f"{artifact}@v1", downloads=1)
    assert got["views"] == 0
    assert await dead_reasons(cairn_env, namespace, artifact, 2) == [b"not_internal",
                                                                    b"unsigned"]


async def totals_of(cairn_env: dict[str, str], namespace: Namespace, artifact: str, n: int
                    ) -> list[dict[str, Any]]:
    """The ledger's UsageTotals records keyed `artifact`, once there are at least `n`."""
    topic = Topics(namespace.topic_prefix).usage_totals
    codec = AvroCodec(RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic,
                      schemas.USAGE_TOTALS)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [codec.decode(m.value())
                 for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic)
                 if m.key() == artifact.encode()]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"{n} usage totals for {artifact} never arrived")


async def test_a_redelivered_usage_batch_publishes_its_totals_again(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    """The ledger commits the counts, then produces the totals, then acknowledges: a crash in
    between redelivers the batch, which counts nothing again but must produce the totals
    again (the indexer's only source of usage). A resent event stands in for the redelivery."""
    artifact = f"use-{uuid.uuid4().hex[:8]}/d"
    digest = await published(cairn_env, namespace, artifact)
    writer = UsageWriter(cairn_env)
    record = writer.record(usage_event(artifact, digest, "view", actor="tester", tool="test"))
    writer.send(record)
    [first] = await totals_of(cairn_env, namespace, artifact, 1)
    writer.send(record)  # the same event_id: not counted again
    again = await totals_of(cairn_env, namespace, artifact, 2)
    assert [(t["views"], t["downloads"]) for t in again] == [(1, 0), (1, 0)]
    assert first["state"]["digest"] == digest and first["state"]["aliases"] == ["latest"]
    assert again[1]["as_of"] >= first["as_of"]
