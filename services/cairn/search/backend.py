"""One small search interface, two engines: OpenSearch (opensearch-py) and Elasticsearch
(elasticsearch). Each needs its own client because the Elasticsearch client refuses any
server that is not Elasticsearch; everything above this module sees only SearchBackend.

Documents carry an external version (`external_gte`), so a retried or redelivered bulk
re-applies identical content and an older state is a counted no-op (engines.py has the
retry and error rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cairn.core.adapters.settings import Settings
from cairn.search.engines import BULK_FIELDS, BulkResult, Doc, EngineBackend
from cairn.search.errors import (
    IndexMissing,
    SearchRefused,
    SearchUnavailable,
    classify_elasticsearch,
    classify_opensearch,
)

__all__ = ["BulkResult", "Doc", "ElasticsearchBackend", "IndexMissing", "OpenSearchBackend",
           "SearchBackend", "SearchRefused", "SearchUnavailable", "alias_name", "backend_for"]


class SearchBackend(Protocol):
    engine: str

    async def ensure_alias(self, alias: str, index_body: Mapping[str, Any]) -> str: ...
    async def create_index(self, name: str, index_body: Mapping[str, Any]) -> None: ...
    async def bulk_index(self, target: str, docs: Sequence[Doc], *,
                         require_alias: bool = True) -> BulkResult: ...
    async def bulk_merge(self, target: str, updates: Sequence[tuple[str, Mapping[str, Any]]],
                         *, require_alias: bool = True) -> BulkResult: ...
    async def search(self, alias: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def count(self, alias: str, query: Mapping[str, Any] | None = None) -> int: ...
    async def refresh(self, alias: str) -> None: ...
    async def indices_of(self, alias: str) -> list[str]: ...
    async def swap_alias(self, alias: str, new_index: str) -> list[str]: ...
    async def delete_index(self, name: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


def nodes(url: str) -> list[str]:
    """SEARCH_URL's nodes: one URL, or several separated by commas (a cluster's nodes: the
    client sends each request to a live one, so one node may go down)."""
    return [u.strip() for u in url.split(",") if u.strip()]


class OpenSearchBackend(EngineBackend):
    engine = "opensearch"
    classify = staticmethod(classify_opensearch)

    def __init__(self, url: str, patience: float | None = 30.0, timeout: float = 30.0) -> None:
        from opensearchpy import AsyncOpenSearch

        super().__init__(AsyncOpenSearch(hosts=nodes(url), timeout=timeout, max_retries=0),
                         patience)


class ElasticsearchBackend(EngineBackend):
    engine = "elasticsearch"
    classify = staticmethod(classify_elasticsearch)

    def __init__(self, url: str, patience: float | None = 30.0, timeout: float = 30.0) -> None:
        from elasticsearch import AsyncElasticsearch

        super().__init__(AsyncElasticsearch(nodes(url), request_timeout=timeout, max_retries=0,
                                            retry_on_timeout=False), patience)

    async def _bulk(self, body: bytes, require_alias: bool) -> Any:
        return await self.client.bulk(operations=body, require_alias=require_alias,
                                      filter_path=BULK_FIELDS)


def backend_for(settings: Settings, patience: float | None = 30.0) -> SearchBackend:
    """The backend of SEARCH_ENGINE at SEARCH_URL."""
    kind = OpenSearchBackend if settings.search_engine == "opensearch" else ElasticsearchBackend
    return kind(settings.search_url, patience)


def alias_name(settings: Settings) -> str:
    """The alias every reader and writer uses; physical indices are `<alias>-<timestamp>`."""
    return f"{settings.index_prefix}-versions"
