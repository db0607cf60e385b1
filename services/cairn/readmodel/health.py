"""Whether PostgreSQL answers at all (the api's readiness probe)."""

from __future__ import annotations

from cairn.readmodel.config import Db


async def ping(db: Db) -> None:
    """Returns once PostgreSQL ran a trivial query; raises what the driver raised."""
    await db.fetchval("SELECT 1")
