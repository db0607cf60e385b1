"""GET /v1/search, GET /v1/suggest and `cairn search` on the real stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event
from cairn.sdk import Client

from tests.conftest import Namespace, api_env
from tests.ledger_helpers import emitter_for, fake_file, settings_for, wait_recorded
from tests.processes import Service
from tests.retention_helpers import cli
from tests.search_helpers import backend_of, wait_index_matches_ledger

CORPUS = [  # name, kind, tags, accuracy, license
    ("resnet50-imagenet", "model", ["cv", "baseline"], 0.76, "apache-2.0"),
    ("vit_base.patch16", "model", ["cv", "transformer"], 0.91, "mit"),
    ("bert-base-uncased", "model", ["nlp", "transformer"], 0.88, "apache-2.0"),
    ("imagenet-mini", "dataset", ["cv"], None, "cc-by-4.0"),
]


def _published(p: str, name: str, kind: str, tags: list[str], acc: float | None,
               lic: str) -> dict[str, Any]:
    meta = {"creator": "ada", "tags": tags, "license": lic,
            "metrics": {} if acc is None else {"accuracy": acc, "eval.loss": 1 - acc},
            "description": f"{name} for the search tests"}
    body = payloads.published(kind=kind, project=p, name=name, metadata_=meta,
                              files=[fake_file("f.bin", uuid.uuid4().bytes)])
    return new_event(f"{p}/{name}", "Published", body, actor="ada", tool="test")


@pytest.fixture(scope="module")
def project(indexer: Service, cairn_env: dict[str, str], namespace: Namespace) -> str:
    import asyncio

    p = f"sa{uuid.uuid4().hex[:8]}"
    events = [_published(p, *row) for row in CORPUS]
    emitter = emitter_for(cairn_env)
    try:
        emitter.emit(*events)
    finally:
        emitter.close()

    async def settle() -> None:
        await wait_recorded(namespace.database_url, [e["event_id"] for e in events])
        backend, alias = backend_of(cairn_env)
        try:
            await wait_index_matches_ledger(backend, alias, namespace.database_url)
        finally:
            await backend.close()

    asyncio.run(settle())
    return p


@pytest.fixture(scope="module")
def http(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


def search(http: httpx.Client, **params: Any) -> dict[str, Any]:
    reply = http.get("/v1/search", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_text_filters_and_facets(http: httpx.Client, project: str) -> None:
    got = search(http, project=project, q="imagenet")
    assert sorted(h["name"] for h in got["hits"]) == ["imagenet-mini", "resnet50-imagenet"]
    got = search(http, project=project, kind="model", tag=["transformer"])
    assert sorted(h["name"] for h in got["hits"]) == ["bert-base-uncased", "vit_base.patch16"]
    facets = {f: {b["value"]: b["count"] for b in got["facets"][f]} for f in ("kind", "tag")}
    assert facets["kind"] == {"model": 2}  # counted with the tag filter, not its own
    assert facets["tag"] == {"cv": 2, "transformer": 2, "nlp": 1, "baseline": 1}
    got = search(http, project=project, filter=["metric.accuracy>=0.8", "license=apache-2.0"])
    assert [h["name"] for h in got["hits"]] == ["bert-base-uncased"]
    got = search(http, project=project, q="patch16")  # names split on - _ .
    assert [h["name"] for h in got["hits"]] == ["vit_base.patch16"]
    assert search(http, project=project, created_after="2000-01-01")["total"] == 4
    assert search(http, project=project, created_before="2000-01-01T00:00:00Z")["total"] == 0


def test_any_groups_or_across_facets(http: httpx.Client, api: Service, api_token: str,
                                     cairn_env: dict[str, str], project: str) -> None:
    """`any`: filters joined by |, any of which may match; groups and filters all must."""
    def names(**params: Any) -> list[str]:
        return sorted(h["name"] for h in search(http, project=project, **params)["hits"])

    assert names(any="tag=nlp|kind=dataset") == ["bert-base-uncased", "imagenet-mini"]
    assert names(any="metric.accuracy>=0.9|tag=baseline") == ["resnet50-imagenet",
                                                              "vit_base.patch16"]
    assert names(any=["tag=nlp|tag=baseline", "metric.accuracy>=0.8"]) == ["bert-base-uncased"]
    assert names(any="tag=nlp|kind=dataset", license="apache-2.0") == ["bert-base-uncased"]
    got = search(http, project=project, any="tag=nlp|kind=dataset")
    assert {b["value"]: b["count"] for b in got["facets"]["kind"]} == {"model": 1, "dataset": 1}
    typo = search(http, project=project, any="metric.acuracy>=0.5|tag=nlp")
    assert [w["reason"] for w in typo["warnings"]] == ["unknown_metric"]
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as sdk:
        assert sdk.search(project=project, any="tag=nlp|kind=dataset").total == 2
    env = {**os.environ, "CAIRN_API_URL": api.url}
    out = subprocess.run([sys.executable, "-m", "cairn.cli", "search", "--project", project,
                          "--any", "tag=nlp|kind=dataset", "--json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 2


def test_sorting_and_paging(http: httpx.Client, project: str) -> None:
    asc = search(http, project=project, kind="model", sort="metric.accuracy:asc")
    assert [h["metrics"]["accuracy"] for h in asc["hits"]] == [0.76, 0.88, 0.91]
    desc = search(http, project=project, sort="metric.eval.loss")
    assert [h["name"] for h in desc["hits"]][:1] == ["resnet50-imagenet"]
    assert desc["hits"][-1]["name"] == "imagenet-mini"  # no such metric: last
    pages = [search(http, project=project, sort="created", size=3, page=n) for n in (1, 2)]
    ids = [h["id"] for page in pages for h in page["hits"]]
    assert len(ids) == len(set(ids)) == 4 and pages[0]["total"] == 4
    assert asc["warnings"] == desc["warnings"] == pages[0]["warnings"] == []


def test_a_metric_no_version_has_is_named_not_silently_empty(http: httpx.Client,
                                                             project: str) -> None:
    typo = search(http, project=project, metric="acuracy>=0.5")
    assert typo["total"] == 0
    (warning,) = typo["warnings"]
    assert warning["reason"] == "unknown_metric"
    assert "'acuracy'" in warning["message"] and "accuracy" in warning["message"]
    by_missing = search(http, project=project, sort="metric.no_such_thing")
    assert by_missing["total"] == 4  # still sorted and shown, but the user is told
    assert [w["reason"] for w in by_missing["warnings"]] == ["unknown_metric"]


@pytest.mark.parametrize("params,reason", [
    ({"filter": "metric.accuracy>>0.9"}, "invalid_metric_filter"),
    ({"metric": "accuracy>=high"}, "invalid_metric_filter"),
    ({"filter": "colour=red"}, "invalid_filter"),
    ({"any": "tag=nlp|colour=red"}, "invalid_filter"),
    ({"any": "|"}, "invalid_filter"),
    ({"sort": "shoe_size"}, "invalid_sort"),
    ({"created_after": "last tuesday"}, "invalid_date"),
    ({"page": 1000, "size": 100}, "invalid_page"),
])
def test_bad_parameters_are_400_with_a_reason(http: httpx.Client, params: dict[str, Any],
                                              reason: str) -> None:
    reply = http.get("/v1/search", params=params)
    assert reply.status_code == 400
    assert reply.json()["error"]["reason"] == reason and reply.json()["error"]["message"]


def test_operators_in_user_text_are_just_words(http: httpx.Client, project: str) -> None:
    for text in ('name:* OR kind:model', "res*", "/.*/", "imagenet AND NOT", '"unclosed'):
        reply = http.get("/v1/search", params={"q": text, "project": project})
        assert reply.status_code == 200, reply.text
    assert search(http, project=project, q="res*")["total"] == 0


def test_suggestions(http: httpx.Client, project: str) -> None:
    def suggest(prefix: str, field: str) -> list[str]:
        reply = http.get("/v1/suggest", params={"prefix": prefix, "field": field})
        assert reply.status_code == 200, reply.text
        return [s["value"] for s in reply.json()["suggestions"]]

    assert f"{project}/resnet50-imagenet" in suggest("resn", "name")
    assert f"{project}/vit_base.patch16" in suggest("patc", "name")
    assert "transformer" in suggest("trans", "tag")
    assert "eval.loss" in suggest("los", "metric")
    reply = http.get("/v1/suggest", params={"prefix": "--", "field": "tag"})
    assert reply.json()["error"]["reason"] == "invalid_prefix"


def test_most_used_sorts_first(http: httpx.Client, project: str) -> None:
    ref = f"{project}/bert-base-uncased@v1"
    for _ in range(3):
        assert http.get("/v1/resolve", params={"ref": ref}).status_code == 200  # a view each
    deadline = time.monotonic() + 60
    while True:
        top = search(http, project=project, sort="usage")["hits"][0]
        if top["id"] == ref and top["usage"]["views"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (top["id"], top["usage"]) == (ref, {"views": 3, "downloads": 0, "total": 3})


def test_cli_search_table_and_json(api: Service, project: str, tmp_path: Path) -> None:
    cairn = [sys.executable, "-m", "cairn.cli"]
    env = {**os.environ, "CAIRN_API_URL": api.url, "COLUMNS": "200"}
    out = subprocess.run([*cairn, "search", "imagenet", "--project", project, "--json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 2
    out = subprocess.run([*cairn, "search", "-f", f"project={project}", "-f", "kind=model",
                          "--sort", "metric.accuracy"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "3 matches" in out.stdout and f"{project}/vit_base.patch16@v1" in out.stdout
    assert "tag" in out.stdout and "transformer 2" in out.stdout
    typo = subprocess.run([*cairn, "search", "-f", "metric.acuracy>=0.5"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert typo.returncode == 0, typo.stderr
    assert "warning:" in typo.stderr and "did you mean accuracy" in typo.stderr
    bad = subprocess.run([*cairn, "search", "-f", "metric.acc>>1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid_metric_filter" in bad.stderr


@pytest.mark.parametrize("change,reason", [
    ({"CAIRN_INDEX_PREFIX": f"none-{uuid.uuid4().hex}"}, "index_missing"),
    ({"SEARCH_URL": "http://127.0.0.1:9"}, "search_unavailable"),
])
def test_no_index_or_no_engine_is_503_with_a_reason(
    cairn_env: dict[str, str], ledger: Service, tmp_path: Path, change: dict[str, str],
    reason: str
) -> None:
    lonely = Service("api", api_env(cairn_env, **change), tmp_path).start()
    try:
        reply = httpx.get(f"{lonely.url}/v1/search", timeout=30)
        assert reply.status_code == 503
        assert reply.json()["error"]["reason"] == reason and reply.json()["error"]["message"]
        assert httpx.get(f"{lonely.url}/readyz", timeout=30).status_code == 200  # writes work
    finally:
        lonely.stop()


def test_legal_hold_is_a_filter_a_facet_and_shown(api: Service, api_token: str,
                                                 cairn_env: dict[str, str], http: httpx.Client,
                                                 project: str) -> None:
    """`cairn hold` reaches search within the refresh: filter, facet counts (with every filter
    but its own), hits, version detail, `cairn search --legal-hold` and `cairn show`."""
    ref = f"{project}/imagenet-mini@v1"

    def held_refs() -> list[str]:
        return [h["id"] for h in search(http, project=project, legal_hold="true")["hits"]]

    def until(done: Any) -> None:
        deadline = time.monotonic() + 60
        while not done() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert done()

    def ok(*args: str) -> str:
        out = cli(api, api_token, {**cairn_env, "COLUMNS": "200"}, *args)
        assert out.returncode == 0, f"cairn {' '.join(args)}: {out.stderr}"
        return out.stdout

    assert held_refs() == []
    ok("hold", ref)
    until(lambda: held_refs() == [ref])
    got = search(http, project=project, legal_hold="true", kind="dataset")
    assert [h["legal_hold"] for h in got["hits"]] == [True]
    facets = {f: {b["value"]: b["count"] for b in got["facets"][f]} for f in ("legal_hold", "kind")}
    assert facets == {"legal_hold": {"true": 1}, "kind": {"dataset": 1}}
    facets = search(http, project=project)["facets"]["legal_hold"]
    assert {b["value"]: b["count"] for b in facets} == {"true": 1, "false": 3}
    assert search(http, project=project, filter="legal_hold=false")["total"] == 3
    assert http.get("/v1/resolve", params={"ref": ref}).json()["legal_hold"] is True
    table = ok("search", "--legal-hold", "--project", project)
    assert "1 match" in table and ref in table and "held" in table and "legal_hold" in table
    assert "held: never archived or deleted" in ok("show", ref)

    ok("hold", ref, "--release")
    until(lambda: held_refs() == [])
    assert search(http, project=project, legal_hold="false")["total"] == 4
    assert "no" in ok("show", ref).split("legal hold", 1)[1].splitlines()[0]
    assert "0 matches" in ok("search", "--legal-hold", "--project", project)
