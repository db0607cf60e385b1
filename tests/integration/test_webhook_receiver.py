"""Trying a webhook on one machine: the development receiver (`python -m cairn.receiver`),
named exactly in CAIRN_WEBHOOK_ALLOW, is the one loopback target the api and the notifier
accept; every other private address stays refused. A publish reaches it signed, and its page
shows what arrived."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import API_TOKEN, WEBHOOK_KEY, WEBHOOK_RETRIES, Namespace, api_env
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service, free_port


@pytest.fixture(scope="module")
def receiver(cairn_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Service]:
    env = {**cairn_env, "CAIRN_WEBHOOK_KEY": WEBHOOK_KEY}
    service = Service("receiver", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def allowing(cairn_env: dict[str, str], ledger: Service, receiver: Service,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """An api and a notifier that allow the receiver's origin and no other private target."""
    allow = {"CAIRN_WEBHOOK_ALLOW": receiver.url, "CAIRN_WEBHOOK_KEY": WEBHOOK_KEY}
    logs = tmp_path_factory.mktemp("logs")
    notifier = Service("notifier", {**cairn_env, **WEBHOOK_RETRIES, **allow}, logs).start()
    api = Service("api", api_env(cairn_env, **allow), logs).start()
    try:
        yield api
    finally:
        api.stop()
        notifier.stop()


def cli(api: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": API_TOKEN, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "cairn.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


async def post(api: Service, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{api.url}{path}", json=body,
                               headers={"Authorization": f"Bearer {API_TOKEN}"})


async def received(receiver: Service, n: int, within: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            rows: list[dict[str, Any]] = (await http.get(f"{receiver.url}/deliveries")).json()
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.3)


async def test_only_the_named_receiver_is_allowed_and_it_shows_a_signed_delivery(
        allowing: Service, receiver: Service, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    elsewhere = await post(allowing, "/v1/subscriptions",
                     {"team": "t", "url": f"http://127.0.0.1:{free_port()}/hook"})
    assert elsewhere.status_code == 400 and elsewhere.json()["error"]["reason"] == "private_target"

    project = f"recv{time.time_ns() % 10**9}"
    created = await post(allowing, "/v1/subscriptions",
                   {"team": "ml", "url": f"{receiver.url}/hook",
                    "filter": {"projects": [project], "event_types": ["Published"]}})
    assert created.status_code == 202, created.text
    sub = created.json()
    await wait_recorded(namespace.database_url, [sub["event_id"]])

    event = publish_event(project, "resnet", kind="model")
    emitter = emitter_for(cairn_env)
    try:
        await emitter.emit_async(event)
    finally:
        emitter.close()
    (got,) = await received(receiver, 1)
    assert got["path"] == "/hook" and got["answered"] == 204
    assert got["signature"] == "valid", got  # checked with the secret derived from the key
    assert got["body"]["subscription"] == sub["id"]
    assert got["body"]["ref"] == f"{project}/resnet@v1"
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(receiver.url + "/")
    assert page.status_code == 200 and f"{project}/resnet@v1" in page.text
    assert "Published" in page.text

    # `cairn subscriptions test`: the newest matching change, signed, sent now
    tested = cli(allowing, "subscriptions", "test", sub["id"])
    assert tested.returncode == 0, tested.stderr
    assert "204" in tested.stdout and "Published" in tested.stdout
    sample = (await received(receiver, 2))[0]
    assert sample["headers"]["x-cairn-test"] == "true" and sample["signature"] == "valid"
    assert sample["headers"]["x-cairn-delivery"].startswith("test-")
    assert sample["body"]["ref"] == got["body"]["ref"]  # what the notifier sent, as it sent it


async def test_a_test_delivery_to_a_failing_receiver_exits_1_and_says_why(
        allowing: Service, receiver: Service, namespace: Namespace) -> None:
    created = await post(allowing, "/v1/subscriptions",
                         {"team": "ops", "url": f"{receiver.url}/status/503",
                          "filter": {"projects": [f"none{time.time_ns()}"]}})
    assert created.status_code == 202, created.text
    sub = created.json()
    await wait_recorded(namespace.database_url, [sub["event_id"]])
    tested = cli(allowing, "subscriptions", "test", sub["id"], "--json")
    assert tested.returncode == 1, tested.stdout + tested.stderr
    answer = json.loads(tested.stdout)
    assert answer["status_code"] == 503 and answer["error"] == "answered HTTP 503"
    assert answer["event_type"] == "Test"  # nothing matches its filter: a plain test body
    assert answer["body"]["subscription"] == sub["id"]
    unknown = cli(allowing, "subscriptions", "test", "0190f0f0-0000-7000-8000-000000000000")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr


def test_the_receiver_flags_a_forged_signature_and_answers_asked_statuses(
        receiver: Service) -> None:
    forged = httpx.post(f"{receiver.url}/status/503", timeout=10, content=b'{"subscription":"x"}',
                        headers={"X-Cairn-Timestamp": str(int(time.time())),
                                 "X-Cairn-Signature": "sha256=00", "X-Cairn-Event": "Forged"})
    assert forged.status_code == 503
    newest = httpx.get(f"{receiver.url}/deliveries", timeout=10).json()[0]
    assert newest["path"] == "/status/503" and newest["signature"] == "invalid"
