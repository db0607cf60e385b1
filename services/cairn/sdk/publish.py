"""The steps of a publish: inputs checked, the api request body, the Kafka emit, the wait.

Everything a user can get wrong (names, kind, metadata, links, stage, paths) is checked by
cairn.core before a file is hashed or a byte is sent; then the event goes out, and the
SDK polls the api until the ledger recorded or rejected it.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
)

from cairn.core.adapters.settings import Settings
from cairn.core.domain.event_types import Published
from cairn.core.domain.events import new_event
from cairn.sdk.errors import CairnError
from cairn.sdk.http import Http

LONG_POLL_S = 5.0  # how long one status request may wait for the record
LinkArg: TypeAlias = Mapping[str, Any] | tuple[str, str] | Sequence[str]


@dataclass(frozen=True)
class PublishResult:
    event_id: str
    digest: str
    artifact: str
    ref: str | None = None  # project/name@vN once recorded
    version_number: int | None = None
    outcome: str = "pending"  # applied | duplicate (same content as an existing version)


def default_creator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def links(given: Sequence[LinkArg] | None) -> list[Mapping[str, Any]]:
    """Links as given: dicts ({"relation", "target"|"external"}) or (relation, target)
    pairs, as dicts for payloads.draft to check."""
    out: list[Mapping[str, Any]] = []
    for item in given or []:
        if isinstance(item, Mapping):
            out.append(item)
        else:
            relation, target = item
            out.append({"relation": relation, "target": target})
    return out


class StillPending(Exception):
    pass


def _last_outcome(state: RetryCallState) -> Any:
    """At the deadline: the last answer (pending), or the last error if there was one."""
    assert state.outcome is not None
    return state.outcome.result()  # re-raises the attempt's exception


def poll_interval(state: RetryCallState) -> float:
    """Ask again after a tenth of the time waited so far, between 10 ms and 1 s: a record
    that takes 40 ms is seen within a few ms of it, and a slow ledger is asked rarely."""
    return min(1.0, max(0.01, (state.seconds_since_start or 0.0) / 10))


def poll_event(fetch: Callable[[], dict[str, Any]], timeout: float,
               transient: Callable[[BaseException], bool]) -> dict[str, Any]:
    """Ask until the event is recorded or rejected; raise StillPending after `timeout`."""
    retrying = Retrying(
        retry=(retry_if_result(lambda s: s.get("status") == "pending")
               | retry_if_exception(transient)),
        stop=stop_after_delay(timeout),
        wait=poll_interval,
        retry_error_callback=_last_outcome,
    )
    status: dict[str, Any] = retrying(fetch)
    if status.get("status") == "pending":
        raise StillPending()
    return status


def wait_recorded(http: Http, event_id: str, timeout: float, *, long_poll: bool = False
                  ) -> dict[str, Any]:
    """GET /v1/events/{id} until recorded (its status) or rejected (CairnError). A publisher
    (`long_poll`) asks POST /v1/artifacts/batch/status to answer once it is recorded: one
    request, and the answer within a few ms of the record."""
    deadline = time.monotonic() + timeout

    def fetch() -> dict[str, Any]:
        try:
            if long_poll:
                wait_ms = int(max(0.0, min(LONG_POLL_S, deadline - time.monotonic())) * 1000)
                return dict(http.json("POST", "/v1/artifacts/batch/status", json={
                    "event_ids": [event_id], "wait_ms": wait_ms})[event_id])
            return dict(http.json("GET", f"/v1/events/{event_id}"))
        except CairnError as exc:
            if exc.status == 404:  # not visible yet
                return {"status": "pending"}
            raise

    try:
        status = poll_event(fetch, timeout, _transient)
    except StillPending:
        raise CairnError("not_recorded", f"event {event_id} was accepted but not recorded "
                         f"within {timeout:g}s; is the ledger running? Check later with "
                         f"GET /v1/events/{event_id}", detail={"event_id": event_id},
                         local=False) from None
    return settled(status, event_id)


def settled(status: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A recorded event's status; a rejected one raises CairnError with the ledger's why."""
    if status["status"] == "rejected":
        raise CairnError(status.get("reason") or "rejected", status.get("message") or
                         "the ledger rejected the event", detail={"event_id": event_id},
                         local=False)
    return status


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, CairnError) and (exc.status in (502, 503, 504)
                                            or exc.reason == "network_error")


def emit(emitter: Any, settings: Settings, body: Published, actor: str) -> str:
    """Transport "kafka": emit the Published event ourselves; returns its event_id."""
    from cairn.core.adapters.kafka import DeliveryFailed

    event = new_event(f"{body['project']}/{body['name']}", "Published", body, actor=actor,
                      tool="sdk")
    try:
        emitter.emit(event)
    except DeliveryFailed as exc:
        raise CairnError("kafka_unreachable", f"Kafka at {settings.kafka_bootstrap_servers} did "
                         f"not acknowledge the event ({exc}); check KAFKA_BOOTSTRAP_SERVERS or "
                         "use transport='http'", local=False) from exc
    except httpx.HTTPError as exc:  # the schema registry, asked for the schema id
        raise CairnError("registry_unreachable", f"the schema registry at "
                         f"{settings.schema_registry_url} did not answer ({exc}); check "
                         "SCHEMA_REGISTRY_URL or use transport='http'", local=False) from exc
    return str(event["event_id"])
