"""Delivering one job: signed POSTs, retried with exponential backoff, dead after N failures.

Every attempt is reported (through `report`, which the app turns into a DeliveryAttempt on
cairn.notifier.deliveries) with where the delivery stands after it: `retrying` (with when the
next attempt is due), `delivered` (a 2xx answer) or `dead`. Any other answer, a timeout or an
unreachable target is a failed attempt; a target that now resolves to a refused address is
dead at once, since retrying cannot help. The POST connects to the addresses the check saw
(cairn.core.adapters.pinning), never to a second answer of the name's DNS; redirects are not
followed:
they could lead to a private address the check never saw. An attempt holds one of the shared
connection `slots` and lasts at most `timeout` in all (httpx's own timeout bounds each phase,
so a receiver trickling bytes could hold it longer); backoff sleeps hold no slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from uuid6 import uuid7

from cairn.core.adapters.targets import Checked, Refused, origin
from cairn.core.adapters.webhook_post import post_signed
from cairn.core.domain.event_types import DeliveryAttempt
from cairn.core.domain.events import now_ms, source
from cairn.notifier.jobs import Job

DELIVERED, RETRYING, DEAD = "delivered", "retrying", "dead"
MAX_ERROR = 500


@dataclass(frozen=True)
class Policy:
    attempts: int = 5
    backoff: float = 1.0  # seconds before the second attempt; doubled for each further one
    backoff_max: float = 60.0
    timeout: float = 10.0

    def wait(self) -> wait_exponential:
        return wait_exponential(multiplier=self.backoff, max=self.backoff_max)

    def delays(self) -> list[float]:
        """The pauses between attempts 1→2, 2→3, …: what tenacity will sleep."""
        wait = self.wait()
        return [wait(_state(n)) for n in range(1, self.attempts)]


def _state(attempt_number: int) -> RetryCallState:
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempt_number
    return state


@dataclass(frozen=True)
class Attempt:
    """One attempt's report: the job, its number, what came back, where the delivery stands."""

    job: Job
    number: int
    status_code: int | None
    error: str | None
    duration_ms: float
    attempted_at: int  # epoch ms
    state: str
    next_attempt_at: int | None = None


def report_event(a: Attempt) -> DeliveryAttempt:
    """An attempt as a DeliveryAttempt record (Avro, cairn.notifier.deliveries)."""
    job = a.job
    return {
        "event_id": str(uuid7()), "occurred_at": a.attempted_at, "actor": "notifier",
        "source": source("notifier"),
        "artifact": job.artifact, "schema_version": 1, "subscription": job.subscription.id,
        "team": job.subscription.team, "delivery_id": job.delivery_id, "seq": job.seq,
        "event_type": job.event_type, "target": origin(job.subscription.url),
        "attempt": a.number, "status_code": a.status_code, "error": a.error,
        "duration_ms": a.duration_ms, "state": a.state, "next_attempt_at": a.next_attempt_at,
    }


class Failed(Exception):
    """An attempt that did not get a 2xx; retried."""

    def __init__(self, status_code: int | None, error: str, started: int, duration_ms: float):
        super().__init__(error)
        self.status_code, self.error = status_code, error
        self.started, self.duration_ms = started, duration_ms


class Unrecoverable(Failed):
    """An attempt that cannot succeed by retrying (a refused target); dead at once."""


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, Failed) and not isinstance(exc, Unrecoverable)


Report = Callable[[Attempt], Awaitable[None]]
# the target with the addresses to connect to; raises Refused or OSError
CheckTarget = Callable[[str], Awaitable[Checked]]


async def post_once(http: httpx.AsyncClient, job: Job, policy: Policy,
                    check_target: CheckTarget, slots: asyncio.Semaphore | None = None
                    ) -> tuple[int, int, float]:
    """(status, started ms, duration ms) of a 2xx answer, else Failed / Unrecoverable."""
    async with slots or contextlib.nullcontext():
        return await _post(http, job, policy, check_target)


async def _post(http: httpx.AsyncClient, job: Job, policy: Policy,
                check_target: CheckTarget) -> tuple[int, int, float]:
    started, t0 = now_ms(), time.perf_counter()

    def failed(cls: type[Failed], status: int | None, error: str) -> Failed:
        return cls(status, error[:MAX_ERROR], started, (time.perf_counter() - t0) * 1000)

    try:
        async with asyncio.timeout(policy.timeout):  # name resolution, in a thread
            target = await check_target(job.subscription.url)
    except Refused as exc:
        raise failed(Unrecoverable, None, f"refused: {exc}") from None
    except TimeoutError:
        raise failed(Failed, None, f"resolving timed out after {policy.timeout:g}s") from None
    except OSError as exc:
        raise failed(Failed, None, f"unresolvable target ({exc})") from None
    try:
        reply = await post_signed(http, target, secret=job.secret, delivery=job.delivery_id,
                                  event_type=job.event_type, body=job.body,
                                  seconds=policy.timeout)
    except (httpx.TimeoutException, TimeoutError):
        raise failed(Failed, None, f"timed out after {policy.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise failed(Failed, None, f"unreachable ({type(exc).__name__}: {exc})") from None
    if not 200 <= reply.status_code < 300:
        raise failed(Failed, reply.status_code, f"answered HTTP {reply.status_code}")
    return reply.status_code, started, (time.perf_counter() - t0) * 1000


async def deliver(http: httpx.AsyncClient, job: Job, policy: Policy, report: Report,
                  check_target: CheckTarget,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                  slots: asyncio.Semaphore | None = None) -> str:
    """Try until delivered or dead; report every attempt; return the final state."""
    first = job.first_attempt
    remaining = max(1, policy.attempts - first + 1)

    async def retrying(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, Failed)
        pause = state.next_action.sleep if state.next_action else 0.0
        await report(Attempt(job, first + state.attempt_number - 1, exc.status_code, exc.error,
                             exc.duration_ms, exc.started, RETRYING,
                             now_ms() + int(pause * 1000)))

    number = first
    try:
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(remaining), wait=policy.wait(), reraise=True,
                retry=retry_if_exception(_worth_retrying),
                before_sleep=retrying, sleep=sleep):
            with attempt:
                number = first + attempt.retry_state.attempt_number - 1
                status, started, duration = await post_once(http, job, policy, check_target,
                                                             slots)
    except Failed as exc:
        await report(Attempt(job, number, exc.status_code, exc.error, exc.duration_ms,
                             exc.started, DEAD))
        return DEAD
    await report(Attempt(job, number, status, None, duration, started, DELIVERED))
    return DELIVERED
