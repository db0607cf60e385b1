"""10,000 generated artifacts: every facet count and filtered total equals the ledger's,
and `cairn reindex` under a loop of searches fails none of them and changes no answer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cairn.search.query import FACETS

from tests import search_oracle as oracle
from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, publish_event, wait_recorded
from tests.processes import Service
from tests.search_corpus import corpus_events
from tests.search_helpers import (
    backend_of,
    index_documents,
    ledger_documents,
    wait_index_matches_ledger,
)

pytestmark = pytest.mark.timeout(900)
ARTIFACTS = int(os.environ.get("CAIRN_TEST_CORPUS", "10000"))
FACET_SIZE = 500  # the api's largest: enough for every facet but `dataset` (thousands)


@pytest.fixture(scope="module")
def corpus(indexer: Service, cairn_env: dict[str, str], namespace: Namespace) -> dict[str, float]:
    """Publish the corpus straight to Kafka; timings of each stage (printed with -s)."""
    events = corpus_events(namespace.run_id, ARTIFACTS)
    started = time.monotonic()
    emitter = emitter_for(cairn_env)
    try:
        emitter.emit(*events)
    finally:
        emitter.close()
    emitted = time.monotonic()

    async def settle() -> float:
        got = await wait_recorded(namespace.database_url, [e["event_id"] for e in events],
                                  patience_s=600)
        assert len(got) == len(events)
        recorded = time.monotonic()
        backend, alias = backend_of(cairn_env)
        try:
            await wait_index_matches_ledger(backend, alias, namespace.database_url, 600)
        finally:
            await backend.close()
        return recorded

    recorded = asyncio.run(settle())
    timings = {"events": len(events), "emit_s": round(emitted - started, 1),
               "recorded_s": round(recorded - started, 1),
               "indexed_s": round(time.monotonic() - started, 1)}
    print(f"\ncorpus timings: {json.dumps(timings)}")
    return timings


@pytest.fixture(scope="module")
def http(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60) as c:
        yield c


CASES: list[dict[str, Any]] = [
    {},
    {"kind": ["model"]},
    {"kind": ["model"], "tag": ["nlp"]},
    {"license": ["mit", "apache-2.0"], "stage": ["staging", "production"]},
    {"tag": ["cv", "audio"], "owner_team": ["vision"], "creator": ["user03", "user07"]},
    {"framework": ["pytorch"], "metric": ["accuracy>=0.9"]},
    {"kind": ["eval_log"], "metric": ["loss<0.5", "accuracy>0.6"]},
    {"status": ["archived", "deleted"]},
    {"validation": ["valid", "invalid", "passed", "failed", "warning"]},
    {"alias": ["latest"], "kind": ["dataset"]},
    {"legal_hold": ["true"]},
    {"legal_hold": ["false"], "kind": ["model"], "tag": ["nlp"]},
]


def _api_facets(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {f: {b["value"]: b["count"] for b in answer["facets"][f]} for f in FACETS}


def test_every_facet_count_and_total_equals_the_ledger(
    corpus: dict[str, float], http: httpx.Client, namespace: Namespace
) -> None:
    for case in CASES:
        reply = http.get("/v1/search", params={**case, "facet_size": FACET_SIZE, "size": 1})
        assert reply.status_code == 200, reply.text
        total, facets = asyncio.run(oracle.expected(namespace.database_url, case))
        assert reply.json()["total"] == total, case
        for name, got in _api_facets(reply.json()).items():
            oracle.assert_top(got, facets[name], FACET_SIZE, f"{name} facet of {case}")
    every = asyncio.run(oracle.expected(namespace.database_url, {}))
    assert every[0] >= ARTIFACTS  # the corpus (and what other tests published) is all there
    assert every[1]["dataset"] and every[1]["stage"] and len(every[1]["tag"]) >= 12
    # a dataset facet value used as a filter finds the versions that used it
    dataset = max(every[1]["dataset"], key=every[1]["dataset"].get)
    reply = http.get("/v1/search", params={"dataset": dataset, "size": 1})
    assert reply.json()["total"] == every[1]["dataset"][dataset]


QUERIES: list[dict[str, Any]] = [
    {"sort": "created", "size": 50},
    {"kind": "model", "tag": "nlp", "sort": "metric.accuracy", "size": 30},
    {"filter": ["metric.loss<0.3"], "sort": "metric.loss:asc", "page": 2, "size": 25},
    {"q": "resnet model", "size": 40},
    {"license": "mit", "stage": "staging", "sort": "usage"},
]


def _answer(http: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    reply = http.get("/v1/search", params=params)
    reply.raise_for_status()
    answer = reply.json()
    for hit in answer["hits"]:
        hit.pop("score", None)  # relevance scores move when deleted documents are merged away
    if "q" in params:
        answer["hits"] = sorted(answer["hits"], key=lambda h: h["id"])
    return answer  # type: ignore[no-any-return]


def test_reindex_while_searching_fails_no_search_and_changes_no_answer(
    corpus: dict[str, float], http: httpx.Client, cairn_env: dict[str, str]
) -> None:
    before = [_answer(http, q) for q in QUERIES]
    failures: list[str] = []
    done = threading.Event()
    counted = [0]

    def search_loop() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=60) as client:
            while not done.is_set():
                for params in QUERIES:
                    try:
                        reply = client.get("/v1/search", params=params)
                        if reply.status_code != 200:
                            failures.append(f"{reply.status_code} {reply.text[:200]}")
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                    counted[0] += 1

    loop = threading.Thread(target=search_loop)
    loop.start()
    try:
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "cairn.cli", "reindex", "--json"],
                             env={**os.environ, **cairn_env}, capture_output=True, text=True,
                             timeout=600)
        took = time.monotonic() - started
    finally:
        done.set()
        loop.join(60)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    print(f"\nreindex: {json.dumps(report)}; {counted[0]} searches during {took:.1f} s")
    assert failures == [], failures[:5]
    assert counted[0] > 20 and report["versions"] >= ARTIFACTS and report["deleted_old"]
    after = [_answer(http, q) for q in QUERIES]
    assert after == before

    async def indices() -> list[str]:
        backend, alias = backend_of(cairn_env)
        try:
            return await backend.indices_of(alias)
        finally:
            await backend.close()

    assert asyncio.run(indices()) == [report["index"]]


def test_reindex_while_publishing_loses_nothing(
    corpus: dict[str, float], cairn_env: dict[str, str], namespace: Namespace
) -> None:
    """What the running indexer writes into the old index during the build is caught up."""
    p = f"during-{namespace.run_id}"
    events = [publish_event(p, f"late-{i:03d}") for i in range(300)]
    reindex = subprocess.Popen([sys.executable, "-m", "cairn.cli", "reindex", "--json"],
                               env={**os.environ, **cairn_env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # it is reading its snapshot now
    emitter = emitter_for(cairn_env)
    try:
        for start in range(0, len(events), 50):
            emitter.emit(*events[start:start + 50])
            time.sleep(0.3)
    finally:
        emitter.close()
    out, err = reindex.communicate(timeout=600)
    assert reindex.returncode == 0, err
    print(f"\nreindex while publishing: {out.strip()}")

    async def check() -> None:
        await wait_recorded(namespace.database_url, [e["event_id"] for e in events])
        backend, alias = backend_of(cairn_env)
        try:
            await wait_index_matches_ledger(backend, alias, namespace.database_url)
            artifacts = [f"{p}/late-{i:03d}" for i in range(300)]
            assert await index_documents(backend, alias, artifacts) == \
                await ledger_documents(namespace.database_url, artifacts)
        finally:
            await backend.close()

    asyncio.run(check())
