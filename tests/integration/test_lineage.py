"""Lineage graphs from the real ledger's links: GET /v1/lineage, the SDK and `cairn lineage`.

Corpora are emitted straight to Kafka (the ledger records them exactly as it would an api
publish), each under its own project, so tests never see each other's artifacts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event
from cairn.sdk import CairnError, Client

from tests.clients import http_fixture, sdk_fixture  # noqa: F401
from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
CODE = {"kind": "code", "url": "https://github.com/acme/train", "commit": "4f2a9c1"}


async def record(cairn_env: dict[str, str], namespace: Namespace, *events: dict[str, Any]
                 ) -> None:
    """Emit events in order and wait until the ledger applied every one."""
    got = await emit_recorded(cairn_env, namespace.database_url, events)
    assert {r["outcome"] for r in got.values()} == {"applied"}, got


@pytest.fixture(scope="module")
async def chain(api: Service, cairn_env: dict[str, str], namespace: Namespace) -> str:
    """dataset ← model (trained_on, also produced_by code) ← eval (evaluates); the model
    also names a dataset that was never published."""
    p = f"lin-{uuid.uuid4().hex[:8]}"
    await record(cairn_env, namespace,
                 publish_event(p, "imagenet", "dataset"),
                 publish_event(p, "resnet", "model", links=[
                     {"relation": "trained_on", "target": f"{p}/imagenet@v1"},
                     {"relation": "trained_on", "target": f"{p}/never-published@v3"},
                     {"relation": "produced_by", "external": CODE}]),
                 publish_event(p, "resnet-eval", "eval_log", links=[
                     {"relation": "evaluates", "target": f"{p}/resnet:latest"}]))
    return p


def lineage(http: httpx.Client, ref: str, **params: Any) -> dict[str, Any]:
    reply = http.get("/v1/lineage", params={"ref": ref, **params})
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def ids(graph: dict[str, Any]) -> set[str]:
    return {n["id"] for n in graph["nodes"]}


def edges(graph: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["from"], e["relation"], e["to"]) for e in graph["edges"]}


def test_chain_up_down_and_both_with_depth_limits(http: httpx.Client, chain: str) -> None:
    p = chain
    data, model, evaluation = f"{p}/imagenet@v1", f"{p}/resnet@v1", f"{p}/resnet-eval@v1"
    up = lineage(http, evaluation, direction="up", depth=1)
    assert (up["root"], ids(up)) == (evaluation, {evaluation, model})
    assert edges(up) == {(evaluation, "evaluates", model)}

    up = lineage(http, f"{p}/resnet-eval:latest", direction="up", depth=2)
    assert ids(up) == {evaluation, model, data, f"unresolved:{p}/never-published@v3",
                       "external:https://github.com/acme/train@4f2a9c1"}
    assert (evaluation, "evaluates", model) in edges(up)
    assert (model, "trained_on", data) in edges(up)
    by_id = {n["id"]: n for n in up["nodes"]}
    assert (by_id[evaluation]["distance"], by_id[model]["distance"], by_id[data]["distance"]) == (
        0, 1, 2)
    assert (by_id[model]["kind"], by_id[model]["status"], by_id[model]["validation"]) == (
        "model", "active", "pending")
    assert "stage" in by_id[model]

    down = lineage(http, data, direction="down", depth=3)
    assert ids(down) == {data, model, evaluation}
    assert edges(down) == {(model, "trained_on", data), (evaluation, "evaluates", model)}
    assert ids(lineage(http, data, direction="down", depth=1)) == {data, model}

    both = lineage(http, model, direction="both", depth=1)
    assert {data, evaluation, model} <= ids(both)
    assert edges(both) >= {(model, "trained_on", data), (evaluation, "evaluates", model)}
    assert lineage(http, model) == both | {"depth": 3, "ref": model}  # defaults: both, 3
    by_path = http.get(f"/v1/lineage/{model}", params={"direction": "up", "depth": 1})
    assert by_path.status_code == 200 and by_path.json()["root"] == model


def test_unresolved_and_external_links_are_nodes(http: httpx.Client, chain: str) -> None:
    up = lineage(http, f"{chain}/resnet@v1", direction="up", depth=1)
    by_id = {n["id"]: n for n in up["nodes"]}
    missing = by_id[f"unresolved:{chain}/never-published@v3"]
    assert (missing["kind"], missing["unresolved"], missing["target_ref"]) == (
        "unresolved", True, f"{chain}/never-published@v3")
    code = by_id["external:https://github.com/acme/train@4f2a9c1"]
    assert (code["kind"], code["url"], code["commit"]) == ("external", CODE["url"], "4f2a9c1")
    assert (f"{chain}/resnet@v1", "produced_by", code["id"]) in edges(up)


async def test_cycles_end(http: httpx.Client, cairn_env: dict[str, str],
                          namespace: Namespace) -> None:
    """a → b → a, and a → a: every node once, every edge once, even at depth 10."""
    p = f"cyc-{uuid.uuid4().hex[:8]}"
    await record(cairn_env, namespace,
                 publish_event(p, "a", links=[{"relation": "derived_from",
                                               "target": f"{p}/b:latest"}]),
                 publish_event(p, "b", links=[{"relation": "derived_from",
                                               "target": f"{p}/a@v1"}]),
                 new_event(f"{p}/a", "LinkAdded", {"version": "v1", "link": payloads.link(
                     "derived_from", f"{p}/a@v1")}, actor="tester", tool="test"))
    a, b = f"{p}/a@v1", f"{p}/b@v1"
    for direction in ("up", "down", "both"):
        graph = lineage(http, a, direction=direction, depth=10)
        assert ids(graph) == {a, b}, direction
        assert edges(graph) == {(a, "derived_from", b), (b, "derived_from", a),
                                (a, "derived_from", a)}, direction
        assert len(graph["edges"]) == 3


def test_bad_parameters_get_400_with_a_reason(http: httpx.Client, chain: str) -> None:
    ref = f"{chain}/resnet@v1"
    for params, reason in (({"ref": ref, "direction": "sideways"}, "invalid_direction"),
                           ({"ref": ref, "depth": "0"}, "invalid_depth"),
                           ({"ref": ref, "depth": "11"}, "invalid_depth"),
                           ({"ref": ref, "depth": "three"}, "invalid_depth"),
                           ({"ref": "no slash"}, "invalid_ref"),
                           ({}, "missing_ref")):
        reply = http.get("/v1/lineage", params=params)
        assert reply.status_code == 400, (params, reply.text)
        assert reply.json()["error"]["reason"] == reason
    for unknown in (f"{chain}/resnet@v9", f"{chain}/nothing@v1", f"{chain}/resnet:prod"):
        reply = http.get("/v1/lineage", params={"ref": unknown})
        assert (reply.status_code, reply.json()["error"]["reason"]) == (404, "not_found")


def test_sdk_lineage(sdk: Client, http: httpx.Client, chain: str) -> None:
    ref = f"{chain}/resnet-eval@v1"
    assert sdk.lineage(ref, "up", 2) == lineage(http, ref, direction="up", depth=2)
    with pytest.raises(CairnError) as err:
        sdk.lineage(ref, "sideways")
    assert (err.value.reason, err.value.status) == ("invalid_direction", 400)


def run_cli(api: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_API_URL": api.url, "COLUMNS": "200"}
    return subprocess.run([CAIRN, "lineage", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_cli_tree_and_json(api: Service, http: httpx.Client, chain: str) -> None:
    ref = f"{chain}/resnet@v1"
    done = run_cli(api, ref, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == lineage(http, ref)

    done = run_cli(api, ref)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(ref) and "model" in lines[0]
    text = done.stdout
    assert "made from" in text and "used by" in text
    for part in (f"trained_on {chain}/imagenet@v1", f"{chain}/never-published@v3",
                 "not recorded yet", "produced_by https://github.com/acme/train @ 4f2a9c1",
                 f"evaluates {chain}/resnet-eval@v1"):
        assert part in text, (part, text)

    up = run_cli(api, f"{chain}/resnet-eval@v1", "--direction", "up", "--depth", "1")
    assert up.returncode == 0, up.stderr
    assert f"{chain}/resnet@v1" in up.stdout and "imagenet" not in up.stdout

    bad = run_cli(api, ref, "--depth", "11")
    assert bad.returncode == 2


async def test_cli_marks_cycles(api: Service, cairn_env: dict[str, str],
                                namespace: Namespace) -> None:
    p = f"cyc-{uuid.uuid4().hex[:8]}"
    await record(cairn_env, namespace,
                 publish_event(p, "x", links=[{"relation": "uses", "target": f"{p}/y:latest"}]),
                 publish_event(p, "y", links=[{"relation": "uses", "target": f"{p}/x@v1"}]))
    done = run_cli(api, f"{p}/x@v1", "--direction", "up", "--depth", "10")
    assert done.returncode == 0, done.stderr
    assert "↻ cycle" in done.stdout
    assert done.stdout.count(f"{p}/y@v1") == 1
