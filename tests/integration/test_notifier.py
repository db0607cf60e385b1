"""Notifications on the real stack: subscriptions through the api, changes through the ledger,
signed webhooks from the notifier to receivers on loopback, and the delivery log back through
the api and the `cairn` CLI.

The api and the notifier here allow loopback targets (CAIRN_ALLOW_PRIVATE_WEBHOOKS=true) and
share the master key, so the secret the api returns verifies what the notifier signs. The
notifier retries quickly: 4 attempts, 0.4 s doubling (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_TOKEN, WEBHOOK_KEY, WEBHOOK_RETRIES, Namespace, api_env
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
BOB_TOKEN = "bob-token"
ATTEMPTS = int(WEBHOOK_RETRIES["CAIRN_WEBHOOK_ATTEMPTS"])


@dataclass(frozen=True)
class Hit:
    at: float  # monotonic seconds
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int


class Receiver:
    """Webhook receivers on loopback: each path answers its planned statuses in turn (the
    last one repeats), after its delay if it has one, and remembers every request (when it
    came in)."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.plans: dict[str, list[int]] = {}
        self.delays: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    plan = receiver.plans.get(self.path, [200])
                    done = sum(1 for h in receiver.hits if h.path == self.path)
                    status = plan[min(done, len(plan) - 1)]
                    receiver.hits.append(Hit(time.monotonic(), self.path,
                                             {k.lower(): v for k, v in self.headers.items()},
                                             body, status))
                time.sleep(receiver.delays.get(self.path, 0.0))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the notifier gave up waiting (a hanging receiver)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self, path: str, *statuses: int, delay: float = 0.0) -> str:
        if statuses:
            self.plans[path] = list(statuses)
        if delay:
            self.delays[path] = delay
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def wait(self, path: str, n: int, timeout: float = 30.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.at(path)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()


@pytest.fixture(scope="module")
def hooks_api(cairn_env: dict[str, str], ledger: Service, notifier: Service,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """An api that accepts loopback webhooks and signs with the notifier's key; alice and bob
    may write."""
    env = api_env(cairn_env, CAIRN_ALLOW_PRIVATE_WEBHOOKS="true", CAIRN_WEBHOOK_KEY=WEBHOOK_KEY,
                  CAIRN_API_TOKENS=f"alice={API_TOKEN},bob={BOB_TOKEN}")
    service = Service("api", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


def call(api: Service, method: str, path: str, token: str | None = API_TOKEN,
         **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{api.url}{path}", headers=headers, timeout=30, **kwargs)


async def subscribe(api: Service, namespace: Namespace, **body: Any) -> dict[str, Any]:
    """Create a subscription and wait until the ledger recorded it."""
    reply = call(api, "POST", "/v1/subscriptions", json=body)
    assert reply.status_code == 202, reply.text
    created = reply.json()
    got = await wait_recorded(namespace.database_url, [created["event_id"]])
    assert got[created["event_id"]]["outcome"] == "applied"
    return dict(created)


async def publish(cairn_env: dict[str, str], namespace: Namespace, project: str,
                  name: str = "resnet") -> int:
    """Publish a version straight to Kafka; its changelog seq once recorded."""
    event = publish_event(project, name, kind="model")
    emitter = emitter_for(cairn_env)
    try:
        await emitter.emit_async(event)
    finally:
        emitter.close()
    got = await wait_recorded(namespace.database_url, [event["event_id"]])
    return int(got[event["event_id"]]["seq"])


def deliveries(api: Service, sub_id: str, n: int, timeout: float = 30.0, **params: Any
               ) -> list[dict[str, Any]]:
    """The delivery log once it has n attempts (the ledger records them asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = call(api, "GET", f"/v1/subscriptions/{sub_id}/deliveries", params=params)
        assert reply.status_code == 200, reply.text
        rows: list[dict[str, Any]] = reply.json()["deliveries"]
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


async def test_a_verdict_subscription_hears_the_validators_one_judgement_per_version(
        hooks_api: Service, validator: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    """A subscription to "Verdict" (made when the validator sent one Verdict per check) still
    fires for the VerdictSet it sends now: once per judged version, with every check."""
    p = f"val-{uuid.uuid4().hex[:8]}"  # a project the test validator judges
    await subscribe(hooks_api, namespace, team="qa", url=receiver.url("/verdicts"),
                    filter={"projects": [p], "event_types": ["Verdict"]})
    await publish(cairn_env, namespace, p)
    hits = receiver.wait("/verdicts", 1, timeout=60)
    assert hits, "no verdict notification within a minute"
    await asyncio.sleep(2)  # a judgement sent as one event per check would be more hits by now
    bodies = [json.loads(h.body) for h in receiver.at("/verdicts")]
    assert [b["event_type"] for b in bodies] == ["VerdictSet"], bodies
    checks = {c["check"] for c in bodies[0]["change"]["checks"]}
    assert {"schema", "naming", "required", "license", "files", "lineage",
            "completeness"} <= checks
    assert bodies[0]["state"]["validation"] in ("valid", "invalid")


def cairn(api: Service, *args: str, token: str = API_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": token}
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=120)


def project() -> str:
    return f"notif-{uuid.uuid4().hex[:8]}"


async def test_a_team_gets_a_signed_notification_and_another_team_nothing(
        hooks_api: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    mine, theirs = project(), project()
    ours = await subscribe(hooks_api, namespace, team="ml-ops", url=receiver.url("/ops"),
                           filter={"projects": [mine], "event_types": ["Published"]},
                           description="new models of our project")
    other = await subscribe(hooks_api, namespace, team="other", url=receiver.url("/other"),
                            filter={"projects": [theirs]})

    started = time.monotonic()
    seq = await publish(cairn_env, namespace, mine)
    hits = receiver.wait("/ops", 1, timeout=60)
    assert len(hits) == 1, "the team's receiver got nothing within a minute"
    # Not a speed test (scripts/bench measures speed): the bound only rules out a delivery
    # that waited for a retry or a restart instead of going out with the event.
    print(f"delivered {hits[0].at - started:.1f}s after the publish")
    assert hits[0].at - started < 45, f"took {hits[0].at - started:.1f}s"

    hit = hits[0]
    # Verified the way a receiver would, with the secret the api returned at creation.
    timestamp = hit.headers["x-cairn-timestamp"]
    expected = hmac.new(ours["secret"].encode(), f"{timestamp}.".encode() + hit.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-cairn-signature"], f"sha256={expected}")
    assert abs(time.time() - int(timestamp)) < 60
    assert hit.headers["x-cairn-delivery"] == hashlib.sha256(
        f"{ours['id']}:{seq}".encode()).hexdigest()[:32]
    body = json.loads(hit.body)
    assert body["event_type"] == "Published" and body["artifact"] == f"{mine}/resnet"
    assert body["ref"] == f"{mine}/resnet@v1" and body["seq"] == seq
    assert body["team"] == "ml-ops" and body["subscription"] == ours["id"]
    assert body["state"]["kind"] == "model" and body["actor"] == "tester"

    logged = deliveries(hooks_api, ours["id"], 1)
    assert [(d["state"], d["attempt"], d["status_code"], d["seq"]) for d in logged] == [
        ("delivered", 1, 200, seq)]
    assert logged[0]["target"] == receiver.url("").rstrip("/")  # the origin, never the path
    await asyncio.sleep(1.0)  # the other team's filter does not match: nothing may arrive
    assert receiver.at("/other") == []
    assert deliveries(hooks_api, other["id"], 0) == []


async def test_a_failing_receiver_is_retried_with_growing_delays_then_dead(
        hooks_api: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    p = project()
    sub = await subscribe(hooks_api, namespace, team="flaky", url=receiver.url("/fail", 500),
                          filter={"projects": [p]}, format="slack")
    seq = await publish(cairn_env, namespace, p)
    hits = receiver.wait("/fail", ATTEMPTS, timeout=30)
    assert len(hits) == ATTEMPTS
    gaps = [b.at - a.at for a, b in zip(hits, hits[1:], strict=False)]
    assert gaps[0] >= 0.3, gaps
    assert all(later > 1.5 * earlier for earlier, later in zip(gaps, gaps[1:], strict=False)), \
        gaps
    assert len({h.headers["x-cairn-delivery"] for h in hits}) == 1  # one delivery, retried
    slack = json.loads(hits[0].body)
    assert slack["text"] == f"[flaky] {p}/resnet: published v1 (model) by tester"
    assert slack["blocks"][0]["type"] == "section"

    logged = deliveries(hooks_api, sub["id"], ATTEMPTS)
    assert [(d["attempt"], d["state"]) for d in logged] == [
        (4, "dead"), (3, "retrying"), (2, "retrying"), (1, "retrying")]  # newest first
    assert all(d["status_code"] == 500 and d["error"] == "answered HTTP 500" and
               d["seq"] == seq for d in logged)
    assert logged[1]["next_attempt_at"] is not None and logged[0]["next_attempt_at"] is None
    await asyncio.sleep(3)  # dead is final: no further attempt
    assert len(receiver.at("/fail")) == ATTEMPTS

    first = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}/deliveries",
                 params={"limit": 3}).json()
    rest = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}/deliveries",
                params={"limit": 3, "cursor": first["next"]}).json()
    assert [d["attempt"] for d in first["deliveries"] + rest["deliveries"]] == [4, 3, 2, 1]
    assert rest["next"] is None
    dead = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}/deliveries",
                params={"state": "dead"}).json()["deliveries"]
    assert [d["attempt"] for d in dead] == [4]
    detail = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}").json()
    assert detail["deliveries"] == {"dead": 1}

    shown = cairn(hooks_api, "subscriptions", "deliveries", sub["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert [d["state"] for d in json.loads(shown.stdout)["deliveries"]][0] == "dead"
    table = cairn(hooks_api, "subscriptions", "deliveries", sub["id"], "--state", "dead")
    assert table.returncode == 0 and "dead" in table.stdout and "500" in table.stdout


def test_subscriptions_are_checked_listed_shown_to_their_owner_and_removed(
        hooks_api: Service, receiver: Receiver, namespace: Namespace) -> None:
    bad = call(hooks_api, "POST", "/v1/subscriptions",
               json={"team": "t", "url": receiver.url("/x"), "filter": {"colour": ["red"]}})
    assert bad.status_code == 400 and bad.json()["error"]["reason"] == "invalid_filter"
    bad = call(hooks_api, "POST", "/v1/subscriptions",
               json={"team": "t", "url": receiver.url("/x"), "format": "xml"})
    assert bad.json()["error"]["reason"] == "invalid_format"
    missing = call(hooks_api, "POST", "/v1/subscriptions", json={"url": receiver.url("/x")})
    assert missing.status_code == 422 and missing.json()["error"]["reason"] == "invalid_request"
    anonymous = call(hooks_api, "POST", "/v1/subscriptions", token=None,
                     json={"team": "t", "url": receiver.url("/x")})
    assert anonymous.status_code == 401

    team = f"team-{uuid.uuid4().hex[:6]}"
    added = cairn(hooks_api, "subscriptions", "add", team, receiver.url("/cli/secret-path"),
                  "--project", "vision", "--event-type", "StageChanged", "--json")
    assert added.returncode == 0, added.stderr
    sub = json.loads(added.stdout)
    assert sub["status"] == "recorded" and len(sub["secret"]) == 64

    listed = json.loads(cairn(hooks_api, "subscriptions", "list", "--team", team,
                              "--json").stdout)
    assert [(s["id"], s["owner"], s["filter"]["event_types"]) for s in listed] == [
        (sub["id"], "alice", ["StageChanged"])]
    assert listed[0]["url"].endswith("/cli/secret-path")  # the owner sees it whole
    as_bob = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}", token=BOB_TOKEN).json()
    assert "secret-path" not in as_bob["url"]
    assert call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}/secret",
                token=BOB_TOKEN).status_code == 403
    again = call(hooks_api, "GET", f"/v1/subscriptions/{sub['id']}/secret").json()
    assert again["secret"] == sub["secret"]

    table = cairn(hooks_api, "subscriptions", "list", "--team", team)
    assert table.returncode == 0 and sub["id"] in table.stdout
    removed = cairn(hooks_api, "subscriptions", "rm", sub["id"])
    assert removed.returncode == 0, removed.stderr
    assert json.loads(cairn(hooks_api, "subscriptions", "list", "--team", team,
                            "--json").stdout) == []
    gone = cairn(hooks_api, "subscriptions", "rm", sub["id"])
    assert gone.returncode == 1 and "[not_found]" in gone.stderr
    unknown = cairn(hooks_api, "subscriptions", "show", "no-such-id")
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


async def test_a_notifier_killed_mid_delivery_finishes_it_after_a_restart(
        hooks_api: Service, notifier: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    p = project()
    sub = await subscribe(hooks_api, namespace, team="steady",
                          url=receiver.url("/later", 503, 503, 200), filter={"projects": [p]})
    await publish(cairn_env, namespace, p)
    assert len(receiver.wait("/later", 1, timeout=20)) >= 1
    notifier.kill()  # mid-backoff: the batch's offsets were not committed
    notifier.start()
    hits = receiver.wait("/later", 3, timeout=60)
    assert [h.status for h in hits][-1] == 200
    assert len({h.headers["x-cairn-delivery"] for h in hits}) == 1
    logged = deliveries(hooks_api, sub["id"], 3)
    assert logged[0]["state"] == "delivered"
    await asyncio.sleep(2)
    assert [h.status for h in receiver.at("/later")].count(200) == 1  # delivered once


def seqs_of(hits: list[Hit]) -> list[int]:
    return [int(json.loads(h.body)["seq"]) for h in hits]


def by_delivery(hits: list[Hit]) -> dict[str, list[Hit]]:
    out: dict[str, list[Hit]] = {}
    for hit in hits:
        out.setdefault(hit.headers["x-cairn-delivery"], []).append(hit)
    return out


async def test_a_hanging_receiver_delays_no_other_teams_notifications(
        hooks_api: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    """Both teams want the same changes; A's receiver never answers in time (each attempt
    times out after CAIRN_WEBHOOK_TIMEOUT=2 s, so a delivery takes ~11 s to end dead)."""
    p = project()
    a = await subscribe(hooks_api, namespace, team="hangs", url=receiver.url("/hang", delay=4),
                        filter={"projects": [p]})
    b = await subscribe(hooks_api, namespace, team="healthy", url=receiver.url("/healthy"),
                        filter={"projects": [p]})
    sent: dict[int, float] = {}
    for _ in range(3):
        started = time.monotonic()
        sent[await publish(cairn_env, namespace, p)] = started  # v1, v2, v3 of one model

    healthy = receiver.wait("/healthy", 3, timeout=30)
    latencies = [h.at - sent[s] for h, s in zip(healthy, seqs_of(healthy), strict=True)]
    # Not a speed test: the bound rules out a notification that waited behind A's retries.
    print("B's latencies:", ", ".join(f"{t:.2f}s" for t in latencies))
    assert len(healthy) == 3 and max(latencies) < 30, latencies
    assert seqs_of(healthy) == sorted(sent)  # in the order the model changed
    hanging = receiver.at("/hang")
    assert len(hanging) < ATTEMPTS, "B waited until A's first delivery was dead"

    dead = deliveries(hooks_api, a["id"], 3, timeout=90, state="dead")
    assert sorted(d["seq"] for d in dead) == sorted(sent)
    assert all(d["attempt"] == ATTEMPTS and d["error"] == "timed out after 2s" for d in dead)
    hanging = receiver.at("/hang")
    assert len(hanging) == 3 * ATTEMPTS
    # One target's deliveries go out one at a time, in changelog order: all of a delivery's
    # attempts come before the next delivery's first.
    assert seqs_of(hanging) == [s for s in sorted(sent) for _ in range(ATTEMPTS)]
    logged = deliveries(hooks_api, b["id"], 3)
    assert sorted((d["seq"], d["state"], d["attempt"]) for d in logged) == [
        (s, "delivered", 1) for s in sorted(sent)]


async def test_a_notifier_killed_mid_retry_loses_nothing_and_repeats_no_delivered_one(
        hooks_api: Service, notifier: Service, receiver: Receiver, cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    """A answers 500 slowly, B at once. Killed while A retries, the notifier had committed
    no offset past A's unfinished deliveries, so after the restart it replays them and, from
    the delivery log, skips what B already got."""
    p = project()
    a = await subscribe(hooks_api, namespace, team="broken",
                        url=receiver.url("/broken", 500, delay=1), filter={"projects": [p]})
    b = await subscribe(hooks_api, namespace, team="fine", url=receiver.url("/fine"),
                        filter={"projects": [p]})
    seqs = [await publish(cairn_env, namespace, p) for _ in range(3)]  # one model's versions
    assert len(receiver.wait("/fine", 3, timeout=30)) == 3
    assert deliveries(hooks_api, b["id"], 3)  # B's reports reached the log
    assert 1 <= len(receiver.at("/broken")) < 3 * ATTEMPTS  # A is mid-retry

    notifier.kill()
    seqs.append(await publish(cairn_env, namespace, p))  # while the notifier is down
    notifier.start()

    fine = receiver.wait("/fine", 4, timeout=60)
    dead = deliveries(hooks_api, a["id"], 4, timeout=120, state="dead")
    assert sorted(d["seq"] for d in dead) == sorted(seqs)  # none of A's lost
    assert all(d["attempt"] == ATTEMPTS for d in dead)  # the attempt count went on
    await asyncio.sleep(2)
    fine = receiver.at("/fine")
    assert sorted(seqs_of(fine)) == sorted(seqs)  # none of B's lost, none repeated
    assert all(len(hits) == 1 for hits in by_delivery(fine).values())
    # A's interrupted attempt may be made again (it was never reported), nothing more.
    broken = by_delivery(receiver.at("/broken"))
    assert len(broken) == 4 and all(ATTEMPTS <= len(h) <= ATTEMPTS + 1
                                    for h in broken.values())
    assert seqs_of(receiver.at("/broken")) == sorted(seqs_of(receiver.at("/broken")))
    assert seqs_of(fine) == sorted(seqs)
