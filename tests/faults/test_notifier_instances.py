"""No webhook lost: a second notifier joins, then the first is killed -9, both while
deliveries retry.

A ledger records a steady stream; two subscriptions want every change of its project and
point at a receiver on loopback that remembers every request. One notifier runs; while the
receiver answers 503 for DOWN_S seconds (each lane's delivery retrying), a second joins the
group and takes part of the changelog's partitions: the first forgets the revoked records
(it never acknowledges them) while its lanes finish what they hold, and the second replays
them, going on from the attempt count the delivery log shows. Once both deliver, the
receiver answers 503 again and the first is killed -9 mid-retry: its session times out
(10 s), the second takes every partition and replays what was never acknowledged. The stream
goes on throughout.

The invariant: every delivery owed (one per recorded change per subscription) answered 2xx at
least once, and after deduplication by X-Cairn-Delivery the set of deliveries is exactly the
set owed, every one in the delivery log as delivered. A delivery may come twice, only under
its one id: at the join (the old owner's lane and the new owner both had it) or at the kill
(answered, and the report not yet in the delivery log).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.events import new_config_event
from cairn.core.domain.subscriptions import check_subscription

from tests.conftest import Namespace
from tests.e2e.faults import private_env, reach, recorded, until
from tests.faults.steady import SteadyStream
from tests.integration.test_several_instances import metric
from tests.ledger_helpers import emitter_for, wait_recorded
from tests.processes import Service

pytestmark = pytest.mark.faults

# Quick retries, enough of them to outlast the outage and the rebalance (about 25 s in all).
RETRIES = {"CAIRN_ALLOW_PRIVATE_WEBHOOKS": "true", "CAIRN_WEBHOOK_ATTEMPTS": "15",
           "CAIRN_WEBHOOK_BACKOFF": "0.4", "CAIRN_WEBHOOK_BACKOFF_MAX": "2",
           "CAIRN_WEBHOOK_TIMEOUT": "2"}
DOWN_S = 5  # the receiver answers 503 this long, twice: a notifier joins, then one leaves
AFTER_S = 15  # the stream goes on this long after the kill (> the 10 s session)
EVERY_S = 2.0  # an emit of 10 events this often: 10 deliveries/s, as many as one notifier
# sends at load ~40 on 2 cores (one delivery at a time per subscription)


class Receiver:
    """A webhook receiver on loopback: every request remembered as (path, delivery id, seq,
    status); while `down`, it answers 503."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str, int, int]] = []
        self.down = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 503 if receiver.down else 200
                with receiver.lock:
                    receiver.hits.append((self.path, self.headers["X-Cairn-Delivery"],
                                          int(json.loads(body)["seq"]), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def delivered(self) -> Counter[tuple[str, str, int]]:
        """(path, delivery id, seq) → how many times it was answered 2xx."""
        with self.lock:
            return Counter((p, d, s) for p, d, s, status in self.hits if status == 200)


async def arrived(receiver: Receiver, count: int) -> bool:
    return len(receiver.delivered()) >= count


@asynccontextmanager
async def outage(receiver: Receiver) -> AsyncIterator[None]:
    """The receiver answers 503 for DOWN_S seconds from entering (the body's time included)."""
    receiver.down = True
    started = time.monotonic()
    try:
        yield
        await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
    finally:
        receiver.down = False


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()


async def subscribe(env: dict[str, str], database_url: str, url: str, project: str) -> str:
    """A subscription to every change of `project`, as the api makes it; its id once the
    ledger recorded it."""
    sub_id = str(uuid.uuid4())
    event = new_config_event("subscription", sub_id, check_subscription(
        {"team": "watchers", "url": url, "filter": {"projects": [project]}}),
        actor="tester", tool="test")
    emitter = emitter_for(env)
    try:
        await emitter.emit_config_async(event)
    finally:
        emitter.close()
    got = await wait_recorded(database_url, [event["event_id"]])
    assert got[event["event_id"]]["outcome"] == "applied"
    return sub_id


async def owed(database_url: str, project: str, paths: dict[str, str]
               ) -> set[tuple[str, str, int]]:
    """(path, delivery id, seq) of every delivery the project's recorded changes owe."""
    conn = await asyncpg.connect(database_url)
    try:
        seqs = [r["seq"] for r in await conn.fetch(
            "SELECT seq FROM event_log WHERE artifact LIKE $1 || '/%'", project)]
    finally:
        await conn.close()
    return {(path, signing.delivery_id(sub, seq), seq) for path, sub in paths.items()
            for seq in seqs}


async def logged_delivered(database_url: str, subs: list[str]) -> set[str]:
    """The delivery ids the delivery log shows delivered."""
    conn = await asyncpg.connect(database_url)
    try:
        return {r["delivery_id"] for r in await conn.fetch(
            "SELECT delivery_id FROM deliveries WHERE subscription = ANY($1::text[])"
            " AND state = 'delivered'", subs)}
    finally:
        await conn.close()


async def test_a_notifier_joining_then_one_killed_mid_retry_lose_no_webhook(
    own_database: str, cairn_env: dict[str, str], namespace: Namespace, tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "nt", DATABASE_URL=own_database)
    with ExitStack() as stack:
        receiver = stack.enter_context(receiving())
        ledger = Service("ledger", env, tmp_path).start()
        stack.callback(ledger.stop)
        paths = {path: await subscribe(env, own_database, receiver.url(path), project)
                 for path in ("/a", "/b")}
        notifiers = []
        for n in (1, 2):
            (tmp_path / f"notifier{n}").mkdir()
            notifiers.append(Service("notifier", {**env, **RETRIES}, tmp_path / f"notifier{n}"))
            stack.callback(notifiers[-1].stop)
        notifiers[0].start()
        stream = SteadyStream(env, project, every=EVERY_S).start()
        stack.callback(stream.stop)
        await until(lambda: arrived(receiver, 20), 120, "a first few webhooks")

        async with outage(receiver):  # one joins while the other's lanes retry
            joining = asyncio.create_task(asyncio.to_thread(notifiers[1].start))
        await joining

        async def both_delivered() -> bool:  # the second took its share of the partitions
            return all(metric(n, "cairn_notifier_deliveries_total") > 0 for n in notifiers)

        await until(both_delivered, 120, "deliveries by both notifiers")
        owed_then = 2 * await recorded(own_database, project)
        behind = owed_then - len(receiver.delivered())
        async with outage(receiver):
            await asyncio.sleep(DOWN_S / 2)
            notifiers[0].kill()  # one leaves mid-retry: its lanes unfinished, nothing committed
            killed_at = time.monotonic()
        await asyncio.sleep(AFTER_S)
        sent = stream.stop()
        stopped_at = time.monotonic()

        await reach(own_database, project, sent, 240)
        expected = await owed(own_database, project, paths)
        assert len(expected) == 2 * sent

        async def all_arrived() -> bool:
            return set(receiver.delivered()) >= expected

        await until(all_arrived, 240, f"{len(expected)} webhooks delivered")
        arrived_after = time.monotonic() - stopped_at
        ids = {d for _, d, _ in expected}

        async def all_logged() -> bool:
            return await logged_delivered(own_database, list(paths.values())) >= ids

        await until(all_logged, 120, "every delivery in the delivery log")
        logged_after = time.monotonic() - stopped_at
        await asyncio.sleep(3)  # a stray or late delivery would show up now
        delivered = receiver.delivered()
        assert set(delivered) == expected  # none lost, none under another id, none extra
        repeated = sum(n - 1 for n in delivered.values())
        with receiver.lock:
            refused = sum(1 for hit in receiver.hits if hit[3] != 200)
        print("FIGURES " + json.dumps({
            "fault": f"a second notifier joins and the first is killed -9, each while the "
                     f"receiver answers 503 for {DOWN_S} s", "sent": sent, "owed": len(expected),
            "delivered": len(delivered), "lost": len(expected - set(delivered)),
            "arrived_twice": sum(1 for n in delivered.values() if n > 1),
            "repeated": repeated, "answered_503": refused,
            "behind_before_kill": behind, "stream_after_kill_s": round(stopped_at - killed_at, 1),
            "delivered_s": round(arrived_after, 1), "logged_s": round(logged_after, 1)}))
