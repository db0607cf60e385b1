"""The ledger's hash-chained log: read a page of it (`GET /v1/audit`), and verify the chain
straight from PostgreSQL (`cairn audit verify`).

Each row is recomputed by its own chain format (cairn.core.domain.chain): format 2 rows hash every
column that says what happened, format 1 rows (recorded before migration 0006) only the
event, outcome and recording time. The columns people filter and read the log by
(event_id, artifact, event_type, actor, occurred_at: what GET /v1/audit shows) are copies of
the event and are checked against it in both formats, which names the edited column; and
version_id must name the version the row's state is about. A row changed by hand anywhere a
reader would look breaks verification at that seq. Rows are streamed, never all held.

The log is not all a reader sees: the api serves the projections (versions, aliases, ...).
`verify` also rebuilds them from the log on the same walk and in the same snapshot
(cairn.readmodel.state_check), so a stage set to production by hand is named too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from cairn.core.domain import chain, rebuild
from cairn.core.domain.config_items import LOG_ONLY
from cairn.readmodel.config import Db
from cairn.readmodel.state_check import StateReport, compare_tables

CONFIG_EVENT_TYPE = "ConfigChanged"  # cairn.ledger.config_changes.EVENT_TYPE (no service import)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# The project of an entry; migration 0007 indexes this very expression (without the `e.`),
# so keep them the same (tests/integration/test_audit_index.py checks the plan).
PROJECT_OF = """CASE
  WHEN e.event_type = 'AccessDenied' THEN (e.event->>'body')::jsonb->>'project'
  WHEN e.event_type = 'ConfigChanged' THEN
    CASE WHEN e.event->>'kind' IN ('project', 'retention_policy') THEN e.event->>'key' END
  ELSE split_part(e.artifact, '/', 1) END"""
# What an entry did, in a few words, for the event types whose type alone does not say
# (the payload is stored as [record name, body]).
DETAIL = """CASE e.event_type
  WHEN 'Verdict' THEN (e.event->'payload'->1->>'check') || ' ' || (e.event->'payload'->1->>'status')
  WHEN 'VerdictSet' THEN (SELECT count(*) || ' checks' || coalesce(': ' || string_agg(
      (c->>'check') || ' ' || (c->>'status'), ', ' ORDER BY n) FILTER (
      WHERE c->>'status' <> 'passed'), ' passed')
    FROM jsonb_array_elements(e.event->'payload'->1->'checks') WITH ORDINALITY AS x (c, n))
  WHEN 'StageChanged' THEN 'to ' || (e.event->'payload'->1->>'stage')
  WHEN 'AliasMoved' THEN (e.event->'payload'->1->>'alias')
    || CASE WHEN e.event->'payload'->1->>'version' IS NULL THEN ' removed' ELSE '' END
  WHEN 'LifecycleRequested' THEN (e.event->'payload'->1->>'action')
  WHEN 'LinkAdded' THEN (e.event->'payload'->1->'link'->>'relation')
  WHEN 'Published' THEN CASE
    WHEN e.event->'payload'->1->>'as_recorded' = 'true' THEN 'imported as recorded'
      || coalesce(' as v' || (e.event->'payload'->1->>'version_number'), '')
      || coalesce(', stage ' || (e.event->'payload'->1->>'stage'), '')
    WHEN e.event->'payload'->1->>'version_number' IS NOT NULL
      THEN 'imported as v' || (e.event->'payload'->1->>'version_number') END
  END"""
SELECT_SQL = f"""
SELECT e.seq, e.event_id, e.event_type, e.outcome, e.actor, e.artifact, e.occurred_at,
       e.recorded_at, v.version_number, {PROJECT_OF} AS project,
       CASE WHEN e.event_type = 'AccessDenied' THEN e.event->>'body' END AS denial,
       {DETAIL} AS detail
FROM event_log e LEFT JOIN versions v ON v.id = e.version_id
WHERE {{project}}
  AND ($2::text IS NULL OR e.actor = $2)
  AND ($3::text[] IS NULL OR e.event_type = ANY($3))
  AND ($4::timestamptz IS NULL OR e.recorded_at >= $4)
  AND ($5::timestamptz IS NULL OR e.recorded_at < $5)
  AND ($6::bigint IS NULL OR e.seq < $6)
ORDER BY e.seq DESC LIMIT $7
"""
# Two statements, not `($1 IS NULL OR ... = $1)`: a prepared statement's generic plan could
# not use the project index for that.
ENTRIES_SQL = SELECT_SQL.format(project="$1::text IS NULL")
PROJECT_ENTRIES_SQL = SELECT_SQL.format(project=f"{PROJECT_OF} = $1::text")


# Every entry of one version, oldest first (event_log_artifact serves the artifact, the
# version's entries are then a few of its rows).
VERSION_ENTRIES_SQL = f"""
SELECT e.seq, e.event_id, e.event_type, e.outcome, e.actor, e.artifact, e.occurred_at,
       e.recorded_at, v.version_number, {PROJECT_OF} AS project, NULL AS denial,
       {DETAIL} AS detail
FROM event_log e JOIN versions v ON v.id = e.version_id
WHERE e.artifact = $1 AND e.version_id = $2
ORDER BY e.seq LIMIT $3
"""


@dataclass(frozen=True)
class LogEntry:
    seq: int
    event_id: str
    event_type: str
    outcome: str
    actor: str
    artifact: str  # project/name, or kind/key for a config entry
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    version_number: int | None  # of the version the entry is about, if any
    project: str | None
    denial: str | None  # an AccessDenied entry's body (JSON text)
    detail: str | None = None  # what it did: a verdict's checks not passed, a stage, an alias


async def log_entries(db: Db, *, project: str | None, actor: str | None,
                      actions: list[str] | None, since: dt.datetime | None,
                      until: dt.datetime | None, before: int | None, limit: int
                      ) -> list[LogEntry]:
    """Entries newest first, each filter ignored when None; `before` is a seq (exclusive),
    `since` inclusive and `until` exclusive on recorded_at."""
    rows = await db.fetch(PROJECT_ENTRIES_SQL if project else ENTRIES_SQL, project, actor,
                          actions, since, until, before, limit)
    return [_entry(r) for r in rows]


async def version_entries(db: Db, artifact: str, version_id: int, limit: int = 1000
                          ) -> list[LogEntry]:
    """What happened to one version (published, judged, staged, aliased, edited, linked,
    archived), oldest first."""
    rows = await db.fetch(VERSION_ENTRIES_SQL, artifact, version_id, limit)
    return [_entry(r) for r in rows]


def _entry(r: Mapping[str, Any]) -> LogEntry:
    return LogEntry(r["seq"], str(r["event_id"]), r["event_type"], r["outcome"], r["actor"],
                    r["artifact"], r["occurred_at"], r["recorded_at"], r["version_number"],
                    r["project"], r["denial"], r["detail"])


ROWS_SQL = """
SELECT e.seq, e.event, e.outcome, e.recorded_at, e.prev_hash, e.hash, e.event_id, e.artifact,
       e.event_type, e.actor, e.occurred_at, e.state, e.version_id, e.chain_version,
       v.digest AS v_digest, v.version_number AS v_number, a.project || '/' || a.name AS v_artifact
FROM event_log e LEFT JOIN versions v ON v.id = e.version_id
LEFT JOIN artifacts a ON a.id = v.artifact_id
ORDER BY e.seq
"""


def millis(at: dt.datetime) -> int | float:
    """Epoch millis, exact: a value that is not a whole millisecond (the ledger only writes
    whole ones) comes back fractional, so it can match neither the hash nor the event."""
    micros = (at - EPOCH) // dt.timedelta(microseconds=1)
    return micros // 1000 if micros % 1000 == 0 else micros / 1000


async def _rows(conn: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    async for row in conn.cursor(ROWS_SQL, prefetch=2000):
        state = json.loads(row["state"])
        yield {
            "seq": row["seq"], "event_id": str(row["event_id"]),
            "artifact": row["artifact"], "event_type": row["event_type"],
            "outcome": row["outcome"], "actor": row["actor"],
            "occurred_at_ms": millis(row["occurred_at"]),
            "recorded_at_ms": millis(row["recorded_at"]),
            "event": json.loads(row["event"]), "state": state,
            "version_id": row["version_id"], "chain_version": row["chain_version"],
            "prev_hash": row["prev_hash"], "hash": row["hash"],
            "version": None if row["version_id"] is None else (
                row["v_artifact"], row["v_digest"], row["v_number"]),
        }


def copied(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the columns beside an event must say, given the event (artifact or config)."""
    if "payload" in event:
        subject, kind = event["artifact"], str(event["payload"][0]).rsplit(".", 1)[-1]
    else:
        subject = f"{event['kind']}/{event['key']}"
        kind = LOG_ONLY.get(event["kind"], CONFIG_EVENT_TYPE)
    return {"event_id": str(event["event_id"]), "artifact": subject, "event_type": kind,
            "actor": event["actor"], "occurred_at_ms": int(event["occurred_at"])}


def named_version(row: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """The version an artifact entry's state is about (config entries name none)."""
    if "payload" not in row["event"]:
        return None
    return row["artifact"], row["state"].get("digest"), row["state"].get("version_number")


def copy_mismatch(row: Mapping[str, Any]) -> str | None:
    """How the row's columns disagree with its chained event, or its version_id with its
    state (the only cover version_id has in format 1 rows); None when they agree."""
    wanted = copied(row["event"])
    wrong = [f"{k.removesuffix('_ms')} no longer matches the chained event"
             for k in sorted(wanted) if wanted[k] != row[k]]
    if row["version"] != named_version(row):
        wrong.append("version_id no longer names the version its state is about")
    if not wrong:
        return None
    return f"seq {row['seq']} was changed after it was recorded: {'; '.join(wrong)}"


def alias_moved(row: Mapping[str, Any]) -> str | None:
    """The alias an applied AliasMoved entry set on its version (None for a removal)."""
    if row["event_type"] != "AliasMoved" or row["outcome"] != "applied":
        return None
    body = row["event"]["payload"][1]
    return body["alias"] if body.get("version") is not None else None


@dataclass(frozen=True)
class AuditReport:
    chain: chain.ChainReport
    state: StateReport | None  # None: not compared (asked not to, or the chain is broken)

    @property
    def ok(self) -> bool:
        return self.chain.ok and (self.state is None or self.state.ok)


async def verify(database_url: str, *, tables: bool = True) -> AuditReport:
    """The chain's first broken row (a column that disagrees with its event is named: more
    useful than the hash mismatch it also is), or that the chain head is not the last row;
    then, if the chain holds and `tables`, every projection row the log does not vouch for.
    One read-only repeatable-read transaction: the log and the tables at one instant."""
    conn = await asyncpg.connect(database_url)
    walk, last, aliases = chain.Walk(), None, rebuild.Aliases()
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in _rows(conn):
                problem = copy_mismatch(row) or walk.step(row)
                if problem is not None:
                    return AuditReport(walk.report(row["seq"], problem), None)
                last = (row["seq"], row["hash"])
                if tables and row["version_id"] is not None:
                    aliases.step(row["seq"], row["artifact"], row["version_id"], row["state"],
                                 alias_moved(row))
            head = await conn.fetchrow("SELECT seq, hash FROM chain_head WHERE id = 1")
            if last is not None and (head["seq"], head["hash"]) != last:
                return AuditReport(walk.report(head["seq"], "the chain head does not match "
                                                            "the last entry"), None)
            state = await compare_tables(conn, aliases, millis) if tables else None
            return AuditReport(walk.report(), state)
    finally:
        await conn.close()


async def verify_chain(database_url: str) -> chain.ChainReport:
    """The chain alone (what `cairn audit verify --chain-only` checks)."""
    return (await verify(database_url, tables=False)).chain
