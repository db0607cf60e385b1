"""A version's usage as the ledger last added it up (`usage_counts`, a few seconds behind
the reads and downloads themselves)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cairn.readmodel.versions import Db

USAGE_SQL = ("SELECT views, downloads, retrieves, retrieve_ms_total, last_used_at"
             " FROM usage_counts WHERE version_id = $1")


@dataclass(frozen=True)
class Usage:
    views: int
    downloads: int
    retrieves: int
    retrieve_ms_total: int
    last_used_at: dt.datetime | None


async def version_usage(db: Db, version_id: int) -> Usage | None:
    """The version's counts, or None when nobody used it yet."""
    row = await db.fetchrow(USAGE_SQL, version_id)
    return None if row is None else Usage(row["views"], row["downloads"], row["retrieves"],
                                          row["retrieve_ms_total"], row["last_used_at"])
