"""One contract for SearchBackend, run against every engine that answers.

OpenSearch is the stack's engine (SEARCH_URL/SEARCH_ENGINE); Elasticsearch runs where
ELASTICSEARCH_URL points at one, and is skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cairn.search.backend import (
    ElasticsearchBackend,
    IndexMissing,
    OpenSearchBackend,
    SearchBackend,
    SearchRefused,
    SearchUnavailable,
)
from cairn.search.documents import merge, version_document
from cairn.search.mappings import index_body
from cairn.search.query import build_request, search_body
from cairn.search.results import search_response, suggest_body, suggest_response

from tests.conftest import Namespace
from tests.endpoints import Endpoints


def _elasticsearch_url() -> str:
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("Elasticsearch contract run skipped: ELASTICSEARCH_URL is not set "
                    "(no Elasticsearch on this machine)")
    try:
        info = httpx.get(url, timeout=3).json()
    except (httpx.HTTPError, ValueError) as exc:
        pytest.skip(f"Elasticsearch contract run skipped: {url} did not answer ({exc!r})")
    if info.get("version", {}).get("distribution") == "opensearch":
        pytest.skip(f"Elasticsearch contract run skipped: {url} is OpenSearch")
    return url


@pytest.fixture(params=["opensearch", "elasticsearch"])
async def engine(request: pytest.FixtureRequest, endpoints: Endpoints, namespace: Namespace
                 ) -> AsyncIterator[tuple[SearchBackend, str]]:
    if request.param == "opensearch":
        if endpoints.search_engine != "opensearch":
            pytest.skip(f"the stack's engine is {endpoints.search_engine}")
        backend: SearchBackend = OpenSearchBackend(endpoints.search_url, patience=10)
    else:
        backend = ElasticsearchBackend(_elasticsearch_url(), patience=10)
    alias = f"{namespace.index_prefix}-contract-{uuid.uuid4().hex[:6]}"
    try:
        yield backend, alias
    finally:
        for name in await backend.indices_of(alias):
            await backend.delete_index(name)
        await backend.close()


def _state(name: str, seq: int, *, stage: str | None = None, tags: list[str] | None = None,
           accuracy: float = 0.5, kind: str = "model") -> dict[str, Any]:
    meta = {"creator": "ada", "tags": tags or [], "metrics": {"accuracy": accuracy},
            "description": f"weights of {name}"}
    return {"version_number": 1, "digest": "d" * 64, "stage": stage, "aliases": ["latest"],
            "status": "active", "validation": "pending", "created_at": 1_700_000_000_000 + seq,
            "updated_seq": seq,
            "content": {"kind": kind, "project": "vision", "name": name, "digest": "d" * 64,
                        "files": [], "metadata": meta, "environment": {}, "links": [],
                        "stage": stage, "extra": "{}"}}


def _doc(state: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    doc_id, body = version_document(state)
    return doc_id, body["seq"], body


async def test_ensure_alias_is_idempotent(engine: tuple[SearchBackend, str]) -> None:
    backend, alias = engine
    first = await backend.ensure_alias(alias, index_body())
    assert await backend.ensure_alias(alias, index_body()) == first
    assert await backend.indices_of(alias) == [first]
    assert first.startswith(f"{alias}-")


async def test_racing_creators_end_with_one_write_index(engine: tuple[SearchBackend, str]
                                                        ) -> None:
    backend, alias = engine
    results = await asyncio.gather(*(backend.ensure_alias(alias, index_body()) for _ in range(4)))
    assert len(set(results)) == 1 and await backend.indices_of(alias) == [results[0]]
    assert (await backend.bulk_index(alias, [_doc(_state("after-race", 1))])).indexed == 1


async def test_external_versions_make_older_states_no_ops(engine: tuple[SearchBackend, str]
                                                          ) -> None:
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    newer = _doc(_state("resnet50", 20, stage="production"))
    older = _doc(_state("resnet50", 10, stage="development"))
    assert (await backend.bulk_index(alias, [newer])).indexed == 1
    result = await backend.bulk_index(alias, [older, newer])  # older: conflict; same: re-applied
    assert (result.indexed, result.conflicts, result.rejected) == (1, 1, [])
    await backend.refresh(alias)
    hits = (await backend.search(alias, {"query": {"match_all": {}}}))["hits"]["hits"]
    assert [(h["_id"], h["_source"]["stage"]) for h in hits] == [("vision/resnet50@v1",
                                                                  "production")]


async def test_merges_keep_the_newest_state_and_the_largest_counts(
    engine: tuple[SearchBackend, str]
) -> None:
    """documents.merge, the indexer's only write: a state as of an older seq changes nothing,
    usage counts only grow, and a state without usage keeps the counts indexed before."""
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())

    async def write(*merges: tuple[str, dict[str, Any]]) -> tuple[int, int, int]:
        result = await backend.bulk_merge(alias, merges)
        return result.indexed, result.conflicts, len(result.rejected)

    async def indexed() -> dict[str, Any]:
        await backend.refresh(alias)
        hits = (await backend.search(alias, {"query": {"match_all": {}}}))["hits"]["hits"]
        assert len(hits) == 1
        return dict(hits[0]["_source"])

    assert await write(merge(_state("vit", 5, stage="development"), 5)) == (1, 0, 0)
    usage = {"views": 3, "downloads": 1}
    assert await write(merge(_state("vit", 5, stage="development"), 6, usage)) == (1, 0, 0)
    assert await write(merge({**_state("vit", 5, stage="staging"), "aliases": []}, 9)) \
        == (1, 0, 0)  # a newer state without usage: counts kept
    assert await write(merge(_state("vit", 5, stage="production"), 7)) == (0, 1, 0)  # older
    assert await write(merge(_state("vit", 5), 8, {"views": 2, "downloads": 1})) == (0, 1, 0)
    assert await write(merge(_state("vit", 5), 8, {"views": 4, "downloads": 0})) == (1, 0, 0)
    doc = await indexed()
    assert (doc["stage"], doc["aliases"], doc["as_of"]) == ("staging", [], 9)
    assert doc["usage"] == {"views": 4, "downloads": 1, "total": 5}


async def test_facets_text_and_suggestions(engine: tuple[SearchBackend, str]) -> None:
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    states = [_state("resnet50-imagenet", 1, tags=["cv"], accuracy=0.91),
              _state("bert-base_uncased", 2, tags=["nlp"], accuracy=0.88),
              _state("imagenet-mini", 3, tags=["cv"], kind="dataset")]
    await backend.bulk_index(alias, [_doc(s) for s in states])
    await backend.refresh(alias)
    req = build_request(q="imagenet", filters={"kind": ["model"]})
    out = search_response(await backend.search(alias, search_body(req)), req)
    assert [h["id"] for h in out["hits"]] == ["vision/resnet50-imagenet@v1"]
    assert {b["value"]: b["count"] for b in out["facets"]["kind"]} == {"model": 1, "dataset": 1}
    req = build_request(q="uncased")  # the name analyzer splits on - _ .
    assert search_response(await backend.search(alias, search_body(req)), req)["total"] == 1
    req = build_request(metrics=["accuracy>=0.9"], sort="metric.accuracy")
    assert [h["name"] for h in search_response(await backend.search(alias, search_body(req)),
                                               req)["hits"]] == ["resnet50-imagenet"]
    names = suggest_response(await backend.search(alias, suggest_body("imag", "name")),
                             "imag", "name")["suggestions"]
    assert sorted(s["value"] for s in names) == ["vision/imagenet-mini",
                                                  "vision/resnet50-imagenet"]
    assert await backend.count(alias) == 3


async def test_words_split_where_letters_meet_digits(engine: tuple[SearchBackend, str]
                                                     ) -> None:
    """`resnet` finds resnet50 and ResNet-V2; `net` finds ResNet (case change); a fragment
    does not."""
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    states = [_state("resnet50-imagenet", 1), _state("ResNet-V2", 2), _state("vit-b16", 3)]
    await backend.bulk_index(alias, [_doc(s) for s in states])
    await backend.refresh(alias)

    async def names(q: str) -> list[str]:
        req = build_request(q=q)
        hits = search_response(await backend.search(alias, search_body(req)), req)["hits"]
        return sorted(h["name"] for h in hits)

    assert await names("resnet") == ["ResNet-V2", "resnet50-imagenet"]
    assert await names("resnet50") == ["resnet50-imagenet"]
    assert await names("b16") == ["vit-b16"]
    assert await names("net v2") == ["ResNet-V2"]
    assert await names("vit b") == ["vit-b16"]
    assert await names("resne") == []  # prefixes are for suggestions, not search


async def test_swap_alias_moves_readers_and_writers_atomically(
    engine: tuple[SearchBackend, str]
) -> None:
    backend, alias = engine
    old = await backend.ensure_alias(alias, index_body())
    await backend.bulk_index(alias, [_doc(_state("old-model", 1))])
    new = f"{alias}-next"
    await backend.create_index(new, index_body())
    await backend.bulk_index(new, [_doc(_state("new-model", 1))], require_alias=False)
    await backend.refresh(new)
    assert await backend.swap_alias(alias, new) == [old]
    assert await backend.indices_of(alias) == [new]
    hits = (await backend.search(alias, {"query": {"match_all": {}}}))["hits"]["hits"]
    assert [h["_source"]["name"] for h in hits] == ["new-model"]
    await backend.bulk_index(alias, [_doc(_state("written-after", 2))])  # goes to `new`
    await backend.refresh(alias)
    assert await backend.count(new) == 2
    await backend.delete_index(old)
    await backend.delete_index(old)  # deleting twice is fine


async def test_missing_alias_is_never_auto_created(engine: tuple[SearchBackend, str]) -> None:
    backend, alias = engine
    with pytest.raises(IndexMissing):
        await backend.search(alias, {"query": {"match_all": {}}})
    with pytest.raises(IndexMissing):
        await backend.bulk_index(alias, [_doc(_state("x", 1))])
    assert await backend.indices_of(alias) == []


async def test_a_bad_request_is_refused_not_retried(engine: tuple[SearchBackend, str]) -> None:
    backend, alias = engine
    await backend.ensure_alias(alias, index_body())
    with pytest.raises(SearchRefused):
        await backend.search(alias, {"query": {"no_such_query": {}}})


async def test_an_engine_that_does_not_answer_is_unavailable() -> None:
    backend = OpenSearchBackend("http://127.0.0.1:9", patience=1.0)
    try:
        with pytest.raises(SearchUnavailable):
            await backend.search("anything", {"query": {"match_all": {}}})
        assert not await backend.ping()
    finally:
        await backend.close()


async def test_an_index_made_before_a_field_gains_it_and_old_documents_count_as_not_held(
        engine: tuple[SearchBackend, str]) -> None:
    """legal_hold came after indices existed: ensure_alias adds it to the live index; a
    document written before has no value and is `legal_hold=false` until a reindex."""
    backend, alias = engine
    old = index_body()
    del old["mappings"]["properties"]["legal_hold"]
    await backend.ensure_alias(alias, old)
    doc_id, seq, body = _doc(_state("before", 1))
    del body["legal_hold"]
    await backend.bulk_index(alias, [(doc_id, seq, body)])
    await backend.ensure_alias(alias, index_body())
    await backend.bulk_index(alias, [_doc({**_state("held", 2), "legal_hold": True})])
    await backend.refresh(alias)

    async def answer(value: str) -> dict[str, Any]:
        req = build_request(filters={"legal_hold": [value]})
        return search_response(await backend.search(alias, search_body(req)), req)

    held, free = await answer("true"), await answer("false")
    assert [h["name"] for h in held["hits"]] == ["held"]
    assert [h["name"] for h in free["hits"]] == ["before"]
    assert {b["value"]: b["count"] for b in held["facets"]["legal_hold"]} == {"true": 1,
                                                                             "false": 1}
