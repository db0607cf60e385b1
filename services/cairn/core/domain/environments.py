"""An environment stored once, named by the sha256 of its canonical JSON (pure).

A version's environment (the SDK's capture: python, os, the installed packages, ...) is
mostly its package list, ~10 KB for 150 packages, and most versions share one with many
others. The ledger keeps each distinct environment once (`environments`, by digest); a
version's state names it (`environment_digest`) and carries only its summary: every field
but `packages`. The changelog record that first records a digest carries the whole
environment beside the state (RecordedEvent.environment), so a reader of the changelog
from the start learns every environment without asking PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cairn.core.domain.chain import canonical

DIGEST = re.compile(r"[0-9a-f]{64}")
LEFT_OUT = "packages"  # what a summary leaves out: the bulk of an environment


def environment_digest(environment: Mapping[str, Any]) -> str:
    """sha256 (hex) of the environment's canonical JSON: the same for the same content,
    whatever its key order (the ledger's and a migration's backfill agree)."""
    return hashlib.sha256(canonical(environment).encode()).hexdigest()


def summary(environment: Mapping[str, Any]) -> dict[str, Any]:
    """The environment without its package list (Avro's default, {}, in its place): what a
    state and a changelog record's event carry."""
    return {**environment, LEFT_OUT: {}}


def with_environment(state: Mapping[str, Any], environment: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """A state with its environment whole again (for a check or hook that reads packages)."""
    return {**state, "content": {**state["content"], "environment": dict(environment)}}


def lean_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A changelog record's event: a Published payload's environment as its summary (the
    event_log keeps, and the hash chain covers, the event as it came)."""
    name, body = event["payload"]
    if not str(name).endswith(".Published") or not (body.get("environment") or {}).get(
            LEFT_OUT):
        return dict(event)
    return {**event, "payload": (name, {**body, "environment": summary(body["environment"])})}
