"""What the api reads from the ledger's PostgreSQL projections (it never writes them).

Each answer is read in one read-only REPEATABLE READ transaction, so its parts (a version,
its aliases, its links) all come from the same committed ledger state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from cairn.api.errors import not_found
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel import audit, events
from cairn.readmodel.environments import environment_body
from cairn.readmodel.usage_counts import Usage, version_usage
from cairn.readmodel.versions import (
    LinkOut,
    alias_numbers,
    artifact_row,
    listed_versions,
    metadata_edits,
    project_rules,
    resolve_version,
    version_parts,
)


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
        aliases = await alias_numbers(conn, art["id"])
        versions = await listed_versions(conn, art["id"])
        ladder = (await project_rules(conn, project)).ladder
    return {
        "project": project, "name": name, "kind": art["kind"],
        "latest_version": art["latest_version"], "stages": list(ladder),
        "aliases": aliases,
        "versions": [{**dataclasses.asdict(v), "created_at": _iso(v.created_at)}
                     for v in versions],
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
        parts = await version_parts(conn, v["id"])
        usage = await version_usage(conn, v["id"])
        environment = await environment_body(conn, v["environment_digest"])
    metadata = json.loads(v["metadata"])
    return {
        "ref": _ref(project, name, v["version_number"]), "project": project, "name": name,
        "kind": v["kind"], "version_number": v["version_number"], "digest": v["digest"],
        "files": [dict(f) for f in parts.files],
        "metadata": metadata, "environment": environment,
        "environment_digest": v["environment_digest"],
        "extra": json.loads(v["extra"] or "{}"),
        "stage": v["stage"], "status": v["status"], "validation": v["validation"],
        "completeness": v["completeness"],
        "legal_hold": metadata.get("legal_hold") is True,  # never archived
        "aliases": parts.aliases,
        "created_at": _iso(v["created_at"]), "created_by": v["created_by"],
        "links_out": [_link_out(r) for r in parts.links_out],
        "links_in": [{"relation": r.relation,
                      "source": {"ref": r.source.ref, "digest": r.source.digest}}
                     for r in parts.links_in],
        "verdicts": [{"check": r.check, "status": r.status, "reasons": r.reasons}
                     for r in parts.verdicts],
        "usage": usage_summary(usage),
    }


def usage_summary(usage: Usage | None) -> dict[str, Any]:
    """Counts as the ledger last added them up (a few seconds behind the reads themselves)."""
    if usage is None:
        return {"views": 0, "downloads": 0, "retrieves": 0, "mean_retrieve_ms": None,
                "last_used_at": None}
    mean = usage.retrieve_ms_total / usage.retrieves if usage.retrieves else None
    return {"views": usage.views, "downloads": usage.downloads, "retrieves": usage.retrieves,
            "mean_retrieve_ms": None if mean is None else round(mean, 1),
            "last_used_at": _iso(usage.last_used_at) if usage.last_used_at else None}


def _link_out(link: LinkOut) -> dict[str, Any]:
    target = None  # unresolved: the target has not arrived yet (or the link is external)
    if link.target is not None:
        target = {"ref": link.target.ref, "digest": link.target.digest}
    return {"relation": link.relation, "target_ref": link.target_ref, "target": target,
            "external": link.external}


async def edit_history(pool: asyncpg.Pool, project: str, name: str, selector: str
                       ) -> list[dict[str, Any]]:
    async with snapshot(pool) as conn:
        v = await find_version(conn, project, name, selector)
        edits = await metadata_edits(conn, v["id"])
    return [
        {"seq": e.seq, "event_id": str(e.event_id), "actor": e.actor, "changes": e.changes,
         "previous": e.previous, "reverts": None if e.reverts is None else str(e.reverts),
         "recorded_at": _iso(e.recorded_at)}
        for e in edits
    ]


async def version_events(pool: asyncpg.Pool, project: str, name: str, selector: str
                         ) -> list[dict[str, Any]]:
    async with snapshot(pool) as conn:
        v = await find_version(conn, project, name, selector)
        entries = await audit.version_entries(conn, f"{project}/{name}", v["id"])
    return [{"seq": e.seq, "event_id": e.event_id, "event_type": e.event_type,
             "outcome": e.outcome, "actor": e.actor, "detail": e.detail,
             "recorded_at": _iso(e.recorded_at)} for e in entries]


async def event_status(pool: asyncpg.Pool, event_id: str) -> dict[str, Any]:
    """recorded (with its version), rejected (with the reason), or still pending."""
    async with snapshot(pool) as conn:
        row = await events.recorded(conn, event_id)
        if row is not None:
            ref = None if row.version_number is None else f"{row.artifact}@v{row.version_number}"
            return {"status": "recorded", "seq": row.seq, "outcome": row.outcome,
                    "event_type": row.event_type, "version_number": row.version_number,
                    "digest": row.digest, "ref": ref}
        rejected = await events.rejected(conn, event_id)
    if rejected is not None:
        return {"status": "rejected", "reason": rejected.reason, "message": rejected.message}
    return {"status": "pending"}
