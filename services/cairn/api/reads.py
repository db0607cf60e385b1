"""What the api reads from the ledger's PostgreSQL projections (it never writes them).

Each answer is read in one read-only REPEATABLE READ transaction, so its parts (a version,
its aliases, its links) all come from the same committed ledger state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from cairn.api.errors import not_found
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.versions import artifact_row, project_rules, resolve_version


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        yield conn


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _ref(project: str, name: str, number: int) -> str:
    return f"{project}/{name}@v{number}"


async def artifact_summary(pool: asyncpg.Pool, project: str, name: str) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        art = await artifact_row(conn, f"{project}/{name}")
        if art is None:
            raise not_found(f"artifact {project}/{name}")
        aliases = await conn.fetch(
            "SELECT a.alias, v.version_number FROM aliases a JOIN versions v ON v.id = a.version_id"
            " WHERE a.artifact_id = $1 ORDER BY a.alias", art["id"])
        versions = await conn.fetch(
            "SELECT version_number, digest, stage, status, validation, created_at, created_by,"
            " metadata -> 'metrics' AS metrics"
            " FROM versions WHERE artifact_id = $1 ORDER BY version_number", art["id"])
        ladder = (await project_rules(conn, project)).ladder
    return {
        "project": project, "name": name, "kind": art["kind"],
        "latest_version": art["latest_version"], "stages": list(ladder),
        "aliases": {a["alias"]: a["version_number"] for a in aliases},
        "versions": [{**dict(v), "created_at": _iso(v["created_at"]),
                      "metrics": json.loads(v["metrics"] or "{}")} for v in versions],
    }


async def find_version(conn: asyncpg.Connection, project: str, name: str, selector: str
                   ) -> asyncpg.Record:
    art = await artifact_row(conn, f"{project}/{name}")
    if art is None:
        raise not_found(f"artifact {project}/{name}")
    try:
        return await resolve_version(conn, art["id"], selector)
    except InvalidInput as exc:
        if exc.reason == "unknown_version":
            raise not_found(f"version {selector!r} of {project}/{name}") from None
        raise


async def version_detail(pool: asyncpg.Pool, project: str, name: str, selector: str
                         ) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        v = await find_version(conn, project, name, selector)
        vid = v["id"]
        files = await conn.fetch("SELECT path, size, sha256, media_type FROM files"
                                 " WHERE version_id = $1 ORDER BY path", vid)
        aliases = await conn.fetch("SELECT alias FROM aliases WHERE version_id = $1"
                                   " ORDER BY alias", vid)
        links_out = await conn.fetch(
            "SELECT l.relation, l.target_ref, l.external, a.project, a.name, v.version_number,"
            " v.digest FROM links l LEFT JOIN versions v ON v.id = l.target_version_id"
            " LEFT JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE l.source_version_id = $1 ORDER BY l.id", vid)
        links_in = await conn.fetch(
            "SELECT l.relation, a.project, a.name, v.version_number, v.digest FROM links l"
            " JOIN versions v ON v.id = l.source_version_id"
            " JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE l.target_version_id = $1 ORDER BY l.id", vid)
        verdicts = await conn.fetch("SELECT check_name, status, reasons FROM verdicts"
                                    " WHERE version_id = $1 ORDER BY check_name", vid)
        usage = await conn.fetchrow("SELECT * FROM usage_counts WHERE version_id = $1", vid)
    return {
        "ref": _ref(project, name, v["version_number"]), "project": project, "name": name,
        "kind": v["kind"], "version_number": v["version_number"], "digest": v["digest"],
        "files": [dict(f) for f in files],
        "metadata": json.loads(v["metadata"]), "environment": json.loads(v["environment"]),
        "extra": json.loads(v["extra"] or "{}"),
        "stage": v["stage"], "status": v["status"], "validation": v["validation"],
        "completeness": v["completeness"],
        "legal_hold": json.loads(v["metadata"]).get("legal_hold") is True,  # never archived
        "aliases": [a["alias"] for a in aliases],
        "created_at": _iso(v["created_at"]), "created_by": v["created_by"],
        "links_out": [_link_out(r) for r in links_out],
        "links_in": [{"relation": r["relation"],
                      "source": {"ref": _ref(r["project"], r["name"], r["version_number"]),
                                 "digest": r["digest"]}} for r in links_in],
        "verdicts": [{"check": r["check_name"], "status": r["status"],
                      "reasons": json.loads(r["reasons"])} for r in verdicts],
        "usage": usage_summary(usage),
    }


def usage_summary(row: asyncpg.Record | None) -> dict[str, Any]:
    """Counts as the ledger last added them up (a few seconds behind the reads themselves)."""
    if row is None:
        return {"views": 0, "downloads": 0, "retrieves": 0, "mean_retrieve_ms": None,
                "last_used_at": None}
    mean = row["retrieve_ms_total"] / row["retrieves"] if row["retrieves"] else None
    return {"views": row["views"], "downloads": row["downloads"], "retrieves": row["retrieves"],
            "mean_retrieve_ms": None if mean is None else round(mean, 1),
            "last_used_at": _iso(row["last_used_at"]) if row["last_used_at"] else None}


def _link_out(r: asyncpg.Record) -> dict[str, Any]:
    target = None
    if r["version_number"] is not None:  # resolved; else the target has not arrived yet
        target = {"ref": _ref(r["project"], r["name"], r["version_number"]), "digest": r["digest"]}
    return {"relation": r["relation"], "target_ref": r["target_ref"], "target": target,
            "external": json.loads(r["external"]) if r["external"] else None}


async def edit_history(pool: asyncpg.Pool, project: str, name: str, selector: str
                       ) -> list[dict[str, Any]]:
    async with snapshot(pool) as conn:
        v = await find_version(conn, project, name, selector)
        rows = await conn.fetch(
            "SELECT m.seq, m.event_id, m.actor, m.changes, m.previous, m.reverts, e.recorded_at"
            " FROM metadata_edits m JOIN event_log e ON e.seq = m.seq"
            " WHERE m.version_id = $1 ORDER BY m.seq", v["id"])
    return [
        {"seq": r["seq"], "event_id": str(r["event_id"]), "actor": r["actor"],
         "changes": json.loads(r["changes"]), "previous": json.loads(r["previous"]),
         "reverts": None if r["reverts"] is None else str(r["reverts"]),
         "recorded_at": _iso(r["recorded_at"])}
        for r in rows
    ]


async def event_status(pool: asyncpg.Pool, event_id: str) -> dict[str, Any]:
    """recorded (with its version), rejected (with the reason), or still pending."""
    async with snapshot(pool) as conn:
        row = await conn.fetchrow(
            "SELECT e.seq, e.outcome, e.event_type, e.artifact, v.version_number, v.digest"
            " FROM event_log e LEFT JOIN versions v ON v.id = e.version_id"
            " WHERE e.event_id = $1", event_id)
        if row is not None:
            ref = None if row["version_number"] is None else \
                f"{row['artifact']}@v{row['version_number']}"
            return {"status": "recorded", "seq": row["seq"], "outcome": row["outcome"],
                    "event_type": row["event_type"], "version_number": row["version_number"],
                    "digest": row["digest"], "ref": ref}
        rejected = await conn.fetchrow(
            "SELECT reason, message FROM rejected_events WHERE event_id = $1", event_id)
    if rejected is not None:
        return {"status": "rejected", "reason": rejected["reason"],
                "message": rejected["message"]}
    return {"status": "pending"}
