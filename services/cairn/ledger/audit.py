"""Verify the ledger's hash chain straight from PostgreSQL (`cairn audit verify`).

The hash covers each entry's event, outcome and recording time. The columns people filter
and read the log by (event_id, artifact, event_type, actor, occurred_at: what
GET /v1/audit shows) are copies of the event, so they are checked against it too: a row
changed by hand anywhere a reader would look breaks verification at that seq.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from cairn.core import chain
from cairn.core.config_items import LOG_ONLY

CONFIG_EVENT_TYPE = "ConfigChanged"  # cairn.ledger.config.EVENT_TYPE (that module needs faust)


async def _rows(conn: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(
            "SELECT seq, event, outcome, recorded_at, prev_hash, hash, event_id, artifact,"
            " event_type, actor, occurred_at FROM event_log ORDER BY seq",
            prefetch=2000,
        ):
            yield {
                "columns": {"event_id": str(row["event_id"]), "artifact": row["artifact"],
                            "event_type": row["event_type"], "actor": row["actor"],
                            "occurred_at": round(row["occurred_at"].timestamp() * 1000)},
                "seq": row["seq"],
                "event": json.loads(row["event"]),
                "outcome": row["outcome"],
                "recorded_at_ms": int(row["recorded_at"].timestamp() * 1000),
                "prev_hash": row["prev_hash"],
                "hash": row["hash"],
            }


def copied(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the columns beside an event must say, given the event (artifact or config)."""
    if "payload" in event:
        subject, kind = event["artifact"], str(event["payload"][0]).rsplit(".", 1)[-1]
    else:
        subject = f"{event['kind']}/{event['key']}"
        kind = LOG_ONLY.get(event["kind"], CONFIG_EVENT_TYPE)
    return {"event_id": str(event["event_id"]), "artifact": subject, "event_type": kind,
            "actor": event["actor"], "occurred_at": int(event["occurred_at"])}


def first_copy_mismatch(rows: list[dict[str, Any]]) -> chain.ChainReport | None:
    for row in rows:
        wanted = copied(row["event"])
        wrong = sorted(k for k, v in row["columns"].items() if wanted[k] != v)
        if wrong:
            return chain.ChainReport(len(rows), row["seq"], f"seq {row['seq']} was changed "
                                     f"after it was recorded: {', '.join(wrong)} no longer "
                                     "match the chained event")
    return None


async def verify_chain(database_url: str) -> chain.ChainReport:
    conn = await asyncpg.connect(database_url)
    try:
        rows = [r async for r in _rows(conn)]
        report = chain.verify(rows)
        mismatch = first_copy_mismatch(rows)
        if mismatch is not None and (report.ok or mismatch.first_bad_seq < report.first_bad_seq):
            return mismatch
        head = await conn.fetchrow("SELECT seq, hash FROM chain_head WHERE id = 1")
        if (
            report.ok
            and rows
            and (head["seq"], head["hash"]) != (rows[-1]["seq"], rows[-1]["hash"])
        ):
            return chain.ChainReport(
                report.entries, head["seq"], "the chain head does not match the last entry"
            )
        return report
    finally:
        await conn.close()
