"""Compare the tables the api serves with what the hash-chained log rebuilds (`cairn audit
verify`, unless --chain-only): a row edited by hand in PostgreSQL is named, table by table.

The reads are here, the comparison is `cairn.core.domain.rebuild`. Each query streams (a server-side
cursor) inside the caller's repeatable-read transaction, so the log and the tables are read
at one instant; PostgreSQL does the grouping (the newest entry per version, per verdict, per
config item), so memory holds one row at a time plus the alias replay (a few per artifact).
Covered: versions (with their artifact's name, files and links as the state lists them),
aliases, verdicts, metadata_edits and config_items. Not covered: which version a link
resolved to (links.target_version_id), artifacts.latest_version, and the tables that are not
chained (usage, deliveries).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from cairn.core.domain import rebuild
from cairn.core.domain.checks import check_metadata_changes
from cairn.core.domain.config_items import check_item
from cairn.core.domain.environments import environment_digest
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.versions import STATE_SELECT, state_of

PREFETCH = 1000
KEEP = 10_000  # differences kept for the report; the rest are only counted

VERSIONS_SQL = f"""
WITH last AS (
  SELECT DISTINCT ON (version_id) version_id, state FROM event_log
  WHERE version_id IS NOT NULL ORDER BY version_id, seq DESC),
born AS (
  SELECT version_id, seq, actor FROM event_log
  WHERE event_type = 'Published' AND outcome = 'applied')
SELECT l.version_id AS logged_id, l.state AS logged, b.seq AS born_seq, b.actor AS born_actor,
       f.*
FROM last l FULL JOIN ({STATE_SELECT}) f ON f.id = l.version_id
LEFT JOIN born b ON b.version_id = coalesce(l.version_id, f.id)
ORDER BY coalesce(l.version_id, f.id)
"""
ALIASES_SQL = """
SELECT a.project || '/' || a.name AS artifact, al.alias, al.version_id, v.version_number,
       al.updated_seq
FROM aliases al JOIN artifacts a ON a.id = al.artifact_id
LEFT JOIN versions v ON v.id = al.version_id ORDER BY 1, 2
"""
# A check's verdict comes from a single-check Verdict entry or from one of a VerdictSet's checks.
VERDICTS_SQL = """
WITH entries AS (
  SELECT version_id, event->'payload'->1->>'check' AS check_name, event->'payload'->1 AS body,
         seq
  FROM event_log WHERE event_type = 'Verdict' AND outcome = 'applied'
  UNION ALL
  SELECT version_id, c->>'check', c, seq
  FROM event_log, jsonb_array_elements(event->'payload'->1->'checks') AS c
  WHERE event_type = 'VerdictSet' AND outcome = 'applied'),
logged AS (
  SELECT DISTINCT ON (version_id, check_name) version_id, check_name, body, seq FROM entries
  ORDER BY version_id, check_name, seq DESC)
SELECT coalesce(l.version_id, d.version_id) AS version_id,
       coalesce(l.check_name, d.check_name) AS check_name, l.body, l.seq AS logged_seq,
       d.version_id IS NOT NULL AS present, d.status, d.reasons, d.seq
FROM logged l FULL JOIN verdicts d ON d.version_id = l.version_id AND d.check_name = l.check_name
ORDER BY 1, 2
"""
EDITS_SQL = """
WITH entries AS (
  SELECT seq, event_id, version_id, actor, event_type, outcome, event->'payload'->1 AS body,
         lag(state->'content'->'metadata') OVER (PARTITION BY version_id ORDER BY seq) AS before
  FROM event_log WHERE version_id IS NOT NULL),
edits AS (SELECT * FROM entries WHERE event_type = 'MetadataEdited' AND outcome = 'applied')
SELECT coalesce(e.seq, m.seq) AS key_seq, e.seq AS logged_seq, e.event_id, e.version_id,
       e.actor, e.body, e.before, m.seq IS NOT NULL AS present, m.event_id AS m_event_id,
       m.version_id AS m_version_id, m.actor AS m_actor, m.changes, m.previous, m.reverts
FROM edits e FULL JOIN metadata_edits m ON m.seq = e.seq
ORDER BY 1
"""
CONFIG_SQL = """
WITH logged AS (
  SELECT DISTINCT ON (event->>'kind', event->>'key') event->>'kind' AS kind,
         event->>'key' AS key, event, seq, recorded_at
  FROM event_log WHERE event_type = 'ConfigChanged'
  ORDER BY event->>'kind', event->>'key', seq DESC),
first AS (
  SELECT event->>'kind' AS kind, event->>'key' AS key, min(recorded_at) AS created
  FROM event_log WHERE event_type = 'ConfigChanged' GROUP BY 1, 2)
SELECT coalesce(l.kind, c.kind) AS item_kind, coalesce(l.key, c.key) AS item_key, l.event,
       l.seq AS logged_seq, l.recorded_at AS logged_at, f.created,
       c.kind IS NOT NULL AS present, c.body, c.removed, c.actor, c.created_at, c.updated_at, c.seq
FROM (logged l LEFT JOIN first f ON f.kind = l.kind AND f.key = l.key)
FULL JOIN config_items c ON c.kind = l.kind AND c.key = l.key
ORDER BY 1, 2
"""


@dataclass
class StateReport:
    """Every difference found (the first KEEP of them) and how many rows were compared."""

    differences: list[rebuild.Difference] = field(default_factory=list)
    total: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.total == 0

    def add(self, table: str, found: list[rebuild.Difference]) -> None:
        self.rows[table] = self.rows.get(table, 0) + 1
        self.total += len(found)
        self.differences += found[:max(0, KEEP - len(self.differences))]


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


async def _stream(conn: asyncpg.Connection, sql: str) -> AsyncIterator[asyncpg.Record]:
    async for row in conn.cursor(sql, prefetch=PREFETCH):
        yield row


def _found_state(row: asyncpg.Record, logged: dict[str, Any] | None) -> dict[str, Any]:
    """The version's state from the tables, its environment whole where the logged state
    predates environments stored by digest (migration 0011) and a digest that is not its
    environment's shown as a stored environment that was changed."""
    found = state_of(row)
    whole = json.loads(row["environment"])
    if logged is not None and "environment_digest" not in logged:
        found["content"]["environment"] = whole
    elif environment_digest(whole) != found["environment_digest"]:
        found["environment_digest"] = f"(environments row changed) {environment_digest(whole)}"
    return found


async def compare_tables(conn: asyncpg.Connection, aliases: rebuild.Aliases,
                         millis: Any) -> StateReport:
    """The differences between the tables and the log; call inside the transaction the
    chain was walked in, with the aliases replayed on that walk. `millis`: timestamp → ms."""
    report = StateReport()
    async for row in _stream(conn, VERSIONS_SQL):
        version_id = row["logged_id"] or row["id"]
        logged = _json(row["logged"])
        found = None if row["id"] is None else _found_state(row, logged)
        born = None if row["born_seq"] is None else (row["born_seq"], row["born_actor"])
        created = None if row["id"] is None else (row["created_seq"], row["created_by"])
        report.add("versions", rebuild.version_differences(
            version_id, logged, found, born, created))
    found_aliases = [(r["artifact"], r["alias"], r["version_id"], r["version_number"],
                      r["updated_seq"]) async for r in _stream(conn, ALIASES_SQL)]
    report.add("aliases", aliases.differences(found_aliases))
    report.rows["aliases"] = len(found_aliases)
    async for row in _stream(conn, VERDICTS_SQL):
        report.add("verdicts", _verdict(row))
    previous: dict[str, dict[str, Any]] = {}  # edit event_id → what it replaced
    async for row in _stream(conn, EDITS_SQL):
        report.add("metadata_edits", _edit(row, previous))
    async for row in _stream(conn, CONFIG_SQL):
        report.add("config_items", _config(row, millis))
    return report


def _verdict(row: asyncpg.Record) -> list[rebuild.Difference]:
    body = _json(row["body"])
    want = None if body is None else {"status": body["status"], "reasons": body["reasons"],
                                      "seq": row["logged_seq"]}
    have = None if not row["present"] else {"status": row["status"],
                                            "reasons": _json(row["reasons"]), "seq": row["seq"]}
    return rebuild.row_differences("verdicts", f"version {row['version_id']} "
                                   f"{row['check_name']}", want, have)


def _edit(row: asyncpg.Record, previous: dict[str, dict[str, Any]]
          ) -> list[rebuild.Difference]:
    key = f"seq {row['key_seq']}"
    have = None if not row["present"] else {
        "event_id": str(row["m_event_id"]), "version_id": row["m_version_id"],
        "actor": row["m_actor"], "changes": _json(row["changes"]),
        "previous": _json(row["previous"]),
        "reverts": None if row["reverts"] is None else str(row["reverts"])}
    if row["logged_seq"] is None:
        return rebuild.row_differences("metadata_edits", key, None, have)
    body, before = _json(row["body"]), _json(row["before"]) or {}
    reverts = body.get("reverts")
    try:
        changes = previous.get(reverts) if reverts else check_metadata_changes(body["changes"])
    except InvalidInput:
        changes = None  # refused by today's rules, yet recorded: its changes are not judged
    want: dict[str, Any] = {"event_id": str(row["event_id"]), "version_id": row["version_id"],
                            "actor": row["actor"], "reverts": reverts}
    if changes is not None:
        want["changes"] = changes
        want["previous"] = {k: before.get(k) for k in changes}
        previous[want["event_id"]] = want["previous"]
    return rebuild.row_differences("metadata_edits", key, want, have)


def _config(row: asyncpg.Record, millis: Any) -> list[rebuild.Difference]:
    key = f"{row['item_kind']}/{row['item_key']}"
    have = None if not row["present"] else {
        "body": _json(row["body"]), "removed": row["removed"], "actor": row["actor"],
        "seq": row["seq"], "created_at": millis(row["created_at"]),
        "updated_at": millis(row["updated_at"])}
    if row["event"] is None:
        return rebuild.row_differences("config_items", key, None, have)
    event = json.loads(row["event"])
    try:
        body = check_item(event["kind"], event["key"], event["body"])
    except InvalidInput:  # recorded under older rules: the body as it was sent
        body = _json(event["body"])
    want = {"body": body, "removed": event["body"] is None, "actor": event["actor"],
            "seq": row["logged_seq"], "created_at": millis(row["created"]),
            "updated_at": millis(row["logged_at"])}
    return rebuild.row_differences("config_items", key, want, have)
