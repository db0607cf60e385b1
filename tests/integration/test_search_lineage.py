"""Search hits carry their lineage neighbours (issue 12), on the real stack (ledger, indexer,
OpenSearch, api): made from (its links), made into and evaluated by (the versions that link
to it). The indexer reads only the changelog, so a version that gains an incoming link must
reach it there: a new version linking to it, a LinkAdded, and a link that waited for it
(resolved when it arrives) each give the target its neighbour, and the index says what the
tables say. The SDK's hits, `cairn search` and the search page show them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event
from cairn.readmodel import index_rows
from cairn.sdk import Client
from cairn.search.documents import version_document

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event, settings_for
from tests.processes import Service

NEIGHBOURS = ("made_from", "made_into", "evaluated_by")


def _neighbours(p: str) -> dict[str, dict[str, Any]]:
    """What each version's hit must name once everything below is recorded."""
    def n(relation: str, name: str) -> dict[str, str]:
        return {"relation": relation, "ref": f"{p}/{name}@v1"}

    return {
        "data": {"made_from": [], "made_into": [n("trained_on", "model")], "evaluated_by": []},
        "base": {"made_from": [], "made_into": [n("derived_from", "model")],
                 "evaluated_by": []},
        "model": {"made_from": [n("trained_on", "data"), n("derived_from", "base")],
                  "made_into": [], "evaluated_by": [f"{p}/eval@v1"]},
        "eval": {"made_from": [n("evaluates", "model")], "made_into": [], "evaluated_by": []},
        "early": {"made_from": [n("trained_on", "late")], "made_into": [], "evaluated_by": []},
        "late": {"made_from": [], "made_into": [n("trained_on", "early")], "evaluated_by": []},
    }


@pytest.fixture(scope="module")
def project(indexer: Service, cairn_env: dict[str, str], namespace: Namespace) -> str:
    """data → model (trained_on) → eval (evaluates) in one batch; model gains a link to
    `base` by a LinkAdded; `early` links to `late` before late exists (it waits)."""
    p = f"sl{uuid.uuid4().hex[:8]}"

    def link(relation: str, name: str) -> dict[str, Any]:
        return {"relation": relation, "target": f"{p}/{name}@v1"}

    async def publish() -> None:
        await emit_recorded(cairn_env, namespace.database_url, [
            publish_event(p, "data"), publish_event(p, "base"),
            publish_event(p, "model", "model", links=[link("trained_on", "data")]),
            publish_event(p, "eval", "eval_log", links=[link("evaluates", "model")]),
            publish_event(p, "early", "model", links=[link("trained_on", "late")])])
        await emit_recorded(cairn_env, namespace.database_url, [
            new_event(f"{p}/model", "LinkAdded", {"version": "v1", "link": payloads.link(
                "derived_from", f"{p}/base@v1")}, actor="tester", tool="test")])
        await emit_recorded(cairn_env, namespace.database_url, [publish_event(p, "late")])

    asyncio.run(publish())
    return p


@pytest.fixture(scope="module")
def http(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


def _hits(http: httpx.Client, p: str) -> dict[str, dict[str, Any]]:
    reply = http.get("/v1/search", params={"project": p, "size": 50})
    assert reply.status_code == 200, reply.text
    return {h["name"]: h for h in reply.json()["hits"]}


def _shown(hits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {k: h.get(k) for k in NEIGHBOURS} for name, h in hits.items()}


@pytest.fixture(scope="module")
def hits(http: httpx.Client, project: str) -> dict[str, dict[str, Any]]:
    """The hits once the index shows every neighbour (or as they are after a minute)."""
    want, deadline = _neighbours(project), time.monotonic() + 60
    while _shown(found := _hits(http, project)) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_hits_name_their_neighbours_both_ways(hits: dict[str, dict[str, Any]],
                                               project: str) -> None:
    assert _shown(hits) == _neighbours(project)


async def test_the_index_says_what_the_tables_say(hits: dict[str, dict[str, Any]],
                                                  namespace: Namespace, project: str) -> None:
    """The changelog alone (what the indexer read) gives each version the neighbours its
    state has in PostgreSQL now."""
    conn = await asyncpg.connect(namespace.database_url)
    try:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT v.id FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1", project)]
        states = await index_rows.states(conn, ids)
    finally:
        await conn.close()
    tables = {s["content"]["name"]: version_document(s)[1] for s, _ in states}
    assert _shown(hits) == _shown(tables)


def test_the_sdk_cli_and_page_show_them(api: Service, api_token: str, http: httpx.Client,
                                        cairn_env: dict[str, str], project: str,
                                        hits: dict[str, dict[str, Any]]) -> None:
    p = project
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as sdk:
        found = {h.artifact: h for h in sdk.search(project=p).hits}
    model = found[f"{p}/model"]
    assert [(n.relation, n.ref) for n in model.made_from] == [
        ("trained_on", f"{p}/data@v1"), ("derived_from", f"{p}/base@v1")]
    assert model.evaluated_by == [f"{p}/eval@v1"]
    assert [(n.relation, n.ref) for n in found[f"{p}/data"].made_into] == [
        ("trained_on", f"{p}/model@v1")]

    env = {**os.environ, "CAIRN_API_URL": api.url, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "cairn.cli", "search", "-f", f"project={p}"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout[out.stdout.index("lineage"):].split())  # wrapped at 80
    assert (f"{p}/model@v1 from {p}/data@v1 (trained_on), {p}/base@v1 (derived_from)"
            f" evaluated by {p}/eval@v1") in text
    assert f"{p}/late@v1 into {p}/early@v1 (trained_on)" in text

    page = http.get("/ui", params={"project": p})
    assert page.status_code == 200, page.text
    assert f'title="evaluates">{p}/eval@v1</a>' in page.text
    assert f'title="trained_on">{p}/early@v1</a>' in page.text
