"""What a changelog record looks like to a subscriber: the facts a filter matches on, and the
body POSTed to its webhook — Cairn's JSON, or a Slack-compatible {"text", "blocks"}.

Pure functions of the record (a decoded RecordedEvent, typed as generated from its schema)
and the subscription, so the notifier sends byte-identical bodies when it retries or
redelivers after a restart, and `cairn subscriptions test` (the api) sends a sample that
looks exactly like what the notifier would send.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.core.domain.event_types import (
    AliasMoved,
    LifecycleRequested,
    LinkAdded,
    MetadataEdited,
    Published,
    RecordedEvent,
    StageChanged,
    Verdict,
    VerdictSet,
)
from cairn.core.domain.events import payload_as, payload_of
from cairn.core.domain.subscriptions import matches

# The version facts a subscriber gets with every change (not the manifest or environment:
# a webhook says what happened; the api has the rest).
STATE_FIELDS = ("version_number", "digest", "stage", "aliases", "status", "validation",
                "completeness")
META_FIELDS = ("creator", "owner_team", "description", "license", "tags")


@dataclass(frozen=True)
class Facts:
    """What a subscription filter matches on."""

    project: str
    kind: str
    stage: str | None
    tags: list[str]
    event_type: str


def facts(record: RecordedEvent) -> Facts:
    content = record["state"]["content"]
    event_type, _ = payload_of(record["event"])
    return Facts(content["project"], content["kind"], record["state"]["stage"],
                 list(content["metadata"].get("tags") or []), event_type)


def ref(record: RecordedEvent) -> str:
    return f"{record['event']['artifact']}@v{record['state']['version_number']}"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def change(record: RecordedEvent) -> dict[str, Any] | None:
    """The event's own payload, except a publication's (the whole manifest: `state` has what
    matters); an edit's JSON-encoded changes are decoded."""
    event_type, body = payload_of(record["event"])
    if event_type == "Published":
        return None
    out = dict(body)
    if isinstance(out.get("changes"), str):
        with contextlib.suppress(ValueError):
            out["changes"] = json.loads(out["changes"])
    return out


def state(record: RecordedEvent) -> dict[str, Any]:
    s = record["state"]
    content = s["content"]
    meta = content["metadata"]
    return {"project": content["project"], "name": content["name"], "kind": content["kind"],
            **{k: s.get(k) for k in STATE_FIELDS}, **{k: meta.get(k) for k in META_FIELDS},
            "created_at": _iso(s["created_at"])}


def json_body(record: RecordedEvent, subscription: str, team: str) -> dict[str, Any]:
    event = record["event"]
    return {
        "event_type": payload_of(event)[0],
        "event_id": event["event_id"],
        "artifact": event["artifact"],
        "ref": ref(record),
        "seq": record["seq"],
        "actor": event["actor"],
        "occurred_at": _iso(event["occurred_at"]),
        "recorded_at": _iso(record["recorded_at"]),
        "change": change(record),
        "state": state(record),
        "subscription": subscription,
        "team": team,
    }


def headline(record: RecordedEvent) -> str:
    """One line saying what happened, for people (Slack, logs)."""
    event, s = record["event"], record["state"]
    n = s["version_number"]
    if payload_as(event, Published) is not None:
        what = f"published v{n} ({s['content']['kind']})"
    elif (staged := payload_as(event, StageChanged)) is not None:
        what = f"v{n} moved to {staged['stage']}"
    elif (moved := payload_as(event, AliasMoved)) is not None:
        what = (f"alias {moved['alias']} now points at v{n}" if moved.get("version")
                else f"alias {moved['alias']} removed")
    elif (verdict := payload_as(event, Verdict)) is not None:
        what = f"v{n} check {verdict['check']}: {verdict['status']}"
    elif (judged := payload_as(event, VerdictSet)) is not None:
        flagged = ", ".join(f"{c['check']} {c['status']}" for c in judged["checks"]
                            if c["status"] != "passed")
        what = f"v{n} judged {s.get('validation')}" + (f" ({flagged})" if flagged else "")
    elif payload_as(event, MetadataEdited) is not None:
        what = f"v{n} metadata edited"
    elif (linked := payload_as(event, LinkAdded)) is not None:
        what = f"v{n} linked ({linked['link'].get('relation')})"
    elif (requested := payload_as(event, LifecycleRequested)) is not None:
        what = f"v{n} {requested['action']} requested"
    else:
        what = f"v{n} {payload_of(event)[0]}"
    return f"{event['artifact']}: {what} by {event['actor']}"


def _mrkdwn(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(record: RecordedEvent, subscription: str, team: str) -> dict[str, Any]:
    s = record["state"]
    line = headline(record)
    details = [f"seq {record['seq']}", f"stage {s.get('stage') or '-'}",
               f"validation {s.get('validation')}", f"digest {s['digest'][:12]}"]
    if s.get("aliases"):
        details.append("aliases " + ", ".join(s["aliases"]))
    return {
        "text": f"[{team}] {line}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"*{_mrkdwn(ref(record))}*\n{_mrkdwn(line)}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": _mrkdwn(" · ".join(details))},
                {"type": "mrkdwn", "text": _mrkdwn(f"Cairn subscription {subscription} "
                                                   f"of team {team}")},
            ]},
        ],
    }


def render(record: RecordedEvent, subscription: str, team: str, fmt: str) -> bytes:
    """The exact bytes POSTed (and signed)."""
    body = (slack_body if fmt == "slack" else json_body)(record, subscription, team)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def would_match(record: RecordedEvent, flt: Mapping[str, list[str]]) -> bool:
    """Whether a subscription with this filter hears about the record (applied ones only)."""
    f = facts(record)
    return record["outcome"] == "applied" and matches(
        flt, project=f.project, kind=f.kind, stage=f.stage, tags=f.tags, event_type=f.event_type)


def sample(records: Iterable[RecordedEvent], subscription: str, team: str, fmt: str,
           flt: Mapping[str, list[str]]) -> tuple[str, bytes]:
    """(event type, body) of a test delivery: the newest record the filter matches, rendered
    as the notifier would; with none, a short body that says it is a test."""
    for record in records:
        if would_match(record, flt):
            return facts(record).event_type, render(record, subscription, team, fmt)
    text = f"Cairn test delivery for subscription {subscription} of team {team}"
    body: dict[str, Any] = ({"text": text} if fmt == "slack" else
                            {"event_type": "Test", "subscription": subscription, "team": team,
                             "message": text + " (no recorded change matches its filter yet)"})
    return "Test", json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
