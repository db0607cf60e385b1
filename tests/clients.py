"""Module-scoped clients of the `api` fixture's api, for test modules to import:

    from tests.clients import http_fixture, sdk_fixture  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cairn.sdk import Client

from tests.ledger_helpers import settings_for
from tests.processes import Service


@pytest.fixture(scope="module", name="http")
def http_fixture(api: Service) -> Iterator[httpx.Client]:
    """Anonymous: what anyone may read."""
    with httpx.Client(base_url=api.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module", name="sdk")
def sdk_fixture(api: Service, api_token: str, cairn_env: dict[str, str]) -> Iterator[Client]:
    """The SDK with the api fixture's write token."""
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client
