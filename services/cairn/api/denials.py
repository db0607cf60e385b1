"""Refused requests (401, 403, and 404 where a private project was answered as missing:
reason `hidden`) recorded through the ledger: a `denial` ConfigEvent that the
ledger chains into event_log as an `AccessDenied` entry (and keeps no item for), so
`GET /v1/audit?action=AccessDenied` shows who was turned away from what.

Recording never delays or fails the refusal: the event is queued without waiting for Kafka,
and at most RATE per second (bursts of BURST) are recorded per api process, so a flood of
bad requests cannot flood the ledger; the rest are counted in a metric and logged.
"""

from __future__ import annotations

import time
import uuid

import structlog
from fastapi import Request
from prometheus_client import Counter

from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.access import Decision, Principal
from cairn.core.domain.events import new_config_event

log = structlog.get_logger("api")
RECORDED = Counter("cairn_api_denials_recorded_total", "Refused requests recorded", ["status"])
UNRECORDED = Counter("cairn_api_denials_unrecorded_total",
                     "Refused requests over the recording rate, or lost")
RATE, BURST = 20.0, 200.0
MAX_PATH = 500


class Bucket:
    """A token bucket: `take()` is True while the rate allows one more."""

    def __init__(self, rate: float = RATE, burst: float = BURST) -> None:
        self.rate, self.burst = rate, burst
        self.level, self.at = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level < 1:
            return False
        self.level -= 1
        return True


def _route(request: Request) -> str | None:
    route = request.scope.get("route")
    return getattr(route, "path", None)


def record(request: Request, principal: Principal, decision: Decision,
           project: str | None) -> None:
    """Queue the denial's event; never raises."""
    bucket: Bucket = request.app.state.denial_bucket
    if not bucket.take():
        UNRECORDED.inc()
        log.warning("denial not recorded (rate)", actor=principal.name, path=request.url.path)
        return
    try:
        emitter: Emitter = request.app.state.emitter
        body = {"method": request.method, "path": request.url.path[:MAX_PATH],
                "route": _route(request), "status": decision.status, "reason": decision.reason,
                "project": project, "token_id": principal.token_id}
        event = new_config_event("denial", str(uuid.uuid4()), body, actor=principal.name,
                                 tool="api")
        emitter.emit_config_soon(event)
        RECORDED.labels(str(decision.status)).inc()
    except Exception as exc:  # Kafka queue full, registry away: the refusal stands anyway
        UNRECORDED.inc()
        log.warning("denial not recorded", error=repr(exc), path=request.url.path)
