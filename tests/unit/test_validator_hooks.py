"""HTTP hooks and entry-point plugins: answers, retries, timeouts, refused addresses.

httpx's MockTransport stands in for the receiver (no network): what is tested is what the
validator makes of each answer. A real loopback receiver is in tests/integration.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from cairn.validator import hooks
from cairn.validator.checks import Outcome
from cairn.validator.rules import Hook

STATE = {"digest": "ab" * 32, "content": {"project": "p", "name": "m"}}
PUBLIC = "http://93.184.216.34/hook"  # an IP literal: resolving it needs no network


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def call(handler: Callable[[httpx.Request], httpx.Response], url: str = PUBLIC,
               retries: int = 2, allow_private: bool = False) -> Outcome:
    async with client(handler) as http:
        return await hooks.call_hook(http, Hook("audit", url, 0.5, retries), STATE,
                                     allow_private=allow_private, backoff=0)


async def test_the_answer_becomes_the_verdict_and_the_state_is_posted() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"status": "warning", "reasons": ["bias: gap 4%"]})

    assert await call(handler) == Outcome("audit", "warning", ("bias: gap 4%",))
    assert seen == [STATE]


async def test_timeouts_and_server_errors_are_retried_then_fail() -> None:
    calls = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    assert await call(slow) == Outcome("audit", "failed",
                                       ("audit: timed out after 0.5s, 3 attempts",))
    assert len(calls) == 3
    answers = iter([503, 502, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        code = next(answers)
        return httpx.Response(code, json={"status": "passed", "reasons": []})

    assert (await call(flaky)).status == "passed"
    down = await call(lambda r: httpx.Response(500), retries=0)
    assert down.reasons == ("audit: answered HTTP 500 after 1 attempt",)


@pytest.mark.parametrize(("response", "words"), [
    (httpx.Response(404), "answered HTTP 404"),
    (httpx.Response(302, headers={"location": "http://10.0.0.1/"}), "answered HTTP 302"),
    (httpx.Response(200, text="ok"), "not JSON"),
    (httpx.Response(200, json={"status": "great"}), "not a verdict"),
    (httpx.Response(200, json={"status": "failed", "reasons": "one"}), "not a list"),
])
async def test_answers_that_are_not_verdicts_fail(response: httpx.Response, words: str) -> None:
    outcome = await call(lambda r: response)
    assert outcome.status == "failed" and words in outcome.reasons[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost/h",
                                 "http://10.1.2.3/h", "http://169.254.169.254/latest",
                                 "http://[::1]/h", "ftp://93.184.216.34/h"])
async def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    outcome = await call(lambda r: httpx.Response(200, json={"status": "passed"}), url)
    assert outcome.status == "failed" and outcome.reasons[0].startswith("audit: refused: ")
    if not url.startswith("ftp"):
        allowed = await call(lambda r: httpx.Response(200, json={"status": "passed"}), url,
                             allow_private=True)
        assert allowed.status == "passed"


def test_plugins_answer_with_a_pair_and_their_errors_are_verdicts() -> None:
    assert hooks.run_plugin("owner", lambda s: ("failed", ["owner: none"]), STATE) == \
        Outcome("owner", "failed", ("owner: none",))

    def broken(state: object) -> tuple[str, list[str]]:
        raise RuntimeError("boom")

    assert hooks.run_plugin("owner", broken, STATE).reasons == (
        "owner: raised RuntimeError: boom",)
    assert hooks.run_plugin("owner", ImportError("no module x"), STATE).status == "failed"
    assert hooks.installed_plugins("cairn.no-such-group") == []
