"""Helpers for the retention tests: the CLI as a subprocess, events straight to Kafka, the
ledger's statuses, and waiting for something to become true."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service
from tests.usage_helpers import UsageWriter

CAIRN = str(Path(sys.executable).parent / "cairn")


def cli(api: Service, api_token: str, cairn_env: dict[str, str], *args: str
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cairn_env, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": api_token}
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=180)


async def record(cairn_env: dict[str, str], ns: Namespace, evs: list[dict[str, Any]]
                 ) -> dict[str, asyncpg.Record]:
    emitter = emitter_for(cairn_env)
    try:
        emitter.emit(*evs)
    finally:
        emitter.close()
    return await wait_recorded(ns.database_url, [e["event_id"] for e in evs])


def emit_uses(cairn_env: dict[str, str], uses: list[dict[str, Any]]) -> None:
    writer = UsageWriter(cairn_env)
    writer.send(*(writer.record(u) for u in uses))


async def statuses(db: str, project: str) -> dict[str, str]:
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch(
            "SELECT a.project || '/' || a.name || '@v' || v.version_number AS ref, v.status"
            " FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1",
            project)
    finally:
        await conn.close()
    return {r["ref"]: r["status"] for r in rows}


async def until(check: Any, within: float = 60.0) -> Any:
    """Call `check` (sync or async) until it answers something true, or time is up."""
    deadline = time.monotonic() + within
    while True:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.3)


async def old_versions(cairn_env: dict[str, str], ns: Namespace, prefix: str, name: str, *,
                       count: int, days: int) -> str:
    """A new project with `count` versions of model `name`, published `days` ago."""
    project = f"{prefix}-{uuid.uuid4().hex[:8]}"
    evs = [publish_event(project, name, "model") for _ in range(count)]
    for e in evs:
        e["occurred_at"] -= days * 86_400_000
    await record(cairn_env, ns, evs)
    return project


def toml_file(tmp_path: Path, project: str, rule: str, scheduled: bool = True) -> Path:
    path = tmp_path / f"{project}.toml"
    path.write_text(f"scheduled = {str(scheduled).lower()}\n[[rules]]\n{rule}\n")
    return path
