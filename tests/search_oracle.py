"""What the ledger says a search should answer: totals and facet counts, in SQL.

Written independently of cairn.search (SQL over the ledger's tables, not the documents),
so a test comparing the two checks the whole path: changelog, documents, mappings,
queries, facets. Semantics match the search api: values of one filter are OR-ed, filters
are AND-ed, each facet is counted with every filter but its own, deleted versions are
hidden unless a status filter is given, and private projects are hidden (the tests search
anonymously).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from cairn.search.query import FACETS, MetricRange, parse_metric

# What an anonymous caller may not see: versions of private projects (other tests of the
# session make some), and datasets of those projects in the dataset facet.
PRIVATE = ("SELECT c.key FROM config_items c WHERE c.kind = 'project' AND NOT c.removed"
           " AND c.body->>'visibility' = 'private'")
_META = "SELECT v.metadata->>'{0}' AS value WHERE v.metadata->>'{0}' IS NOT NULL"
VALUES = {  # facet → a LATERAL subquery giving the facet's values of version v
    "kind": "SELECT v.kind AS value",
    "project": "SELECT a.project AS value",
    "stage": "SELECT v.stage AS value WHERE v.stage IS NOT NULL",
    "tag": "SELECT DISTINCT jsonb_array_elements_text(v.metadata->'tags') AS value",
    "license": _META.format("license"),
    "creator": _META.format("creator"),
    "owner_team": _META.format("owner_team"),
    "framework": _META.format("framework"),
    "validation": "SELECT v.validation AS value",
    "status": "SELECT v.status AS value",
    "dataset": "SELECT DISTINCT l.target_artifact AS value FROM links l WHERE"
               " l.source_version_id = v.id AND l.relation IN ('trained_on', 'derived_from',"
               " 'uses') AND l.target_artifact IS NOT NULL"
               f" AND split_part(l.target_artifact, '/', 1) NOT IN ({PRIVATE})",
    "alias": "SELECT al.alias AS value FROM aliases al WHERE al.version_id = v.id",
    "legal_hold": "SELECT CASE WHEN v.metadata->'legal_hold' = 'true'::jsonb THEN 'true'"
                  " ELSE 'false' END AS value",
    "environment": "SELECT v.environment_digest AS value WHERE v.environment_digest IS NOT NULL",
}
_OPS = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "=": "=", "==": "="}


class Query:
    """Filters → SQL conditions with numbered parameters."""

    def __init__(self, filters: Mapping[str, Sequence[str]], metrics: Sequence[MetricRange],
                 created_after_ms: int | None = None) -> None:
        self.filters, self.metrics, self.after = filters, metrics, created_after_ms

    def where(self, skip: str | None) -> tuple[str, list[Any]]:
        conds, args = [f"a.project NOT IN ({PRIVATE})"], []
        for facet, values in self.filters.items():
            if facet == skip:
                continue
            args.append(list(values))
            conds.append(f"EXISTS (SELECT 1 FROM ({VALUES[facet]}) f"
                         f" WHERE f.value = ANY(${len(args)}))")
        if "status" not in self.filters and skip != "status":
            conds.append("v.status <> 'deleted'")
        for m in self.metrics:
            args.append(m.value)
            conds.append(f"(v.metadata->'metrics'->>{_quote(m.name)})::float8 {_OPS[m.op]} "
                         f"${len(args)}")
        if self.after is not None:
            args.append(self.after)
            conds.append(f"v.created_at >= to_timestamp(${len(args)}::float8 / 1000)")
        return " AND ".join(conds), args


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def total(conn: asyncpg.Connection, query: Query) -> int:
    where, args = query.where(None)
    return int(await conn.fetchval(
        "SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
        f" WHERE {where}", *args))


async def facet(conn: asyncpg.Connection, query: Query, name: str) -> dict[str, int]:
    where, args = query.where(name)
    rows = await conn.fetch(
        "SELECT x.value, count(*) AS n FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
        f" CROSS JOIN LATERAL ({VALUES[name]}) x WHERE {where} GROUP BY x.value", *args)
    return {r["value"]: r["n"] for r in rows}


async def expected(database_url: str, case: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(total, {facet: {value: count}}) for api-style parameters (`metric` expressions)."""
    filters = {k: v for k, v in case.items() if k != "metric"}
    query = Query(filters, [parse_metric(m) for m in case.get("metric", [])])
    conn = await asyncpg.connect(database_url)
    try:
        return (await total(conn, query),
                {f: await facet(conn, query, f) for f in FACETS})
    finally:
        await conn.close()


def assert_top(got: dict[str, int], want: dict[str, int], size: int, what: str) -> None:
    """A facet shows the `size` most frequent values with exact counts (ties: any of them)."""
    assert {v: want.get(v) for v in got} == got, what
    if len(want) <= size:
        assert got == want, what
    else:
        left_out = [n for v, n in want.items() if v not in got]
        assert len(got) == size and min(got.values()) >= max(left_out), what
