"""DNS rebinding cannot redirect a webhook or a hook: the request goes where the check looked.

Two real HTTP listeners on one port: A on 127.0.0.2 and B on 127.0.0.1. The target is
`http://localhost:<port>/hook`. The check's resolver answers 127.0.0.2 (A), while the system
resolver, which an unpinned client asks again when it connects, answers 127.0.0.1 for
localhost (B): a name whose answer changed between the check and the request. Pinned, A gets
the request and B nothing; the control (a plain httpx client, what Cairn used before) shows
that this machine's second lookup does reach B. Only loopback addresses receive traffic.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.targets import Checked, check_address
from cairn.notifier import jobs
from cairn.notifier.delivery import DELIVERED, Attempt, Policy, deliver
from cairn.validator import hooks
from cairn.validator.rules import Hook

from tests.unit.notifier_records import record, subscription

CHECKED, REBOUND = "127.0.0.2", "127.0.0.1"


@dataclass
class Listener:
    name: str
    hosts: list[str] = field(default_factory=list)  # the Host header of each request

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        fields = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        await reader.readexactly(int(fields.get("content-length", "0")))
        self.hosts.append(fields["host"])
        body = json.dumps({"status": "passed", "reasons": [self.name]}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


@pytest.fixture
async def listeners() -> AsyncIterator[tuple[int, Listener, Listener]]:
    a, b = Listener("A"), Listener("B")
    for _ in range(20):  # a port free on both addresses
        server_a = await asyncio.start_server(a.serve, CHECKED, 0)
        port = server_a.sockets[0].getsockname()[1]
        try:
            server_b = await asyncio.start_server(b.serve, REBOUND, port)
            break
        except OSError:
            server_a.close()
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    yield port, a, b
    for server in (server_a, server_b):
        server.close()
        await server.wait_closed()


async def rebinding(host: str, port: int) -> list[str]:
    """The check's resolver: the answer the name gave when it was checked."""
    return [CHECKED]


def the_system_sends_localhost_to_b() -> None:
    found = {info[4][0] for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
    assert REBOUND in found, f"localhost resolves to {found} here: the test needs 127.0.0.1"


async def test_a_webhook_goes_to_the_checked_address_not_the_second_answer(
        listeners: tuple[int, Listener, Listener]) -> None:
    port, a, b = listeners
    the_system_sends_localhost_to_b()
    url = f"http://localhost:{port}/hook"
    job = jobs.plan([record()], [subscription(url=url)], b"k")[0]
    reports: list[Attempt] = []

    async def report(attempt: Attempt) -> None:
        reports.append(attempt)

    async def check(target: str) -> Checked:
        return await check_address(target, True, setting="CAIRN_ALLOW_PRIVATE_WEBHOOKS",
                                   resolve=rebinding)

    async with pinned_client() as http:
        final = await deliver(http, job, Policy(attempts=1, timeout=5), report, check)
    assert final == DELIVERED, reports
    assert a.hosts == [f"localhost:{port}"] and b.hosts == []  # Host header kept

    async with httpx.AsyncClient() as plain:  # control: unpinned, the name is looked up again
        await deliver(plain, job, Policy(attempts=1, timeout=5), report, check)
    assert b.hosts == [f"localhost:{port}"]


async def test_a_hook_goes_to_the_checked_address_on_every_attempt(
        listeners: tuple[int, Listener, Listener]) -> None:
    port, a, b = listeners
    the_system_sends_localhost_to_b()
    hook = Hook("audit", f"http://localhost:{port}/hook", 5.0, 1)
    state = {"digest": "ab" * 32, "content": {"project": "p", "name": "m"}}
    async with pinned_client() as http:
        outcome = await hooks.call_hook(http, hook, state, allow_private=True,
                                        resolve=rebinding, backoff=0)
    assert outcome.reasons == ("A",) and len(a.hosts) == 1 and b.hosts == []

    async with httpx.AsyncClient() as plain:  # control
        outcome = await hooks.call_hook(plain, hook, state, allow_private=True,
                                        resolve=rebinding, backoff=0)
    assert outcome.reasons == ("B",)


async def test_a_pinned_client_connects_nowhere_unchecked(
        listeners: tuple[int, Listener, Listener]) -> None:
    port, a, b = listeners
    async with pinned_client() as http:
        with pytest.raises(httpx.ConnectError, match="not checked"):
            await http.post(f"http://localhost:{port}/hook", content=b"{}")
    assert a.hosts == [] and b.hosts == []
