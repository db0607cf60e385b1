"""The indexer's writes on a real engine: a publish's `create` and its fall-back to the merge,
and bulks split by bytes (engines.bulk_write), for every engine the contract runs against."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.search import engines
from cairn.search.backend import SearchBackend
from cairn.search.documents import create_or_merge, merge
from cairn.search.mappings import index_body

from tests.integration.test_search_backend import _state, engine  # noqa: F401  # the fixture


async def _sources(backend: SearchBackend, alias: str) -> dict[str, dict[str, Any]]:
    await backend.refresh(alias)
    hits = (await backend.search(alias, {"size": 100, "query": {"match_all": {}}}))["hits"]
    return {h["_id"]: h["_source"] for h in hits["hits"]}


def unnamed(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("ref", "artifact", "name", "description")}


async def test_a_create_is_the_merge_of_a_missing_document_and_falls_back_to_it(
    engine: tuple[SearchBackend, str],  # noqa: F811
) -> None:
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    await backend.bulk_merge(alias, [merge(_state("by-merge", 5), 5)])
    result = await backend.bulk_write(alias, [create_or_merge(_state("by-create", 5), 5)])
    assert (result.indexed, result.conflicts, result.rejected) == (1, 0, [])
    docs = await _sources(backend, alias)
    made, created = docs["vision/by-merge@v1"], docs["vision/by-create@v1"]
    assert unnamed(made) == unnamed(created)

    # usage indexed first (a replay), then the publish: the create finds the document and
    # its merge keeps the counts; a publish redelivered after a newer state changes nothing
    usage = {"views": 3, "downloads": 1}
    await backend.bulk_merge(alias, [merge(_state("vit", 4), 4, usage)])
    result = await backend.bulk_write(alias, [create_or_merge(_state("vit", 6, stage="staging"),
                                                              6)])
    assert (result.indexed, result.conflicts) == (1, 0)
    result = await backend.bulk_write(alias, [create_or_merge(_state("vit", 2, stage="x"), 2)])
    assert (result.indexed, result.conflicts) == (0, 1)
    doc = (await _sources(backend, alias))["vision/vit@v1"]
    assert (doc["stage"], doc["as_of"]) == ("staging", 6)
    assert doc["usage"] == {"views": 3, "downloads": 1, "total": 4}


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
    writes = [create_or_merge(_state(f"m{i}", 1), 1) for i in range(40)]
    writes += [(doc_id, None, update) for doc_id, update in
               (merge(_state(f"m{i}", 2, stage="staging"), 2) for i in range(0, 40, 2))]
    result = await backend.bulk_write(alias, writes)
    assert (result.indexed, result.conflicts, result.rejected) == (60, 0, [])
    assert len(sent) > 2 and all(size <= 8 * 1024 for size in sent)
    docs = await _sources(backend, alias)
    assert len(docs) == 40
    assert sorted(k for k, d in docs.items() if d["stage"] == "staging") == sorted(
        f"vision/m{i}@v1" for i in range(0, 40, 2))
