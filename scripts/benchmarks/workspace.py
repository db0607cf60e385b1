"""A private namespace (topic prefix, database, blob dir) with Cairn services for one benchmark."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from tests.processes import Service


@contextmanager
def workspace(services: tuple[str, ...] = ("ledger",), *, purge: bool = False
              ) -> Iterator[tuple[dict[str, str], dict[str, Service]]]:
    """`purge` also deletes the run's topics, consumer groups and search indices at the end,
    for benchmarks that fill them with enough data to matter."""
    run = uuid.uuid4().hex[:8]
    admin_url = os.environ["DATABASE_URL"]
    database = f"cairn_bench_{run}"
    token = secrets.token_hex(24)  # random and long, as an api outside development demands

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
        "CAIRN_API_TOKENS": f"bench={token}",
        "CAIRN_TOKEN": token,
        # The run's own keys: its services and its emitters (the same env) sign with them.
        "CAIRN_SIGNING_KEY": secrets.token_hex(32),
        "CAIRN_WEBHOOK_KEY": secrets.token_hex(32),
    }
    running: dict[str, Service] = {}
    try:
        for name in services:
            running[name] = Service(name, env, tmp).start()
        yield env, running
    finally:
        for svc in running.values():
            svc.stop()
        if purge:
            purge_namespace(env)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def purge_namespace(env: dict[str, str]) -> None:
    """Delete what carries this run's prefixes: topics, consumer groups, indices and schema
    subjects. Best effort: a leftover is garbage, not a failed benchmark."""
    from confluent_kafka.admin import AdminClient

    from tests.search_helpers import drop_indices

    prefix = env["CAIRN_TOPIC_PREFIX"]
    kafka = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
    try:
        groups = kafka.list_consumer_groups().result(timeout=15).valid
        ours = [g.group_id for g in groups if g.group_id.startswith(prefix)]
        for future in (kafka.delete_consumer_groups(ours).values() if ours else ()):
            future.result(timeout=30)
        topics = [t for t in kafka.list_topics(timeout=15).topics if t.startswith(prefix)]
        for future in (kafka.delete_topics(topics).values() if topics else ()):
            future.result(timeout=30)
    except Exception as exc:
        print(f"could not delete the {prefix}* topics or groups: {exc}", file=sys.stderr)
    drop_indices(env["SEARCH_URL"], env["CAIRN_INDEX_PREFIX"])
    registry = env["SCHEMA_REGISTRY_URL"]
    try:
        subjects = httpx.get(f"{registry}/subjects", timeout=15).json()
        for subject in (s for s in subjects if s.startswith(prefix)):
            httpx.delete(f"{registry}/subjects/{subject}", timeout=15)
            httpx.delete(f"{registry}/subjects/{subject}", params={"permanent": "true"},
                         timeout=15)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"could not delete the {prefix}* schema subjects: {exc}", file=sys.stderr)
