"""Delivering one job: signed POSTs, the backoff schedule, retries, dead letters, refusals.

httpx's MockTransport is the receiver and tenacity's sleep is recorded instead of slept, so
the schedule is checked exactly and instantly. A real loopback receiver is in integration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from cairn.core.adapters.targets import Checked, Refused, check_address, origin
from cairn.core.domain import webhook_signing as signing
from cairn.notifier import jobs
from cairn.notifier.delivery import DEAD, DELIVERED, RETRYING, Attempt, Policy, deliver

from tests.unit.notifier_records import record, subscription

PUBLIC = "http://93.184.216.34/hook"  # an IP literal: resolving it needs no network


def job(**kw: object) -> jobs.Job:
    planned = jobs.plan([record()], [subscription(url=PUBLIC)], b"k")[0]
    return jobs.Job(**{**planned.__dict__, **kw})


async def run(handler: Callable[[httpx.Request], httpx.Response], policy: Policy,
              the_job: jobs.Job | None = None, allow_private: bool = False
              ) -> tuple[str, list[Attempt], list[float]]:
    reports: list[Attempt] = []
    sleeps: list[float] = []

    async def report(a: Attempt) -> None:
        reports.append(a)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def check(url: str) -> Checked:
        return await check_address(url, allow_private, setting="CAIRN_ALLOW_PRIVATE_WEBHOOKS")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        final = await deliver(http, the_job or job(), policy, report, check, sleep=sleep)
    return final, reports, sleeps


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert Policy(attempts=5, backoff=1.0, backoff_max=60).delays() == [1, 2, 4, 8]
    assert Policy(attempts=6, backoff=0.5, backoff_max=3).delays() == [0.5, 1, 2, 3, 3]
    assert Policy(attempts=1).delays() == []


async def test_a_2xx_answer_delivers_a_signed_body_at_once() -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    the_job = job()
    final, reports, sleeps = await run(ok, Policy())
    assert final == DELIVERED and sleeps == [] and len(seen) == 1
    request = seen[0]
    assert request.content == the_job.body
    assert request.headers["x-cairn-delivery"] == the_job.delivery_id
    assert signing.verify(the_job.secret, dict(request.headers), request.content,
                          now=int(request.headers["x-cairn-timestamp"]))
    assert [(a.number, a.state, a.status_code) for a in reports] == [(1, DELIVERED, 204)]


async def test_failures_are_retried_with_growing_delays_then_dead() -> None:
    final, reports, sleeps = await run(lambda r: httpx.Response(500),
                                       Policy(attempts=4, backoff=0.25, backoff_max=10))
    assert final == DEAD
    assert sleeps == [0.25, 0.5, 1.0]
    assert [(a.number, a.state, a.status_code) for a in reports] == [
        (1, RETRYING, 500), (2, RETRYING, 500), (3, RETRYING, 500), (4, DEAD, 500)]
    assert all(a.error == "answered HTTP 500" for a in reports)
    assert reports[0].next_attempt_at is not None and reports[-1].next_attempt_at is None


async def test_timeouts_and_unreachable_targets_count_as_failures() -> None:
    answers = iter(["timeout", "refused", "ok"])

    def flaky(request: httpx.Request) -> httpx.Response:
        what = next(answers)
        if what == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if what == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    final, reports, _ = await run(flaky, Policy(attempts=5, backoff=0))
    assert final == DELIVERED
    assert [a.error for a in reports] == ["timed out after 10s",
                                         "unreachable (ConnectError: connection refused)", None]


async def test_a_restarted_delivery_continues_its_attempt_count() -> None:
    final, reports, sleeps = await run(lambda r: httpx.Response(503),
                                       Policy(attempts=5, backoff=1), job(first_attempt=4))
    assert final == DEAD and [a.number for a in reports] == [4, 5] and sleeps == [1]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost/h",
                                 "http://10.1.2.3/h", "http://169.254.169.254/latest",
                                 "http://[::1]/h", "http://[::ffff:127.0.0.1]/h"])
async def test_private_targets_are_dead_at_once_unless_allowed(url: str) -> None:
    target = job(subscription=subscription(url=url))
    final, reports, sleeps = await run(lambda r: httpx.Response(200), Policy(), target)
    assert final == DEAD and sleeps == [] and len(reports) == 1
    assert reports[0].error and reports[0].error.startswith("refused: ")
    assert "CAIRN_ALLOW_PRIVATE_WEBHOOKS=true" in reports[0].error
    final, _, _ = await run(lambda r: httpx.Response(200), Policy(), target, allow_private=True)
    assert final == DELIVERED


async def test_target_checks_refuse_other_schemes_and_origin_hides_the_path() -> None:
    with pytest.raises(Refused):
        await check_address("ftp://93.184.216.34/x", True, setting="X")
    assert origin("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com"
    assert origin("http://[::1]:8080/x?token=1") == "http://[::1]:8080"


async def test_an_attempt_is_bounded_in_all_and_holds_a_shared_slot() -> None:
    """A receiver that never finishes answering costs one `timeout`, and no more than
    `slots` attempts are in flight at once, whichever targets they go to."""
    in_flight, most = 0, 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(5)
            return httpx.Response(200)
        finally:
            in_flight -= 1

    async def report(a: Attempt) -> None:
        reports.append(a)

    async def check(url: str) -> Checked:
        return Checked(url, "93.184.216.34", ("93.184.216.34",))

    reports: list[Attempt] = []
    policy, slots = Policy(attempts=1, timeout=0.1), asyncio.Semaphore(2)
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        finals = await asyncio.gather(*(deliver(http, job(delivery_id=str(n)), policy, report,
                                                check, slots=slots) for n in range(4)))
    assert finals == [DEAD] * 4 and most == 2
    assert {a.error for a in reports} == {"timed out after 0.1s"}
    assert time.perf_counter() - started < 1.0  # two rounds of 0.1 s, not 5 s
