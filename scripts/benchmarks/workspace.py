"""A private namespace (topic prefix, database, blob dir) with Cairn services for one benchmark."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests.processes import Service


@contextmanager
def workspace(services: tuple[str, ...] = ("ledger",)) -> Iterator[tuple[dict[str, str], dict[str, Service]]]:
    run = uuid.uuid4().hex[:8]
    admin_url = os.environ["DATABASE_URL"]
    database = f"cairn_bench_{run}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    env = {
        **{k: os.environ[k] for k in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL",
                                      "SEARCH_URL", "SEARCH_ENGINE")},
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{database}",
        "CAIRN_TOPIC_PREFIX": f"bench.{run}.",
        "CAIRN_INDEX_PREFIX": f"bench-{run}",
        "CAIRN_BLOB_DIR": str(tmp / "blobs"),
        "CAIRN_API_TOKENS": "bench=bench-token",
        "CAIRN_TOKEN": "bench-token",
    }
    running: dict[str, Service] = {}
    try:
        for name in services:
            running[name] = Service(name, env, tmp).start()
        yield env, running
    finally:
        for svc in running.values():
            svc.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
