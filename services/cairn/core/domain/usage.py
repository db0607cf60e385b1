"""Usage events (views, downloads, time-to-retrieve): built and checked in one place.

The api builds them for the reads it serves and for the pulls the SDK reports; the ledger
counts them. Both check with `check_usage`, so a bad report is refused the same way wherever
it shows up.
"""

from __future__ import annotations

from uuid6 import uuid7

from cairn.core.domain.event_types import UsageEvent
from cairn.core.domain.events import now_ms, source
from cairn.core.domain.identity import InvalidInput

ACTIONS = ("view", "download")
MAX_RETRIEVE_MS = 7 * 24 * 3600 * 1000  # a week: anything longer is a broken clock, not a pull
ANONYMOUS = "anonymous"
# A client that sends this header on its reads reports the whole use itself afterwards
# (POST /v1/usage), so the api does not count each of those reads on its own.
REPORTED_HEADER = "Cairn-Usage"
REPORTED = "client"


def check_usage(action: str, retrieve_ms: int | None) -> None:
    if action not in ACTIONS:
        raise InvalidInput(
            "invalid_action", f"usage action {action!r} must be one of {', '.join(ACTIONS)}"
        )
    if retrieve_ms is not None and not 0 <= retrieve_ms <= MAX_RETRIEVE_MS:
        raise InvalidInput(
            "invalid_retrieve_ms",
            f"retrieve_ms {retrieve_ms} must be between 0 and {MAX_RETRIEVE_MS}",
        )


def usage_event(
    artifact: str,
    digest: str,
    action: str,
    *,
    actor: str,
    tool: str,
    retrieve_ms: int | None = None,
) -> UsageEvent:
    """A checked UsageEvent with a fresh UUIDv7 (the ledger dedupes redeliveries by it)."""
    check_usage(action, retrieve_ms)
    return {
        "event_id": str(uuid7()),
        "occurred_at": now_ms(),
        "actor": actor,
        "source": source(tool),
        "artifact": artifact,
        "schema_version": 1,
        "digest": digest,
        "action": action,
        "retrieve_ms": retrieve_ms,
    }
