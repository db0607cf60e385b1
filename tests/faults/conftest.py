"""Fixtures of the network-fault suite (`scripts/test -m faults`): Toxiproxy, and a database
of the test's own so its ledger's counts are its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Namespace, admin_sql
from tests.endpoints import Endpoints
from tests.faults.toxiproxy import toxiproxy  # noqa: F401 - the fixture


@pytest.fixture
def own_database(endpoints: Endpoints, namespace: Namespace) -> Iterator[str]:
    name = f"{namespace.database}_f{uuid.uuid4().hex[:6]}"
    asyncio.run(admin_sql(endpoints.database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield namespace.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin_sql(endpoints.database_url,
                              f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
