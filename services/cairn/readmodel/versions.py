"""Versions as the ledger stores them: selectors resolved, rules and states read. The ledger
reads them inside its own transactions, the api and retention in theirs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

import asyncpg

from cairn.core.domain import json_text
from cairn.core.domain.environments import summary
from cairn.core.domain.identity import InvalidInput, is_version_selector
from cairn.core.domain.lifecycle_rules import LifecycleRules, rules_of

Conn: TypeAlias = asyncpg.Connection
Db: TypeAlias = asyncpg.Pool | asyncpg.Connection  # a pool, or a connection in a transaction
PROJECT_LIFECYCLE = ("SELECT body -> 'lifecycle' FROM config_items WHERE kind = 'project'"
                     " AND key = $1 AND NOT removed")


async def project_rules(conn: Conn, project: str) -> LifecycleRules:
    """The project's lifecycle rules (its ladder, gates, protected aliases) as of this
    transaction: the ledger's checks, retention's planner and the api's reads use them."""
    lifecycle = await conn.fetchval(PROJECT_LIFECYCLE, project)
    return rules_of({"lifecycle": json.loads(lifecycle) if lifecycle else None})


async def rules_among(conn: Conn, projects: Sequence[str]) -> dict[str, LifecycleRules]:
    """project_rules of several projects in one round trip (the set-based publish path)."""
    rows = await conn.fetch(
        "SELECT key, body -> 'lifecycle' AS lifecycle FROM config_items WHERE kind = 'project'"
        " AND key = ANY($1::text[]) AND NOT removed", list(projects))
    found = {r["key"]: json.loads(r["lifecycle"]) if r["lifecycle"] else None for r in rows}
    return {p: rules_of({"lifecycle": found.get(p)}) for p in projects}


async def artifact_row(conn: Conn, artifact: str, *, lock: bool = False) -> asyncpg.Record | None:
    project, _, name = artifact.partition("/")
    sql = "SELECT * FROM artifacts WHERE project = $1 AND name = $2"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), project, name)


async def resolve_version(conn: Conn, artifact_id: int, selector: str) -> asyncpg.Record:
    """vN, a digest prefix (7+ hex) or an alias → the version row, or InvalidInput."""
    selector = selector.removeprefix("sha256:")
    if selector.startswith("v") and selector[1:].isdigit():
        row = await conn.fetchrow(
            "SELECT * FROM versions WHERE artifact_id = $1 AND version_number = $2",
            artifact_id,
            int(selector[1:]),
        )
    elif is_version_selector(selector):
        rows = await conn.fetch(
            "SELECT * FROM versions WHERE artifact_id = $1 AND digest LIKE $2 LIMIT 2",
            artifact_id,
            selector + "%",
        )
        if len(rows) > 1:
            raise InvalidInput(
                "ambiguous_digest", f"digest prefix {selector} matches several versions"
            )
        row = rows[0] if rows else None
    else:
        row = await conn.fetchrow(
            "SELECT v.* FROM aliases a JOIN versions v ON v.id = a.version_id "
            "WHERE a.artifact_id = $1 AND a.alias = $2",
            artifact_id,
            selector,
        )
    if row is None:
        raise InvalidInput("unknown_version", f"no version {selector!r} of this artifact")
    return row


INCOMING_KEPT = 50  # a state lists the newest links that reach it (VersionState.incoming)
# The links from other versions that reach a version, newest first: one range of
# links_incoming (0010). `{limit}`: INCOMING_KEPT, or more for ledger.bulk_publish, which
# drops the links newer than each of its events.
INCOMING = """
  (SELECT coalesce(json_agg(json_build_object('relation', i.relation, 'source', i.source,
          'seq', i.seq) ORDER BY i.seq DESC, i.id DESC), '[]')
     FROM (SELECT l.id, l.relation, l.created_seq AS seq,
                  sa.project || '/' || sa.name || '@v' || s.version_number AS source
           FROM links l JOIN versions s ON s.id = l.source_version_id
           JOIN artifacts sa ON sa.id = s.artifact_id
           WHERE l.target_version_id = v.id AND l.source_version_id <> v.id
           ORDER BY l.created_seq DESC, l.id DESC LIMIT {limit}) i)
    AS incoming"""
# A version's state (avro VersionState) as the ledger snapshots it; `cairn audit verify`
# rebuilds every version's with it to compare with the log (all but `incoming`: like which
# version a link resolved to, the log does not vouch for it).
STATE_SELECT = """
SELECT v.*, a.project, a.name,""" + INCOMING.format(limit=INCOMING_KEPT) + """,
  (SELECT coalesce(json_agg(json_build_object('path', f.path, 'size', f.size, 'sha256', f.sha256,
          'media_type', f.media_type) ORDER BY f.path), '[]')
     FROM files f WHERE f.version_id = v.id)
    AS files,
  (SELECT coalesce(json_agg(json_build_object('relation', l.relation, 'target', l.target_ref,
          'external', l.external) ORDER BY l.id), '[]')
     FROM links l WHERE l.source_version_id = v.id)
    AS links,
  (SELECT coalesce(array_agg(al.alias ORDER BY al.alias), '{}') FROM aliases al
    WHERE al.version_id = v.id) AS aliases,
  en.body AS environment
FROM versions v JOIN artifacts a ON a.id = v.artifact_id
  JOIN environments en ON en.digest = v.environment_digest"""
STATE_SQL = STATE_SELECT + " WHERE v.id = $1"


def state_select(incoming_limit: str) -> str:
    """STATE_SELECT listing up to `incoming_limit` (SQL: a number or a parameter) incoming
    links (a caller that drops some keeps INCOMING_KEPT of the rest)."""
    return STATE_SELECT.replace(INCOMING.format(limit=INCOMING_KEPT),
                                INCOMING.format(limit=incoming_limit))


async def version_state(conn: Conn, version_id: int) -> dict[str, Any]:
    """The VersionState record (avro_schemas) of one version, as it is now: one round trip."""
    return state_of(await conn.fetchrow(STATE_SQL, version_id))


def state_of(v: asyncpg.Record) -> dict[str, Any]:
    """A row of STATE_SELECT as a VersionState record: its environment by digest and as a
    summary (the row's `environment` is the whole one)."""
    content = {
        "kind": v["kind"],
        "project": v["project"],
        "name": v["name"],
        "digest": v["digest"],
        "files": json_text.loads(v["files"]),
        "metadata": json_text.loads(v["metadata"]),
        "environment": summary(json_text.loads(v["environment"])),
        "links": json_text.loads(v["links"]),
        "stage": v["stage"],
        "extra": json.dumps(json_text.loads(v["extra"]), sort_keys=True),
    }
    return {
        "version_number": v["version_number"],
        "digest": v["digest"],
        "content": content,
        "stage": v["stage"],
        "aliases": list(v["aliases"]),
        "status": v["status"],
        "validation": v["validation"],
        "completeness": v["completeness"],
        "created_at": int(v["created_at"].timestamp() * 1000),
        "updated_seq": v["updated_seq"],
        "environment_digest": v["environment_digest"],
        "legal_hold": content["metadata"].get("legal_hold") is True,
        "incoming": json_text.loads(v["incoming"]),
    }


@dataclass(frozen=True)
class Listed:
    """One version in its artifact's listing."""

    version_number: int
    digest: str
    stage: str | None
    status: str
    validation: str
    created_at: dt.datetime
    created_by: str
    metrics: Any  # metadata.metrics as published ({} when it has none)


async def alias_numbers(conn: Conn, artifact_id: int) -> dict[str, int]:
    """alias → the number of the version holding it, by alias."""
    rows = await conn.fetch(
        "SELECT a.alias, v.version_number FROM aliases a JOIN versions v ON v.id = a.version_id"
        " WHERE a.artifact_id = $1 ORDER BY a.alias", artifact_id)
    return {r["alias"]: r["version_number"] for r in rows}


async def listed_versions(conn: Conn, artifact_id: int) -> list[Listed]:
    """Every version of the artifact, by number."""
    rows = await conn.fetch(
        "SELECT version_number, digest, stage, status, validation, created_at, created_by,"
        " metadata -> 'metrics' AS metrics"
        " FROM versions WHERE artifact_id = $1 ORDER BY version_number", artifact_id)
    return [Listed(r["version_number"], r["digest"], r["stage"], r["status"], r["validation"],
                   r["created_at"], r["created_by"], json.loads(r["metrics"] or "{}"))
            for r in rows]


class FileRow(TypedDict):
    path: str
    size: int
    sha256: str
    media_type: str | None


@dataclass(frozen=True)
class Named:
    """A recorded version by name (project/name@vN) and digest."""

    project: str
    name: str
    number: int
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}@v{self.number}"


@dataclass(frozen=True)
class LinkOut:
    """A link the version declares; `target` None: external, or not recorded yet."""

    relation: str
    target_ref: str | None
    external: dict[str, Any] | None
    target: Named | None


@dataclass(frozen=True)
class LinkIn:
    """A link to the version, from the version that declares it."""

    relation: str
    source: Named


@dataclass(frozen=True)
class Verdict:
    check: str
    status: str
    reasons: list[Any]


@dataclass(frozen=True)
class VersionParts:
    """What a version's detail shows beside its own row, each part in a stable order."""

    files: list[FileRow]
    aliases: list[str]
    links_out: list[LinkOut]
    links_in: list[LinkIn]
    verdicts: list[Verdict]


def _named(r: asyncpg.Record) -> Named:
    return Named(r["project"], r["name"], r["version_number"], r["digest"])


async def version_parts(conn: Conn, version_id: int) -> VersionParts:
    """Files (by path), aliases, links out and in (as declared), verdicts (by check)."""
    files = await conn.fetch("SELECT path, size, sha256, media_type FROM files"
                             " WHERE version_id = $1 ORDER BY path", version_id)
    aliases = await conn.fetch("SELECT alias FROM aliases WHERE version_id = $1"
                               " ORDER BY alias", version_id)
    links_out = await conn.fetch(
        "SELECT l.relation, l.target_ref, l.external, a.project, a.name, v.version_number,"
        " v.digest FROM links l LEFT JOIN versions v ON v.id = l.target_version_id"
        " LEFT JOIN artifacts a ON a.id = v.artifact_id"
        " WHERE l.source_version_id = $1 ORDER BY l.id", version_id)
    links_in = await conn.fetch(
        "SELECT l.relation, a.project, a.name, v.version_number, v.digest FROM links l"
        " JOIN versions v ON v.id = l.source_version_id"
        " JOIN artifacts a ON a.id = v.artifact_id"
        " WHERE l.target_version_id = $1 ORDER BY l.id", version_id)
    verdicts = await conn.fetch("SELECT check_name, status, reasons FROM verdicts"
                                " WHERE version_id = $1 ORDER BY check_name", version_id)
    return VersionParts(
        files=[FileRow(path=f["path"], size=f["size"], sha256=f["sha256"],
                       media_type=f["media_type"]) for f in files],
        aliases=[a["alias"] for a in aliases],
        links_out=[LinkOut(r["relation"], r["target_ref"],
                           json.loads(r["external"]) if r["external"] else None,
                           None if r["version_number"] is None else _named(r))
                   for r in links_out],
        links_in=[LinkIn(r["relation"], _named(r)) for r in links_in],
        verdicts=[Verdict(r["check_name"], r["status"], json.loads(r["reasons"]))
                  for r in verdicts])


@dataclass(frozen=True)
class MetadataEdit:
    """One metadata edit of a version, as the ledger recorded it."""

    seq: int
    event_id: uuid.UUID
    actor: str
    changes: dict[str, Any]
    previous: dict[str, Any]
    reverts: uuid.UUID | None
    recorded_at: dt.datetime


async def metadata_edits(conn: Conn, version_id: int) -> list[MetadataEdit]:
    """The version's metadata edits, oldest first."""
    rows = await conn.fetch(
        "SELECT m.seq, m.event_id, m.actor, m.changes, m.previous, m.reverts, e.recorded_at"
        " FROM metadata_edits m JOIN event_log e ON e.seq = m.seq"
        " WHERE m.version_id = $1 ORDER BY m.seq", version_id)
    return [MetadataEdit(r["seq"], r["event_id"], r["actor"], json.loads(r["changes"]),
                         json.loads(r["previous"]), r["reverts"], r["recorded_at"])
            for r in rows]
