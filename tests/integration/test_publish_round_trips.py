"""A single publish over HTTP asks no request it can skip (issue 11), on the real api, ledger,
Kafka and PostgreSQL: small files ride inside the publish (cairn.sdk.inline), the publish
request waits for the record itself (?wait_ms), and the ledger's commit wakes that wait
(cairn.readmodel.commits: a NOTIFY delivered at commit); publish_many sends small blobs many
to a request (POST /v1/blobs, cairn.sdk.packed)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.readmodel.commits import CHANNEL
from cairn.sdk import Client, Item
from cairn.sdk.inline import INLINE_BYTES, multipart

from tests.conftest import API_TOKEN, Namespace
from tests.ledger_helpers import settings_for
from tests.processes import Service

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


def project() -> str:
    return f"trips-{uuid.uuid4().hex[:10]}"


@pytest.fixture(name="counted")
def counted_fixture(api: Service, cairn_env: dict[str, str]
                    ) -> Iterator[tuple[Client, list[str]]]:
    """The SDK on a real httpx client that notes each request it sends."""
    sent: list[str] = []
    hooks = {"request": [lambda r: sent.append(f"{r.method} {r.url.path}")]}
    with httpx.Client(base_url=api.url, timeout=60, event_hooks=hooks) as http, \
            Client(api.url, API_TOKEN, settings_for(cairn_env), progress=False,
                   http=http) as client:
        yield client, sent


def test_a_small_publish_is_one_request_answered_with_its_record(
        counted: tuple[Client, list[str]], tmp_path: Path) -> None:
    client, sent = counted
    p = project()
    (tmp_path / "metrics.json").write_text('{"loss": 0.25}')
    (tmp_path / "notes.md").write_text("# a run\n")
    first = client.publish("eval_log", p, "run", ["metrics.json", "notes.md"], root=tmp_path)
    assert sent == ["POST /v1/artifacts"]
    assert (first.ref, first.outcome) == (f"{p}/run@v1", "applied")
    sent.clear()
    again = client.publish("eval_log", p, "run", ["metrics.json", "notes.md"], root=tmp_path)
    assert sent == ["POST /v1/artifacts"]  # blobs stored already: sent again, still one request
    assert (again.ref, again.outcome) == (f"{p}/run@v1", "duplicate")
    shown = client.show(first.ref)
    assert {f["path"]: (f["size"], f["media_type"]) for f in shown["files"]} == {
        "metrics.json": (14, "application/json"), "notes.md": (8, "text/markdown")}
    out = client.pull(first.ref, tmp_path / "pulled")
    assert sorted(p.read_bytes() for p in out) == [b"# a run\n", b'{"loss": 0.25}']


def test_a_large_file_is_uploaded_first_and_the_publish_waits_in_its_request(
        counted: tuple[Client, list[str]], tmp_path: Path) -> None:
    client, sent = counted
    content = os.urandom(INLINE_BYTES + 1)
    (tmp_path / "weights.bin").write_bytes(content)
    result = client.publish("model", project(), "big", ["weights.bin"], root=tmp_path)
    assert result.ref is not None and result.ref.endswith("@v1")
    sha = hashlib.sha256(content).hexdigest()
    assert [s for s in sent if s != "POST /v1/blobs/uploads"] == [  # asked once per client
        "POST /v1/blobs/missing", f"PUT /v1/blobs/{sha}", "POST /v1/artifacts"]


def _publish(api: Service, body: dict[str, Any], wait_ms: int) -> dict[str, Any]:
    reply = httpx.post(f"{api.url}/v1/artifacts", json=body, headers=ADMIN, timeout=60,
                       params={"wait_ms": wait_ms})
    assert reply.status_code == 202, reply.text
    return dict(reply.json())


def test_wait_ms_answers_recorded_or_rejected_in_the_publish(api: Service) -> None:
    p = project()
    blobs = []
    for content in (b"one", b"two"):
        sha = hashlib.sha256(content).hexdigest()
        put = httpx.put(f"{api.url}/v1/blobs/{sha}", content=content, headers=ADMIN)
        assert put.status_code in (200, 201), put.text
        blobs.append({"path": "w.bin", "size": len(content), "sha256": sha})

    def body(i: int) -> dict[str, Any]:
        return {"kind": "model", "project": p, "name": "m", "files": [blobs[i]],
                "metadata": {"creator": "tests"}, "version_number": 7}

    first = _publish(api, body(0), 20_000)
    assert first["status"]["status"] == "recorded", first
    assert (first["status"]["ref"], first["status"]["version_number"]) == (f"{p}/m@v7", 7)
    taken = _publish(api, body(1), 20_000)  # same number, other content: the ledger refuses
    assert taken["status"]["status"] == "rejected", taken
    assert taken["status"]["reason"] == "version_number_taken"
    assert _publish(api, body(0), 0).get("status") is None  # no wait asked: none made


def test_the_ledger_notifies_once_a_batch_committed(api: Service, namespace: Namespace
                                                    ) -> None:
    async def run() -> list[str]:
        conn = await asyncpg.connect(namespace.database_url)
        heard: asyncio.Queue[str] = asyncio.Queue()
        await conn.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[2]))
        try:
            content = uuid.uuid4().bytes
            sha = hashlib.sha256(content).hexdigest()
            await asyncio.to_thread(httpx.put, f"{api.url}/v1/blobs/{sha}", content=content,
                                    headers=ADMIN)
            accepted = await asyncio.to_thread(_publish, api, {
                "kind": "model", "project": project(), "name": "n",
                "files": [{"path": "w", "size": 16, "sha256": sha}],
                "metadata": {"creator": "tests"}}, 0)
            heard_from = []
            while True:  # the session's other tests' batches notify too
                heard_from.append(await asyncio.wait_for(heard.get(), 60))
                if await conn.fetchval("SELECT count(*) FROM event_log WHERE event_id = "
                                       "$1::uuid", accepted["event_id"]):
                    return heard_from
        finally:
            await conn.close()

    assert set(asyncio.run(run())) == {CHANNEL}  # without the NOTIFY: no wake-up, a timeout


def test_publish_many_sends_small_blobs_many_to_a_request(
        counted: tuple[Client, list[str]], tmp_path: Path) -> None:
    client, sent = counted
    p = project()
    for i in range(30):
        (tmp_path / f"m{i}.json").write_text(f'{{"run": {i}, "seed": "{uuid.uuid4().hex}"}}')
    results = client.publish_many([Item("eval_log", p, f"e{i % 3}", [f"m{i}.json"],
                                        root=tmp_path) for i in range(30)])
    assert [r.status for r in results] == ["recorded"] * 30, results
    assert sent.count("POST /v1/blobs") == 1
    assert not [s for s in sent if s.startswith("PUT /v1/blobs/")], sent
    [pulled] = client.pull(str(results[7].ref), tmp_path / "pulled")
    assert pulled.read_bytes() == (tmp_path / "m7.json").read_bytes()


def test_post_blobs_checks_each_blob_against_its_name(api: Service) -> None:
    good, bad = uuid.uuid4().bytes, uuid.uuid4().bytes
    good_sha, bad_sha = hashlib.sha256(good).hexdigest(), hashlib.sha256(bad).hexdigest()

    def post(parts: list[tuple[str, bytes]]) -> httpx.Response:
        body, content_type = multipart([("blob", name, None, data) for name, data in parts])
        return httpx.post(f"{api.url}/v1/blobs", content=body, timeout=60,
                          headers={**ADMIN, "Content-Type": content_type})

    stored = post([(good_sha, good)])
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] == [{"sha256": good_sha, "size": 16}]
    assert set(stored.json()["receipts"]) == {good_sha}
    lying = post([(bad_sha, good)])  # named as other bytes
    assert (lying.status_code, lying.json()["error"]["reason"]) == (400, "digest_mismatch")
    assert httpx.head(f"{api.url}/v1/blobs/{bad_sha}", headers=ADMIN).status_code == 404
    assert httpx.post(f"{api.url}/v1/blobs", json={}, headers=ADMIN).status_code == 400
