"""File paths no file system can hold are refused at publish, by the api and by the ledger.

A 10,000-character path was accepted at publish and then `cairn pull` failed with "File
name too long". cairn.core.domain.identity.check_path_length (a name over 255 bytes, a path over
4,096) runs in the SDK, the api and the ledger (tests/unit/test_sdk_files.py has the SDK's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cairn.core.adapters.topics import Topics
from cairn.core.domain.identity import manifest_digest

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, fake_file, publish_event
from tests.processes import Service

LONG_NAME = "d/" + "n" * 256  # one name of 256 bytes
LONG_NAME_UTF8 = "\u00e9" * 128  # 128 characters, 256 bytes in UTF-8
LONG_PATH = "/".join(["p" * 200] * 20) + "/" + "f" * 100  # 4,120 bytes, each name short
TOO_LONG = [(LONG_NAME, "path_component_too_long"), (LONG_NAME_UTF8, "path_component_too_long"),
            (LONG_PATH, "path_too_long")]
CONTENT = b"path limits"
SHA = fake_file("x", CONTENT)["sha256"]


@pytest.fixture(scope="module")
def client(api: Service, api_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30,
                      headers={"Authorization": f"Bearer {api_token}"}) as c:
        assert c.put(f"/v1/blobs/{SHA}", content=CONTENT).status_code in (200, 201)
        yield c


def _body(path: str) -> dict[str, object]:
    return {"kind": "dataset", "project": f"p-{uuid.uuid4().hex[:8]}", "name": "m",
            "files": [{"path": path, "size": len(CONTENT), "sha256": SHA}],
            "metadata": {"creator": "alice"}}


@pytest.mark.parametrize("path,reason", TOO_LONG)
def test_api_refuses_a_path_no_file_system_can_hold(client: httpx.Client, path: str,
                                                    reason: str) -> None:
    reply = client.post("/v1/artifacts", json=_body(path))
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["reason"] == reason
    assert "255" in error["message"] or "4096" in error["message"]


def test_api_refuses_a_multipart_file_with_a_long_name(client: httpx.Client) -> None:
    body = _body("ok.bin")
    body.pop("files")
    reply = client.post("/v1/artifacts", files=[
        ("manifest", ("manifest.json", json.dumps(body), "application/json")),
        ("file", ("a" * 300, CONTENT, "application/octet-stream"))])
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["reason"] == "path_component_too_long"


def test_paths_at_the_limits_are_accepted(client: httpx.Client) -> None:
    at_limit = "/".join(["q" * 255] * 16)  # 4,095 bytes, each name 255
    reply = client.post("/v1/artifacts", json=_body(at_limit))
    assert reply.status_code == 202, reply.text


async def test_ledger_dead_letters_a_published_event_with_such_a_path(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    """A producer on Kafka skips the SDK's and the api's checks; the ledger refuses."""
    events = []
    for path, _ in TOO_LONG:
        event = publish_event(f"p{uuid.uuid4().hex[:8]}", "m", content=CONTENT)
        body = event["payload"][1]
        body["files"] = [{**fake_file(path, CONTENT), "media_type": None}]
        body["digest"] = manifest_digest(body["kind"], body["files"])  # a consistent event
        events.append(event)
    got = await emit_recorded(cairn_env, namespace.database_url, events)
    for event, (_, reason) in zip(events, TOO_LONG, strict=True):
        assert got[event["event_id"]]["outcome"] == "rejected"
        assert got[event["event_id"]]["reason"] == reason

    consumer = AIOKafkaConsumer(Topics(namespace.topic_prefix).dead_letter("ledger"),
                                bootstrap_servers=cairn_env["KAFKA_BOOTSTRAP_SERVERS"],
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        reasons: set[str] = set()
        for records in (await consumer.getmany(timeout_ms=5000)).values():
            reasons |= {dict(r.headers)["cairn.dlq.reason"].decode() for r in records}
    finally:
        await consumer.stop()
    assert {"path_component_too_long", "path_too_long"} <= reasons
