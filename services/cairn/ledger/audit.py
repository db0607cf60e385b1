"""Verify the ledger's hash chain straight from PostgreSQL (`cairn audit verify`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from cairn.core import chain


async def _rows(conn: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(
            "SELECT seq, event, outcome, recorded_at, prev_hash, hash FROM event_log ORDER BY seq",
            prefetch=2000,
        ):
            yield {
                "seq": row["seq"],
                "event": json.loads(row["event"]),
                "outcome": row["outcome"],
                "recorded_at_ms": int(row["recorded_at"].timestamp() * 1000),
                "prev_hash": row["prev_hash"],
                "hash": row["hash"],
            }


async def verify_chain(database_url: str) -> chain.ChainReport:
    conn = await asyncpg.connect(database_url)
    try:
        rows = [r async for r in _rows(conn)]
        report = chain.verify(rows)
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
