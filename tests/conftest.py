"""Test harness: real services for integration tests, a private namespace per run.

Tests under tests/integration and tests/e2e are marked `integration` automatically; only
they ask for the `endpoints` fixture, so unit tests run without any service.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests import endpoints as discovery
from tests.endpoints import ROOT
from tests.processes import Service


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts or "e2e" in parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def endpoints() -> Iterator[discovery.Endpoints]:
    found = discovery.from_environment()
    if found is not None:
        yield found
    elif discovery.docker_answers():
        with discovery.from_testcontainers() as found:
            yield found
    else:
        yield discovery.from_local_stack()


@dataclass(frozen=True)
class Namespace:
    """Names private to one test run, so concurrent runs never see each other's data."""

    run_id: str
    topic_prefix: str
    index_prefix: str
    database: str
    database_url: str


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


async def admin_sql(database_url: str, sql: str) -> None:
    """One statement on the stack's database (CREATE/DROP DATABASE cannot run in a
    transaction, so no pool, no transaction)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def namespace(endpoints: discovery.Endpoints) -> Iterator[Namespace]:
    with private_namespace(endpoints) as ns:
        yield ns


@contextmanager
def private_namespace(endpoints: discovery.Endpoints) -> Iterator[Namespace]:
    """A new database, topic prefix and index prefix, dropped on the way out."""
    run_id = uuid.uuid4().hex[:10]
    database = f"cairn_test_{run_id}"

    asyncio.run(admin_sql(endpoints.database_url, f'CREATE DATABASE "{database}"'))
    try:
        yield Namespace(
            run_id=run_id,
            topic_prefix=f"test.{run_id}.",
            index_prefix=f"test-{run_id}",
            database=database,
            database_url=_with_database(endpoints.database_url, database),
        )
    finally:
        asyncio.run(admin_sql(endpoints.database_url,
                              f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


SIGNING_KEY = secrets.token_hex(32)  # this run's CAIRN_SIGNING_KEY (service_env)
WEBHOOK_KEY = secrets.token_hex(32)  # this run's CAIRN_WEBHOOK_KEY (service_env, `notifier`)


def service_env(endpoints: discovery.Endpoints, ns: Namespace, blob_dir: Path) -> dict[str, str]:
    """The environment of a Cairn service inside this run's namespace."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka,
        "SCHEMA_REGISTRY_URL": endpoints.registry,
        "SEARCH_URL": endpoints.search_url,
        "SEARCH_ENGINE": endpoints.search_engine,
        "DATABASE_URL": ns.database_url,
        "CAIRN_TOPIC_PREFIX": ns.topic_prefix,
        "CAIRN_INDEX_PREFIX": ns.index_prefix,
        "CAIRN_BLOB_DIR": str(blob_dir),
        "CAIRN_ENVIRONMENT": "development",  # fixed tokens
        # This run's own keys, as scripts/stack makes per stack: no key in the source works.
        "CAIRN_SIGNING_KEY": SIGNING_KEY,
        "CAIRN_WEBHOOK_KEY": WEBHOOK_KEY,
    }


@pytest.fixture(scope="session")
def cairn_env(
    endpoints: discovery.Endpoints, namespace: Namespace, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return service_env(endpoints, namespace, tmp_path_factory.mktemp("blobs"))


@pytest.fixture(scope="session")
def ledger(cairn_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Service]:
    service = Service("ledger", cairn_env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def indexer(cairn_env: dict[str, str], ledger: Service, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Service]:
    """The real indexer on this run's changelog, usage totals and index alias (after the
    ledger, which makes both topics; it reads no table). The run's indices go with it."""
    from tests.search_helpers import drop_indices

    service = Service("indexer", cairn_env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()
        drop_indices(cairn_env["SEARCH_URL"], cairn_env["CAIRN_INDEX_PREFIX"])


VALIDATED_PROJECTS = "val-*"  # the validator judges only these: other tests' logs stay theirs


@pytest.fixture(scope="session")
def validation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo's validation/ that tests add project rules to while it runs."""
    root = tmp_path_factory.mktemp("validation") / "validation"
    shutil.copytree(ROOT / "validation", root)
    (root / "projects").mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def validator(cairn_env: dict[str, str], ledger: Service, validation_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real validator, judging projects named val-*; hooks may call loopback."""
    env = {**cairn_env, "CAIRN_VALIDATION_DIR": str(validation_dir),
           "CAIRN_ALLOW_PRIVATE_HOOKS": "true", "CAIRN_VALIDATOR_PROJECTS": VALIDATED_PROJECTS}
    service = Service("validator", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


WEBHOOK_RETRIES = {"CAIRN_WEBHOOK_ATTEMPTS": "4", "CAIRN_WEBHOOK_BACKOFF": "0.4",
                   "CAIRN_WEBHOOK_TIMEOUT": "2"}  # delays 0.4, 0.8, 1.6 s, then dead


@pytest.fixture(scope="session")
def notifier(cairn_env: dict[str, str], ledger: Service, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Service]:
    """The real notifier: webhooks may target loopback, retries are quick, key WEBHOOK_KEY."""
    env = {**cairn_env, **WEBHOOK_RETRIES, "CAIRN_WEBHOOK_KEY": WEBHOOK_KEY,
           "CAIRN_ALLOW_PRIVATE_WEBHOOKS": "true"}
    service = Service("notifier", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


API_ACTOR = "alice"
API_TOKEN = "secret-token"  # the fixed token the `api` fixture's CAIRN_API_TOKENS gives alice


def api_env(cairn_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of an api in this run's namespace that accepts API_TOKEN."""
    return {**cairn_env, "CAIRN_API_TOKENS": f"{API_ACTOR}={API_TOKEN}", **extra}


@pytest.fixture(scope="session")
def api_token() -> str:
    return API_TOKEN


@pytest.fixture(scope="session")
def api(
    cairn_env: dict[str, str], ledger: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The real api, started after the ledger (whose tables it reads); writes need API_TOKEN."""
    service = Service("api", api_env(cairn_env), tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


ARCHIVER_INTERVAL = "3"  # seconds between scheduled retention runs in tests


@pytest.fixture(scope="session")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture(scope="session")
def archiver(cairn_env: dict[str, str], ledger: Service, archive_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real archiver: blobs to and from `archive_dir`, scheduled runs every few seconds."""
    env = {**cairn_env, "CAIRN_ARCHIVE_DIR": str(archive_dir),
           "CAIRN_ARCHIVER_INTERVAL": ARCHIVER_INTERVAL}
    service = Service("archiver", env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()
