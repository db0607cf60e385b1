"""Facet counts on the real engine equal a plain-Python count of the same documents, for many
filter combinations and callers: the guard for how search_body shapes its aggregations (the
facets without a filter of their own share one) and for the dataset facet's two ways of
leaving out what a caller may not see (an `include` pattern of the seen projects, or the
script past MAX_PATTERN characters). Project names with `.` and `-`, and a missing project whose
name a pattern with an unescaped `.` would match, are in the corpus on purpose.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cairn.search import query
from cairn.search.backend import OpenSearchBackend, SearchBackend
from cairn.search.documents import version_document
from cairn.search.mappings import index_body
from cairn.search.query import FACETS, SearchRequest, build_request, dataset_seen, search_body
from cairn.search.results import search_response

from tests.endpoints import Endpoints

PROJECTS = ("ab", "ab.c", "x-y", "secret")  # that exist; "abxc" and "gone" do not
DATASETS = ("ab/d1", "ab.c/d2", "x-y/d3", "secret/d4", "gone/d5", "abxc/d6", "sha256:" + "e" * 64)
CALLERS = {
    "site admin": {"known_projects": None},
    "member of all": {"known_projects": PROJECTS},
    "stranger": {"hidden_projects": ("secret",), "known_projects": PROJECTS},
    "hidden, no list": {"hidden_projects": ("secret",)},
}


def _states(n: int, rng: random.Random) -> list[dict[str, Any]]:
    states = []
    for i in range(n):
        project = rng.choice(PROJECTS)
        meta = {"creator": rng.choice(("ana", "ben", "chen")),
                "tags": rng.sample(("cv", "nlp", "baseline", "nightly"), rng.randint(0, 2)),
                "license": rng.choice(("mit", "apache-2.0", None)),
                "framework": rng.choice(("pytorch", "jax", None)),
                "owner_team": rng.choice(("vision", "platform"))}
        links = [{"relation": "trained_on", "target": d}
                 for d in rng.sample(DATASETS, rng.randint(0, 2))]
        content = {"kind": rng.choice(("model", "dataset", "eval_log")), "project": project,
                   "name": f"a{i}", "digest": "d" * 64, "files": [], "metadata": meta,
                   "environment": {"python": rng.choice(("3.11", "3.12"))}, "links": links,
                   "stage": None, "extra": "{}"}
        states.append({"version_number": 1, "digest": "d" * 64, "content": content,
                       "stage": rng.choice((None, "staging", "production")),
                       "aliases": rng.sample(("latest", "prod"), rng.randint(0, 1)),
                       "status": rng.choice(("active", "active", "deprecated", "deleted")),
                       "validation": rng.choice(("passed", "failed", "pending")),
                       "created_at": 1_700_000_000_000 + i, "updated_seq": i + 1,
                       "legal_hold": rng.random() < 0.2})
    return states


def _values(doc: dict[str, Any], facet: str) -> list[str]:
    value = doc.get(FACETS[facet])
    if facet == "legal_hold":
        return ["true" if value else "false"]
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _passes(doc: dict[str, Any], req: SearchRequest, facet: str) -> bool:
    """Whether a document passes one facet's filter, as query.facet_clause means it."""
    wanted = req.filters.get(facet)
    if not wanted:
        return facet != "status" or doc["status"] != query.HIDDEN_STATUS
    if facet == "dataset":
        wanted = tuple(v for v in wanted if dataset_seen(req, v))
    return bool(set(wanted) & set(_values(doc, facet)))


def _expected(docs: list[dict[str, Any]], req: SearchRequest) -> dict[str, Any]:
    """Every facet counted over the visible documents passing every filter but its own."""
    visible = [d for d in docs if d["project"] not in req.hidden_projects]
    facets = {}
    for facet in FACETS:
        counts: Counter[str] = Counter()
        for doc in visible:
            if all(_passes(doc, req, other) for other in FACETS if other != facet):
                counts.update(v for v in set(_values(doc, facet))
                              if facet != "dataset" or dataset_seen(req, v))
        facets[facet] = sorted(({"value": v, "count": c} for v, c in counts.items()),
                               key=lambda b: (-b["count"], b["value"]))
    total = sum(1 for d in visible if all(_passes(d, req, f) for f in FACETS))
    return {"total": total, "facets": facets}


def _requests(rng: random.Random) -> list[dict[str, Any]]:
    """Filter combinations: none, one facet, several, several values, unseen datasets."""
    pools = {"kind": ("model", "dataset"), "project": PROJECTS, "tag": ("cv", "nlp"),
             "creator": ("ana", "ben"), "status": ("active", "deleted", "deprecated"),
             "dataset": DATASETS, "legal_hold": ("true", "false"), "stage": ("staging",),
             "framework": ("pytorch",), "alias": ("latest",)}
    out: list[dict[str, Any]] = [{}, {"dataset": ["abxc/d6"]}, {"status": ["deleted"]}]
    for _ in range(25):
        chosen = rng.sample(sorted(pools), rng.randint(1, 4))
        out.append({f: rng.sample(pools[f], rng.randint(1, min(2, len(pools[f]))))
                    for f in chosen})
    return out


@pytest.fixture
async def corpus(endpoints: Endpoints) -> AsyncIterator[tuple[SearchBackend, str, list[Any]]]:
    if endpoints.search_engine != "opensearch":
        pytest.skip(f"the stack's engine is {endpoints.search_engine}")
    backend = OpenSearchBackend(endpoints.search_url, patience=10)
    alias = f"test-facets-{uuid.uuid4().hex[:8]}"
    try:
        await backend.ensure_alias(alias, index_body())
        docs = [version_document(s) for s in _states(300, random.Random(5))]
        await backend.bulk_index(alias, [(i, b["seq"], b) for i, b in docs])
        await backend.refresh(alias)
        yield backend, alias, [b for _, b in docs]
    finally:
        for name in await backend.indices_of(alias):
            await backend.delete_index(name)
        await backend.close()


@pytest.mark.parametrize("max_pattern", [query.MAX_PATTERN, 0], ids=["pattern", "script"])
async def test_every_facet_count_equals_a_plain_count(
    corpus: tuple[SearchBackend, str, list[Any]], max_pattern: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(query, "MAX_PATTERN", max_pattern)
    backend, alias, docs = corpus
    checked = 0
    for filters in _requests(random.Random(9)):
        for caller, seen in CALLERS.items():
            req = build_request(filters=filters, facet_size=50, **seen)
            got = search_response(await backend.search(alias, search_body(req)), req)
            want = _expected(docs, req)
            assert {"total": got["total"], "facets": got["facets"]} == want, (caller, filters)
            checked += 1
    assert checked == 28 * len(CALLERS)
    some = _expected(docs, build_request(known_projects=PROJECTS))["facets"]
    assert {b["value"] for b in some["dataset"]} == {"ab/d1", "ab.c/d2", "x-y/d3", "secret/d4"}
