"""The indexer reads no PostgreSQL: started without DATABASE_URL, it indexes publishes, alias
moves and usage counts exactly as the ledger has them, live and on a replay.

Everything it needs arrives on Kafka: a changelog record carries the states of the versions
an event took an alias from (`alias_losers`), and the ledger publishes usage totals after it
counts them (cairn.usage.totals). Without DATABASE_URL the settings' default points at the
stack's own database, not this run's, so an indexer that still read usage or aliases from
PostgreSQL would find none of this run's versions there. The indexer processes are also
checked to hold no socket to PostgreSQL's port.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from cairn.core.domain.events import new_event
from cairn.core.domain.usage import usage_event

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event
from tests.processes import Service
from tests.search_helpers import backend_of, drop_indices, index_documents, ledger_documents
from tests.usage_helpers import UsageWriter


def start_without_database(env: dict[str, str], prefix: str, log_dir: Path) -> Service:
    """An indexer with its own index prefix (so its own consumer group: it reads both topics
    from the beginning) and no DATABASE_URL in its environment at all."""
    service = Service("indexer", {**env, "CAIRN_INDEX_PREFIX": prefix}, log_dir)
    service.env.pop("DATABASE_URL", None)  # Service starts from os.environ, which may have it
    return service.start()


def sockets_to_port(pid: int, port: int) -> list[str]:
    """TCP connections of process `pid` whose remote end is `port` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote, inode = fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                found.append(line.strip())
    return found


@pytest.fixture(scope="module")
def live_indexer(cairn_env: dict[str, str], ledger: Service, namespace: Namespace,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    prefix = f"{namespace.index_prefix}-nodb"
    service = start_without_database(cairn_env, prefix, tmp_path_factory.mktemp("logs"))
    try:
        yield service
    finally:
        service.stop()
        drop_indices(cairn_env["SEARCH_URL"], prefix)


def _event(artifact: str, kind: str, **body: Any) -> dict[str, Any]:
    return new_event(artifact, kind, body, actor="tester", tool="test")


def history(p: str) -> list[dict[str, Any]]:
    """`latest` moves twice, `prod` moves from v1 to v2, `champion` is set and removed."""
    model = f"{p}/model"
    return [
        publish_event(p, "model", "model"),
        _event(model, "AliasMoved", alias="prod", version="v1"),
        _event(model, "AliasMoved", alias="champion", version="v1"),
        publish_event(p, "model", "model"),  # takes latest from v1
        _event(model, "AliasMoved", alias="prod", version="v2"),  # takes prod from v1
        publish_event(p, "model", "model"),  # takes latest from v2
        _event(model, "AliasMoved", alias="champion", version=None),  # v1 loses it
        publish_event(p, "data", "dataset"),
    ]


async def _digests(database_url: str, project: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT a.name, v.version_number, v.digest FROM versions v"
            " JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1", project)
    finally:
        await conn.close()
    return {f"{project}/{r['name']}@v{r['version_number']}": r["digest"] for r in rows}


async def _until_index_is_ledger(env: dict[str, str], database_url: str, artifacts: list[str],
                                 patience: float = 180.0) -> dict[str, dict[str, Any]]:
    """Poll until the index's documents of `artifacts` equal those the ledger's tables make
    (usage included); the last difference is the failure message otherwise."""
    backend, alias = backend_of(env)
    deadline = time.monotonic() + patience
    try:
        while True:
            want = await ledger_documents(database_url, artifacts)
            try:
                got = await index_documents(backend, alias, artifacts)
            except LookupError:
                got = {}
            if got == want:
                return got
            if time.monotonic() > deadline:
                diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want)
                        if got.get(k) != want.get(k)}
                raise AssertionError(f"index differs from the ledger: {diff}")
            await asyncio.sleep(0.5)
    finally:
        await backend.close()


async def test_an_indexer_without_database_indexes_aliases_and_usage_live_and_on_replay(
    live_indexer: Service, cairn_env: dict[str, str], namespace: Namespace,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    p = f"nodb{uuid.uuid4().hex[:6]}"
    got = await emit_recorded(cairn_env, namespace.database_url, history(p))
    assert {r["outcome"] for r in got.values()} == {"applied"}
    digests = await _digests(namespace.database_url, p)
    usage = UsageWriter(cairn_env)
    uses = [(f"{p}/model@v1", "view")] * 3 + [(f"{p}/model@v3", "download")] * 2 \
        + [(f"{p}/data@v1", "view")]
    usage.send(*(usage.record(usage_event(ref.split("@")[0], digests[ref], action,
                                          actor="tester", tool="test"))
                 for ref, action in uses))
    artifacts = [f"{p}/model", f"{p}/data"]

    live = await _until_index_is_ledger(
        {**cairn_env, "CAIRN_INDEX_PREFIX": f"{namespace.index_prefix}-nodb"},
        namespace.database_url, artifacts)
    # the ledger's side of the comparison really holds the moves and the counts
    assert {ref: doc["aliases"] for ref, doc in live.items()} == {
        f"{p}/model@v1": [], f"{p}/model@v2": ["prod"], f"{p}/model@v3": ["latest"],
        f"{p}/data@v1": ["latest"]}
    assert live[f"{p}/model@v1"]["usage"] == {"views": 3, "downloads": 0, "total": 3}
    assert live[f"{p}/model@v3"]["usage"] == {"views": 0, "downloads": 2, "total": 2}

    prefix = f"{namespace.index_prefix}-nodb-replay"
    replay = start_without_database(cairn_env, prefix, tmp_path_factory.mktemp("logs"))
    try:
        replayed = await _until_index_is_ledger({**cairn_env, "CAIRN_INDEX_PREFIX": prefix},
                                                namespace.database_url, artifacts)
        assert replayed == live
        pg_port = urlsplit(namespace.database_url).port or 5432
        for service in (live_indexer, replay):
            assert service.proc is not None
            assert sockets_to_port(service.proc.pid, pg_port) == []
    finally:
        replay.stop()
        drop_indices(cairn_env["SEARCH_URL"], prefix)
