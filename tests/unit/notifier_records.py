"""Changelog records (decoded RecordedEvents) and subscriptions for the notifier's unit tests."""

from __future__ import annotations

from typing import Any

from cairn.core.domain.events import NAMESPACE
from cairn.notifier.store import Subscription

DIGEST = "ab" * 32


def record(seq: int = 10, event_type: str = "Published", project: str = "vision",
           kind: str = "model", stage: str | None = "staging", tags: list[str] | None = None,
           body: dict[str, Any] | None = None, outcome: str = "applied") -> dict[str, Any]:
    content: dict[str, Any] = {"kind": kind, "project": project, "name": "resnet", "digest": DIGEST,
               "files": [], "links": [], "stage": stage, "extra": "", "environment": {},
               "metadata": {"creator": "ana", "tags": ["cv"] if tags is None else tags,
                            "license": "MIT", "description": "a <b> & c"}}
    payload = content if event_type == "Published" else (body or {})
    return {
        "seq": seq, "recorded_at": 1_700_000_000_000, "hash": "h", "outcome": outcome,
        "event": {"event_id": "0190a000-0000-7000-8000-000000000001",
                  "occurred_at": 1_700_000_000_000, "actor": "ana",
                  "source": {"tool": "test", "host": None, "run_id": None},
                  "artifact": f"{project}/resnet", "schema_version": 1,
                  "payload": (f"{NAMESPACE}.{event_type}", payload)},
        "state": {"version_number": 3, "digest": DIGEST, "content": content, "stage": stage,
                  "aliases": ["latest"], "status": "active", "validation": "valid",
                  "completeness": 0.5, "created_at": 1_700_000_000_000, "updated_seq": seq},
    }


def subscription(sub_id: str = "sub-1", team: str = "vision-team", since: int = 0,
                 fmt: str = "json", url: str = "http://93.184.216.34/hook",
                 **flt: list[str]) -> Subscription:
    return Subscription(sub_id, team, url, fmt, flt, True, since, "ana")
