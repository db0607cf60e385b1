"""Client.search and Client.suggest on the real api, ledger, indexer and search engine:
versions published through the SDK are found by text, facets and a metric range."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from cairn.sdk import Client
from cairn.sdk.search import SearchResult, Suggestion

from tests.ledger_helpers import settings_for
from tests.processes import Service

T = TypeVar("T")
ENV = {"python": "3.11", "packages": {}}


@pytest.fixture
def sdk(api: Service, indexer: Service, api_token: str, cairn_env: dict[str, str]
        ) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


def until(get: Callable[[], T], done: Callable[[T], bool], seconds: float = 60) -> T:
    """The index follows the ledger within a refresh: ask again until it shows."""
    deadline = time.monotonic() + seconds
    while not done(got := get()) and time.monotonic() < deadline:
        time.sleep(0.3)
    return got


def test_published_versions_are_found_by_facets_metrics_and_suggested(
        sdk: Client, tmp_path: Path) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"  # a word no other test's artifact has
    p, tag, metric = f"ss{uuid.uuid4().hex[:8]}", f"t{word}", f"m{word}"
    rows = [("model", f"{word}-resnet50", ["cv", tag], {"top1": 0.76, metric: 1.0}),
            ("model", f"{word}-vit", ["cv", tag, "transformer"], {"top1": 0.91}),
            ("dataset", f"{word}-imnet", ["cv"], {})]
    for kind, name, tags, metrics in rows:
        (tmp_path / name).write_bytes(os.urandom(1000))
        sdk.publish(kind, p, name, [name], root=tmp_path, environment=ENV,
                    metadata={"tags": tags, "metrics": metrics, "license": "mit"})

    everything = until(lambda: sdk.search(project=p), lambda r: r.total == 3)
    assert isinstance(everything, SearchResult) and everything.total == 3
    assert everything.counts("kind") == {"model": 2, "dataset": 1}
    assert everything.counts("tag") == {"cv": 3, tag: 2, "transformer": 1}

    models = sdk.search(project=p, kind="model", sort="metric.top1")
    assert [h.ref for h in models.hits] == [f"{p}/{word}-vit@v1", f"{p}/{word}-resnet50@v1"]
    assert models.counts("kind") == {"model": 2, "dataset": 1}  # every filter but its own
    assert models.hits[0].metrics == {"top1": 0.91} and models.hits[0].kind == "model"

    best = sdk.search(project=p, metric="top1>=0.8")
    assert [h.ref for h in best.hits] == [f"{p}/{word}-vit@v1"]
    assert best.counts("tag") == {"cv": 1, tag: 1, "transformer": 1}
    assert sdk.search(project=p, filter=["metric.top1<0.8", "kind=model"]).total == 1
    assert sdk.search("resnet50", project=p, tag=[tag, "transformer"]).total == 1
    assert sdk.search(project=p, legal_hold=True).total == 0
    assert sdk.search(project=p, created_after="2000-01-01", size=1).hits[0].ref.startswith(p)

    names = sdk.suggest(word)
    assert sorted(s.value for s in names) == sorted(f"{p}/{name}" for _, name, _, _ in rows)
    assert {s.kind for s in names} == {"model", "dataset"}
    assert sdk.suggest(tag, field="tag") == [Suggestion(tag, count=2)]
    assert sdk.suggest(metric, field="metric") == [Suggestion(metric, count=1)]
