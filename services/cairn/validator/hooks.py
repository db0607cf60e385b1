"""Custom checks: HTTP callbacks per project, and Python entry points (`cairn.validators`).

A hook gets the version state as JSON and answers {"status": "passed|failed|warning",
"reasons": [...]}. Whatever goes wrong with it (refused address, timeout after its retries,
an error status, an answer that is not a verdict) is itself a `failed` verdict with that
reason: a broken hook must be visible, and must never stall the pipeline.
Hook URLs resolving to private, loopback or link-local addresses are refused unless
CAIRN_ALLOW_PRIVATE_HOOKS is set: project rules are not a way into the internal network. The
name is resolved once, for the check, and every attempt connects to the addresses checked
(cairn.core.adapters.pinning), so a name whose DNS answer changes meanwhile cannot redirect
the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from cairn.core.adapters.pinning import pinned
from cairn.core.adapters.targets import Refused, Resolve, check_address, resolve_host
from cairn.core.domain.checks import VERDICT_STATUSES
from cairn.validator.checks import FAILED, Outcome
from cairn.validator.rules import BUILTIN, Hook

GROUP = "cairn.validators"
Plugin = Callable[[Mapping[str, Any]], tuple[str, Sequence[str]]]


class ServerError(RuntimeError):
    """A 5xx answer: worth another attempt, like a timeout."""


async def call_hook(http: httpx.AsyncClient, hook: Hook, state: Mapping[str, Any], *,
                    allow_private: bool, backoff: float = 0.5,
                    resolve: Resolve = resolve_host) -> Outcome:
    """The hook's verdict; `http` should come from cairn.core.adapters.pinning.pinned_client."""
    attempts = hook.retries + 1
    try:
        target = await check_address(hook.url, allow_private,
                                      setting="CAIRN_ALLOW_PRIVATE_HOOKS", resolve=resolve)
    except (Refused, OSError) as exc:
        return _failed(hook.name, f"refused: {exc}")
    try:
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts), reraise=True,
                wait=wait_exponential(multiplier=backoff, max=10),
                retry=retry_if_exception_type((httpx.TransportError, ServerError))):
            with attempt, pinned(target):
                reply = await http.post(hook.url, json=dict(state), timeout=hook.timeout_s,
                                        follow_redirects=False)
                if reply.status_code >= 500:
                    raise ServerError(f"answered HTTP {reply.status_code}")
    except httpx.TimeoutException:
        return _failed(hook.name, f"timed out after {hook.timeout_s:g}s, {attempts} attempt"
                                  f"{'s' * (attempts != 1)}")
    except (httpx.TransportError, ServerError) as exc:
        return _failed(hook.name, f"{_what(exc)} after {attempts} attempt"
                                  f"{'s' * (attempts != 1)}")
    if not 200 <= reply.status_code < 300:
        return _failed(hook.name, f"answered HTTP {reply.status_code}")
    try:
        answer = reply.json()
    except ValueError:
        return _failed(hook.name, "answered something that is not JSON")
    return as_outcome(hook.name, answer)


def _what(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ServerError) else f"unreachable ({type(exc).__name__})"


def as_outcome(name: str, answer: Any) -> Outcome:
    """A hook's or plugin's answer as an Outcome; anything else is a failed verdict."""
    if isinstance(answer, tuple | list) and len(answer) == 2:
        answer = {"status": answer[0], "reasons": answer[1]}
    if not isinstance(answer, dict) or answer.get("status") not in VERDICT_STATUSES:
        return _failed(name, "answered something that is not a verdict (want {\"status\": "
                             "\"passed|failed|warning\", \"reasons\": [...]})")
    reasons = answer.get("reasons") or []
    if not isinstance(reasons, list | tuple) or not all(isinstance(r, str) for r in reasons):
        return _failed(name, "answered reasons that are not a list of strings")
    return Outcome(name, answer["status"], tuple(reasons))


def _failed(name: str, why: str) -> Outcome:
    return Outcome(name, FAILED, (f"{name}: {why}",))


def installed_plugins(group: str = GROUP) -> list[tuple[str, Plugin | Exception]]:
    """Entry points in `group`, loaded once at start-up; a broken one is kept as its error."""
    out: list[tuple[str, Plugin | Exception]] = []
    for ep in entry_points(group=group):
        if ep.name in BUILTIN:  # would overwrite a built-in verdict: report it instead
            out.append((f"plugin-{ep.name}", ValueError("its name is a built-in check's")))
            continue
        try:
            out.append((ep.name, ep.load()))
        except Exception as exc:  # reported as that check's failed verdict
            out.append((ep.name, exc))
    return out


def run_plugin(name: str, plugin: Plugin | Exception, state: Mapping[str, Any]) -> Outcome:
    if isinstance(plugin, Exception):
        return _failed(name, f"could not be loaded: {plugin!r}")
    try:
        return as_outcome(name, plugin(state))
    except Exception as exc:  # a plugin's bug is its own failed verdict
        return _failed(name, f"raised {type(exc).__name__}: {exc}")
