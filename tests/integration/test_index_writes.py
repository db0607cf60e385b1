"""The index's write path on a real engine: bulks split by bytes (engines.BULK_BYTES), for
every engine the contract runs against."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.search import engines
from cairn.search.backend import SearchBackend
from cairn.search.documents import merge
from cairn.search.mappings import index_body

from tests.integration.test_search_backend import _state, engine  # noqa: F401  # the fixture


async def test_a_bulk_larger_than_the_byte_bound_goes_in_several_requests(
    engine: tuple[SearchBackend, str], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    sent: list[int] = []
    bulk = backend._bulk  # type: ignore[attr-defined]

    async def counting(body: bytes, require_alias: bool) -> Any:
        sent.append(len(body))
        return await bulk(body, require_alias)

    monkeypatch.setattr(backend, "_bulk", counting)
    monkeypatch.setattr(engines, "BULK_BYTES", 8 * 1024)
    merges = [merge(_state(f"m{i}", 1), 1) for i in range(40)]
    merges += [merge(_state(f"m{i}", 2, stage="staging"), 2) for i in range(0, 40, 2)]
    merges += [merge(_state("m1", 1, stage="production"), 0)]  # older: a no-op
    result = await backend.bulk_merge(alias, merges)
    assert (result.indexed, result.conflicts, result.rejected) == (60, 1, [])
    assert len(sent) > 2 and all(size <= 8 * 1024 for size in sent)
    await backend.refresh(alias)
    hits = (await backend.search(alias, {"size": 100, "query": {"match_all": {}}}))["hits"]
    docs = {h["_id"]: h["_source"] for h in hits["hits"]}
    assert len(docs) == 40
    assert sorted(k for k, d in docs.items() if d["stage"] == "staging") == sorted(
        f"vision/m{i}@v1" for i in range(0, 40, 2))
