"""What retention reads from the ledger's PostgreSQL (read-only): policies and version facts.

The api (plan, apply) and the archiver (scheduled runs) read the same way, in one read-only
REPEATABLE READ transaction, so a plan is computed from one committed ledger state.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from cairn.core.domain.events import now_ms
from cairn.core.domain.retention import Plan, plan
from cairn.readmodel.version_facts import project_versions
from cairn.readmodel.versions import project_rules

KIND = "retention_policy"
POLICY_SQL = ("SELECT key, body, actor, updated_at, seq FROM config_items"
              " WHERE kind = 'retention_policy' AND NOT removed")


def _policy_row(row: asyncpg.Record) -> dict[str, Any]:
    return {"project": row["key"], "policy": json.loads(row["body"]), "actor": row["actor"],
            "updated_at": row["updated_at"].isoformat(), "seq": row["seq"]}


async def policy_of(conn: asyncpg.Connection, project: str) -> dict[str, Any] | None:
    """{"project", "policy", "actor", "updated_at", "seq"}, or None when the project has none."""
    row = await conn.fetchrow(POLICY_SQL + " AND key = $1", project)
    return None if row is None else _policy_row(row)


async def scheduled_policies(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every policy the archiver applies by itself (`scheduled`, the default)."""
    rows = await conn.fetch(POLICY_SQL + " AND coalesce(body -> 'scheduled', 'true') = 'true'"
                            " ORDER BY key")
    return [_policy_row(r) for r in rows]


async def plan_project(pool: asyncpg.Pool, project: str, policy: dict[str, Any] | None = None
                       ) -> tuple[dict[str, Any] | None, Plan]:
    """(the stored policy record, its plan now); with `policy` given, that policy's plan
    instead (a preview). No policy stored and none given: (None, an empty plan)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        stored = await policy_of(conn, project)
        rules = policy if policy is not None else (stored or {}).get("policy")
        if rules is None:
            return None, Plan()
        versions = await project_versions(conn, project)
        protected = (await project_rules(conn, project)).protected_stage
    return stored, plan(rules, versions, now_ms(), protected)
