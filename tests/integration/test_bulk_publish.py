"""Bulk publish (issue 11) on the real api, ledger, Kafka and PostgreSQL: POST
/v1/artifacts/batch judges each item as a single publish would and refuses it alone;
Client.publish_many and `cairn publish --from items.jsonl` report each item's ref or why
it was refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from cairn.sdk import Client, Item

from tests.clients import sdk_fixture  # noqa: F401
from tests.conftest import API_TOKEN, Namespace
from tests.ledger_helpers import wait_recorded
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


def project() -> str:
    return f"bulk-{uuid.uuid4().hex[:10]}"


def put_blob(api: Service, content: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(content).hexdigest()
    reply = httpx.put(f"{api.url}/v1/blobs/{sha}", content=content, headers=ADMIN, timeout=30)
    assert reply.status_code in (200, 201), reply.text
    return {"path": "weights.bin", "size": len(content), "sha256": sha}


def item(p: str, name: str, files: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"kind": "model", "project": p, "name": name, "files": files,
            "metadata": {"creator": "tests"}, **more}


def batch(api: Service, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/artifacts/batch", json=body, timeout=60,
                      headers=ADMIN if headers is None else headers)


def recorded(ns: Namespace, answer: dict[str, Any]) -> dict[str, Any]:
    ids = [i["event_id"] for i in answer["items"] if i["status"] == "accepted"]
    got = asyncio.run(wait_recorded(ns.database_url, ids))
    assert len(got) == len(set(ids)), got
    return got


def test_a_batch_needs_a_token(api: Service) -> None:
    reply = batch(api, {"items": [item(project(), "m", [])]}, headers={})
    assert reply.status_code == 401
    assert reply.json()["error"]["reason"] == "unauthenticated"


def test_a_refused_item_refuses_only_itself(api: Service, namespace: Namespace) -> None:
    p = project()
    good = put_blob(api, os.urandom(64))
    never_uploaded = {"path": "w.bin", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    reply = batch(api, {"environment": {"python": "3.12.1"}, "items": [
        item(p, "first", [good]),
        item(p, "Bad Name!", [good]),
        item(p, "blobless", [never_uploaded]),
        item(p, "typo", [good], metadta={}),
        item(p, "gated", [good], stage="production"),
        item(p, "second", [good], metadata={"creator": "tests", "metrics": {"top1": 0.5}}),
    ]})
    assert reply.status_code == 202, reply.text
    answer = reply.json()
    by_name = {i["index"]: i for i in answer["items"]}
    assert [by_name[i]["status"] for i in range(6)] == [
        "accepted", "refused", "refused", "refused", "refused", "accepted"]
    assert (answer["accepted"], answer["refused"]) == (2, 4)
    assert by_name[1]["reason"] == "invalid_name" and by_name[1]["http_status"] == 400
    assert by_name[2]["reason"] == "missing_blobs"
    assert by_name[2]["missing"] == [never_uploaded["sha256"]]
    assert by_name[3]["reason"] == "invalid_request" and "metadta" in by_name[3]["message"]
    assert by_name[4]["reason"] == "gate_needs_promotion" and by_name[4]["http_status"] == 422
    recorded(namespace, answer)
    first = httpx.get(f"{api.url}/v1/resolve", params={"ref": f"{p}/first@v1"},
                      headers=ADMIN, timeout=30).json()
    assert first["environment"]["python"] == "3.12.1"  # the batch's environment, given once


def test_a_contributor_is_refused_where_they_only_view(
        api: Service, namespace: Namespace) -> None:
    tag = uuid.uuid4().hex[:6]
    user, viewed, mine = f"bulkuser-{tag}", f"viewed-{tag}", f"mine-{tag}"
    ids = []
    with httpx.Client(base_url=api.url, headers=ADMIN, timeout=30) as admin:
        ids.append(admin.put(f"/v1/users/{user}", json={}).json()["event_id"])
        ids.append(admin.put(f"/v1/projects/{viewed}", json={
            "visibility": "public", "members": {user: "viewer"}}).json()["event_id"])
        ids.append(admin.put(f"/v1/projects/{mine}", json={
            "members": {user: "contributor"}}).json()["event_id"])
        asyncio.run(wait_recorded(namespace.database_url, ids))
        made = admin.post("/v1/tokens", json={"owner": user, "scopes": ["publish"]}).json()
        asyncio.run(wait_recorded(namespace.database_url, [made["event_id"]]))
    good = put_blob(api, os.urandom(64))
    reply = batch(api, {"items": [item(viewed, "m", [good]), item(mine, "m", [good])]},
                  headers={"Authorization": f"Bearer {made['token']}"})
    assert reply.status_code == 202, reply.text
    refused, accepted = reply.json()["items"]
    assert refused["status"] == "refused" and refused["http_status"] == 403, refused
    assert refused["reason"] == "forbidden" and refused["permission"] == "publish"
    assert accepted["status"] == "accepted", accepted


def test_size_limits(api: Service) -> None:
    p = project()
    one = item(p, "m", [{"path": "w", "size": 1, "sha256": "0" * 64}])
    too_many = batch(api, {"items": [one] * 1001})
    assert too_many.status_code == 413 and too_many.json()["error"]["reason"] == "too_large"
    too_big = batch(api, {"items": [item(p, "m", [], extra={"x": "y" * 1_100_000})]})
    assert too_big.status_code == 413 and too_big.json()["error"]["reason"] == "too_large"
    empty = batch(api, {"items": []})
    assert empty.status_code == 422 and empty.json()["error"]["reason"] == "invalid_request"


def test_duplicate_items_make_one_version(api: Service, namespace: Namespace) -> None:
    p = project()
    good = put_blob(api, os.urandom(64))
    reply = batch(api, {"items": [item(p, "twice", [good]), item(p, "twice", [good])]})
    assert reply.status_code == 202, reply.text
    answer = reply.json()
    assert [i["status"] for i in answer["items"]] == ["accepted", "accepted"]
    got = recorded(namespace, answer)
    assert sorted(r["outcome"] for r in got.values()) == ["applied", "duplicate"]
    status = httpx.post(f"{api.url}/v1/artifacts/batch/status", headers=ADMIN, timeout=30,
                        json={"event_ids": [i["event_id"] for i in answer["items"]]}).json()
    assert {s["ref"] for s in status.values()} == {f"{p}/twice@v1"}


def test_publish_many_reports_each_item(sdk: Client, tmp_path: Path) -> None:
    p = project()
    items: list[Item | dict[str, Any]] = []
    for i in range(12):
        (tmp_path / f"ckpt-{i}.pt").write_bytes(os.urandom(100))
        items.append(Item("model", p, f"run-{i % 3}", [f"ckpt-{i}.pt"], root=tmp_path,
                          metadata={"metrics": {"loss": 1 / (i + 1)}}))
    items[4] = Item("model", p, "Bad Name", ["ckpt-4.pt"], root=tmp_path)  # refused locally
    items[7] = {"kind": "model", "project": p, "name": "gone", "files": ["nope.pt"],
                "root": tmp_path}  # refused locally: no such file
    items[9] = Item("model", p, "gated", ["ckpt-9.pt"], root=tmp_path, stage="production")
    results = sdk.publish_many(items)
    assert [r.index for r in results] == list(range(12))
    bad = {r.index: r for r in results if not r.ok}
    assert set(bad) == {4, 7, 9}
    assert bad[4].reason == "invalid_name" and bad[4].local
    assert bad[7].reason == "file_not_found" and bad[7].local
    assert bad[9].reason == "gate_needs_promotion" and bad[9].http_status == 422
    good = [r for r in results if r.ok]
    assert {r.status for r in good} == {"recorded"} and len(good) == 9
    assert sorted(r.ref or "" for r in good if r.artifact == f"{p}/run-0") == [
        f"{p}/run-0@v1", f"{p}/run-0@v2", f"{p}/run-0@v3"]  # items 0, 3 and 6


def test_publish_many_through_kafka(api: Service, api_token: str, cairn_env: dict[str, str],
                                    tmp_path: Path) -> None:
    from tests.ledger_helpers import settings_for

    p = project()
    for i in range(5):
        (tmp_path / f"f{i}.json").write_text(json.dumps({"i": i}))
    with Client(api.url, api_token, settings_for(cairn_env), transport="kafka",
                progress=False) as c:
        results = c.publish_many([Item("eval_log", p, "evals", [f"f{i}.json"], root=tmp_path)
                                  for i in range(5)])
    assert [r.status for r in results] == ["recorded"] * 5
    assert sorted(r.version_number or 0 for r in results) == [1, 2, 3, 4, 5]


def cli(api: Service, cairn_env: dict[str, str], *args: str, cwd: Path
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cairn_env, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": API_TOKEN,
           "COLUMNS": "250"}  # a wide table: each row on one line
    return subprocess.run([CAIRN, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_cli_from_refuses_a_malformed_line_by_number(api: Service, cairn_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(b"x")
    good = json.dumps({"kind": "model", "artifact": f"{project()}/m", "paths": ["m.pt"]})
    (tmp_path / "items.jsonl").write_text(f"{good}\n\n{{\"kind\": \"model\", \"artifct\": 1}}\n")
    done = cli(api, cairn_env, "publish", "--from", "items.jsonl", cwd=tmp_path)
    assert done.returncode == 2, done
    assert "items.jsonl:3" in done.stderr and "invalid_option" in done.stderr


def test_cli_from_publishes_all_but_the_bad_items(api: Service, cairn_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    """1,203 small items (more than one batch), 3 bad: 1,200 published, the 3 named by line."""
    p = project()
    lines = []
    for i in range(1203):
        (tmp_path / f"c{i}.bin").write_bytes(i.to_bytes(4, "big"))
        lines.append({"kind": "model", "artifact": f"{p}/sweep-{i % 10}", "paths": [f"c{i}.bin"],
                      "metric": {"loss": 1 / (i + 1)}, "tag": ["sweep"]})
    lines[10]["artifact"] = f"{p}/Bad Name"
    lines[500]["paths"] = ["missing.bin"]
    lines[1100]["stage"] = "production"
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    done = cli(api, cairn_env, "publish", "--from", "items.jsonl", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["items"], report["recorded"], report["refused"]) == (1203, 1200, 3)
    refused = {r["line"]: r["reason"] for r in report["results"] if r["status"] == "refused"}
    assert refused == {11: "invalid_name", 501: "file_not_found",
                       1101: "gate_needs_promotion"}
    table = cli(api, cairn_env, "publish", "--from", "items.jsonl", cwd=tmp_path)
    assert table.returncode == 1  # the same 3 again; the rest are duplicates now
    assert "recorded (duplicate)" in table.stdout and "1200" in table.stdout
    assert "gate_needs_promotion" in table.stdout and "1101" in table.stdout
