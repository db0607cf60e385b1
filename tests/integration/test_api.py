"""The HTTP api against the real stack: real api and ledger processes, Kafka, PostgreSQL.

Every test publishes under its own project, so tests never see each other's artifacts.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_ACTOR, api_env
from tests.processes import Service


@pytest.fixture(scope="module")
def client(api: Service, api_token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=api.url, headers=headers, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(api: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def limited(
    cairn_env: dict[str, str], ledger: Service, api_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    """A second api with tiny limits: 1 KiB blobs, 4 KiB JSON bodies, 2 files a version."""
    env = api_env(cairn_env, CAIRN_MAX_FILE_BYTES="1024", CAIRN_MAX_EVENT_BYTES="4096",
                  CAIRN_MAX_FILES="2")
    service = Service("api", env, tmp_path_factory.mktemp("limited")).start()
    try:
        with httpx.Client(base_url=service.url, timeout=30,
                          headers={"Authorization": f"Bearer {api_token}"}) as c:
            yield c
    finally:
        service.stop()


def project() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: httpx.Client, data: bytes) -> str:
    reply = client.put(f"/v1/blobs/{sha(data)}", content=data)
    assert reply.status_code in (200, 201), reply.text
    return sha(data)


def manifest(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [{"path": p, "size": len(d), "sha256": sha(d)} for p, d in files.items()]


def publish(client: httpx.Client, proj: str, name: str, files: dict[str, bytes],
            kind: str = "dataset", **fields: Any) -> dict[str, Any]:
    """Upload the blobs, publish, and wait until the ledger recorded the version."""
    for data in files.values():
        upload(client, data)
    body = {"kind": kind, "project": proj, "name": name, "files": manifest(files),
            "metadata": {"creator": "alice@example.org"}, **fields}
    reply = client.post("/v1/artifacts", json=body)
    assert reply.status_code == 202, reply.text
    accepted = reply.json()
    assert accepted["artifact"] == f"{proj}/{name}"
    return {**accepted, **recorded(client, accepted["event_id"])}


def wait_for(client: httpx.Client, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.get(f"/v1/events/{event_id}")
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] != "pending":
            return reply.json()  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} still pending after {timeout}s")


def recorded(client: httpx.Client, event_id: str) -> dict[str, Any]:
    status = wait_for(client, event_id)
    assert status["status"] == "recorded", status
    return status


def accepted(reply: httpx.Response) -> str:
    assert reply.status_code == 202, reply.text
    return reply.json()["event_id"]  # type: ignore[no-any-return]


def error_of(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["reason"] and error["message"]
    return error  # type: ignore[no-any-return]


def test_publish_dataset_becomes_version_1(client: httpx.Client) -> None:
    proj = project()
    files = {"train.csv": b"a,b\n1,2\n", "test.csv": b"a,b\n3,4\n"}
    result = publish(client, proj, "census", files, metadata={
        "creator": "alice@example.org", "description": "census extract", "tags": ["tabular"]})
    assert result["outcome"] == "applied"
    assert result["version_number"] == 1
    assert result["ref"] == f"{proj}/census@v1"
    assert result["digest"] == result["digest"].lower() and len(result["digest"]) == 64

    artifact = client.get(f"/v1/artifacts/{proj}/census").json()
    assert artifact["kind"] == "dataset" and artifact["latest_version"] == 1
    assert artifact["aliases"] == {"latest": 1}
    assert [v["version_number"] for v in artifact["versions"]] == [1]
    assert artifact["versions"][0]["created_by"] == API_ACTOR

    detail = client.get(f"/v1/artifacts/{proj}/census/versions/v1").json()
    assert detail["ref"] == f"{proj}/census@v1"
    assert {f["path"]: f["sha256"] for f in detail["files"]} == {
        p: sha(d) for p, d in files.items()}
    assert detail["metadata"]["description"] == "census extract"
    assert detail["metadata"]["tags"] == ["tabular"]
    assert detail["aliases"] == ["latest"]
    by_digest = client.get(f"/v1/artifacts/{proj}/census/versions/{result['digest'][:10]}")
    assert by_digest.json()["version_number"] == 1


def test_lineage_link_resolves_both_ways(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "corpus", {"data.txt": b"hello corpus " + proj.encode()})
    publish(client, proj, "classifier", {"model.bin": b"\x00weights" + proj.encode()},
            kind="model", links=[{"relation": "trained_on", "target": f"{proj}/corpus@v1"}])

    model = client.get("/v1/resolve", params={"ref": f"{proj}/classifier:latest"}).json()
    assert model["kind"] == "model"
    [link] = model["links_out"]
    assert link["relation"] == "trained_on"
    assert link["target_ref"] == f"{proj}/corpus@v1"
    assert link["target"]["ref"] == f"{proj}/corpus@v1"

    dataset = client.get("/v1/resolve", params={"ref": f"{proj}/corpus@v1"}).json()
    assert dataset["links_in"] == [{"relation": "trained_on", "source": {
        "ref": f"{proj}/classifier@v1", "digest": model["digest"]}}]


def test_multipart_publish_stores_the_files(client: httpx.Client) -> None:
    proj = project()
    weights, config = b"\x01\x02" * 5000 + proj.encode(), b'{"layers": 3}'
    stored = upload(client, b"vocabulary " + proj.encode())  # named, not uploaded again
    form = {"manifest": json.dumps({
        "kind": "model", "project": proj, "name": "net",
        "metadata": {"creator": "alice@example.org"},
        "files": [{"path": "config.json", "media_type": "application/json"},
                  {"path": "vocab.txt", "size": 11 + len(proj), "sha256": stored}]})}
    parts = [("file", ("weights/net.bin", weights, "application/octet-stream")),
             ("file", ("config.json", config, "text/plain"))]
    reply = client.post("/v1/artifacts", data=form, files=parts)
    status = recorded(client, accepted(reply))
    assert status["version_number"] == 1 and status["digest"] == reply.json()["digest"]

    detail = client.get(f"/v1/artifacts/{proj}/net/versions/v1").json()
    files = {f["path"]: f for f in detail["files"]}
    assert files["weights/net.bin"]["sha256"] == sha(weights)
    assert files["weights/net.bin"]["size"] == len(weights)
    assert files["config.json"]["media_type"] == "application/json"  # the manifest's wins
    assert files["vocab.txt"]["sha256"] == stored
    assert client.get(f"/v1/blobs/{sha(weights)}").content == weights


def test_same_content_twice_is_the_same_version(client: httpx.Client) -> None:
    proj = project()
    files = {"eval.jsonl": b'{"acc": 0.9}\n' + proj.encode()}
    first = publish(client, proj, "evals", files, kind="eval_log")
    again = publish(client, proj, "evals", files, kind="eval_log",
                    metadata={"creator": "bob@example.org", "description": "same bytes"})
    assert again["digest"] == first["digest"]
    assert again["outcome"] == "duplicate"
    assert again["version_number"] == 1
    assert client.get(f"/v1/artifacts/{proj}/evals").json()["latest_version"] == 1


def test_metadata_edit_history_and_revert(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "notes", {"n.txt": proj.encode()},
            metadata={"creator": "alice@example.org", "description": "first"})
    path = f"/v1/artifacts/{proj}/notes/versions/v1"
    edit = accepted(client.patch(f"{path}/metadata", json={
        "changes": {"description": "second", "tags": ["edited"]}}))
    recorded(client, edit)
    meta = client.get(path).json()["metadata"]
    assert (meta["description"], meta["tags"]) == ("second", ["edited"])

    [entry] = client.get(f"{path}/history").json()
    assert entry["event_id"] == edit and entry["actor"] == API_ACTOR
    assert entry["changes"] == {"description": "second", "tags": ["edited"]}
    assert entry["previous"] == {"description": "first", "tags": []}

    recorded(client, accepted(client.post(f"{path}/revert", json={"event_id": edit})))
    meta = client.get(path).json()["metadata"]
    assert (meta["description"], meta["tags"]) == ("first", [])
    history = client.get(f"{path}/history").json()
    assert [h["reverts"] for h in history] == [None, edit]


def test_alias_and_stage_changes_show_in_reads(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "ranker", {"m.bin": b"one" + proj.encode()}, kind="model")
    publish(client, proj, "ranker", {"m.bin": b"two" + proj.encode()}, kind="model")
    base = f"/v1/artifacts/{proj}/ranker"
    recorded(client, accepted(client.put(f"{base}/aliases/prod", json={"version": "v1"})))
    recorded(client, accepted(client.put(f"{base}/versions/prod/stage",
                                         json={"stage": "staging"})))  # production is gated

    artifact = client.get(base).json()
    assert artifact["aliases"] == {"latest": 2, "prod": 1}
    assert [v["stage"] for v in artifact["versions"]] == ["staging", None]
    prod = client.get("/v1/resolve", params={"ref": f"{proj}/ranker:prod"}).json()
    assert (prod["version_number"], prod["stage"]) == (1, "staging")
    assert prod["aliases"] == ["prod"]

    recorded(client, accepted(client.delete(f"{base}/aliases/prod")))
    assert client.get(base).json()["aliases"] == {"latest": 2}
    error_of(client.get(f"{base}/versions/prod"), 404)


def test_a_versions_events_list_everything_that_happened_to_it(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "tagger", {"m.bin": b"one" + proj.encode()}, kind="model")
    publish(client, proj, "tagger", {"m.bin": b"two" + proj.encode()}, kind="model")
    base = f"/v1/artifacts/{proj}/tagger"
    recorded(client, accepted(client.put(f"{base}/aliases/prod", json={"version": "v1"})))
    recorded(client, accepted(client.put(f"{base}/versions/v1/stage",
                                         json={"stage": "staging"})))
    edit = accepted(client.patch(f"{base}/versions/v1/metadata",
                                 json={"changes": {"description": "kept"}}))
    recorded(client, edit)

    events = client.get(f"{base}/versions/v1/events").json()
    mine = [(e["event_type"], e["detail"]) for e in events if e["event_type"] != "VerdictSet"]
    assert mine == [("Published", None), ("AliasMoved", "prod"), ("StageChanged", "to staging"),
                    ("MetadataEdited", None)]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert edit in {e["event_id"] for e in events}
    assert all(e["actor"] == API_ACTOR for e in events if e["event_type"] != "VerdictSet")
    other = client.get(f"{base}/versions/v2/events").json()  # v2's own: published, not staged
    assert [e["event_type"] for e in other if e["event_type"] != "VerdictSet"] == ["Published"]
    error_of(client.get(f"{base}/versions/v9/events"), 404)


def test_blob_round_trip(client: httpx.Client) -> None:
    data = uuid.uuid4().bytes * 100_000  # 1.6 MB: several chunks each way
    digest = sha(data)
    first = client.put(f"/v1/blobs/{digest}", content=data)
    assert first.status_code == 201 and first.json() == {"sha256": digest, "size": len(data)}
    assert client.put(f"/v1/blobs/{digest}", content=data).status_code == 200
    head = client.head(f"/v1/blobs/{digest}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    download = client.get(f"/v1/blobs/{digest}")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.content == data

    unknown = sha(uuid.uuid4().bytes)
    assert client.head(f"/v1/blobs/{unknown}").status_code == 404
    assert error_of(client.get(f"/v1/blobs/{unknown}"), 404)["reason"] == "not_found"
    missing = client.post("/v1/blobs/missing", json={"sha256": [digest, unknown]})
    assert missing.json() == {"missing": [unknown]}


def test_rejected_event_reports_the_reason(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "solo", {"x": proj.encode()})
    reply = client.put(f"/v1/artifacts/{proj}/solo/versions/v9/stage", json={"stage": "staging"})
    status = wait_for(client, accepted(reply))
    assert status["status"] == "rejected" and status["reason"] == "unknown_version"


def _body(proj: str, path: str = "ok.txt", **metadata: Any) -> dict[str, Any]:
    return {"kind": "dataset", "project": proj, "name": "bad", "metadata": metadata,
            "files": [{"path": path, "size": 1, "sha256": sha(b"x")}]}


@pytest.mark.parametrize(("path", "reason"), [
    ("../x", "path_traversal"), ("a/../../x", "path_traversal"), ("/etc/passwd", "absolute_path"),
])
def test_bad_paths_are_refused(client: httpx.Client, path: str, reason: str) -> None:
    upload(client, b"x")
    reply = client.post("/v1/artifacts", json=_body(project(), path, creator="a"))
    assert error_of(reply, 400)["reason"] == reason


def test_bad_multipart_filename_is_refused(client: httpx.Client) -> None:
    form = {"manifest": json.dumps({"kind": "dataset", "project": project(), "name": "bad",
                                    "metadata": {"creator": "a"}})}
    reply = client.post("/v1/artifacts", data=form, files=[("file", ("../evil", b"x"))])
    assert error_of(reply, 400)["reason"] == "path_traversal"


def test_missing_creator_is_refused(client: httpx.Client) -> None:
    upload(client, b"x")
    reply = client.post("/v1/artifacts", json=_body(project()))
    assert error_of(reply, 400)["reason"] == "missing_creator"


def test_missing_blobs_are_listed(client: httpx.Client) -> None:
    absent = sha(uuid.uuid4().bytes)
    body = {**_body(project(), creator="a"),
            "files": [{"path": "gone.bin", "size": 16, "sha256": absent}]}
    error = error_of(client.post("/v1/artifacts", json=body), 400)
    assert error["reason"] == "missing_blobs" and error["missing"] == [absent]


def test_request_shape_errors_use_the_error_body(client: httpx.Client) -> None:
    error = error_of(client.post("/v1/artifacts", json={"kind": "dataset"}), 422)
    assert error["reason"] == "invalid_request"
    assert error_of(client.get("/v1/resolve", params={"ref": "no-slash"}), 400)[
        "reason"] == "invalid_ref"
    assert error_of(client.get("/v1/events/not-a-uuid"), 400)["reason"] == "invalid_event_id"
    assert client.get(f"/v1/events/{uuid.uuid4()}").json() == {"status": "pending"}


def test_bad_changes_are_refused_before_emitting(client: httpx.Client) -> None:
    proj = project()
    publish(client, proj, "thing", {"t": proj.encode()})
    base = f"/v1/artifacts/{proj}/thing"
    cases = [
        (client.put(f"{base}/versions/v1/stage", json={"stage": "Shipped!"}), "invalid_stage"),
        (client.put(f"{base}/aliases/latest", json={"version": "v1"}), "reserved_alias"),
        (client.put(f"{base}/aliases/prod", json={"version": "V1!"}), "invalid_selector"),
        (client.patch(f"{base}/versions/v1/metadata", json={"changes": {"creator": "x"}}),
         "not_editable"),
        (client.post(f"{base}/versions/v1/links",
                     json={"relation": "likes", "target": f"{proj}/thing@v1"}), "invalid_relation"),
    ]
    for reply, reason in cases:
        assert error_of(reply, 400)["reason"] == reason
    off_ladder = client.put(f"{base}/versions/v1/stage", json={"stage": "shipped"})
    assert error_of(off_ladder, 422)["reason"] == "unknown_stage"  # well formed, not a stage


def test_writes_to_unknown_artifacts_are_404(client: httpx.Client) -> None:
    reply = client.put(f"/v1/artifacts/{project()}/nothing/versions/v1/stage",
                       json={"stage": "staging"})
    assert error_of(reply, 404)["reason"] == "not_found"


def test_writes_need_a_valid_token(anonymous: httpx.Client) -> None:
    data = b"anonymous"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}):
        reply = anonymous.put(f"/v1/blobs/{sha(data)}", content=data, headers=headers)
        assert error_of(reply, 401)["reason"] == "unauthenticated"
        reply = anonymous.post("/v1/artifacts", json=_body(project(), creator="a"),
                               headers=headers)
        assert error_of(reply, 401)["reason"] == "unauthenticated"
    assert anonymous.head(f"/v1/blobs/{sha(data)}").status_code == 404  # nothing stored
    assert anonymous.get("/readyz").status_code == 200  # reads stay open


def test_blob_digest_mismatch_stores_nothing(client: httpx.Client) -> None:
    claimed = sha(b"what I said")
    reply = client.put(f"/v1/blobs/{claimed}", content=b"what I sent")
    assert error_of(reply, 400)["reason"] == "digest_mismatch"
    assert client.head(f"/v1/blobs/{claimed}").status_code == 404
    assert error_of(client.put("/v1/blobs/not-hex", content=b"x"), 400)[
        "reason"] == "invalid_sha256"


def test_corrupted_blob_is_not_served_whole(client: httpx.Client,
                                            cairn_env: dict[str, str]) -> None:
    data = b"precious bytes " + uuid.uuid4().bytes
    digest = upload(client, data)
    on_disk = Path(cairn_env["CAIRN_BLOB_DIR"]) / "sha256" / digest[:2] / digest
    on_disk.chmod(0o644)
    on_disk.write_bytes(b"rotten bytes " + uuid.uuid4().bytes)
    with pytest.raises(httpx.TransportError):  # cut short of Content-Length
        client.get(f"/v1/blobs/{digest}")


def test_limits_give_413(limited: httpx.Client) -> None:
    big = b"z" * 2048
    reply = limited.put(f"/v1/blobs/{sha(big)}", content=big)
    assert error_of(reply, 413)["reason"] == "too_large"
    assert limited.head(f"/v1/blobs/{sha(big)}").status_code == 404

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield big[:1000]
        yield big[1000:]

    reply = limited.put(f"/v1/blobs/{sha(big)}", content=chunked())
    assert error_of(reply, 413)["reason"] == "too_large"

    form = {"manifest": json.dumps({"kind": "dataset", "project": project(), "name": "big",
                                    "metadata": {"creator": "a"}})}
    reply = limited.post("/v1/artifacts", data=form, files=[("file", ("big.bin", big))])
    assert error_of(reply, 413)["reason"] == "too_large"

    padded = {**_body(project(), creator="a"), "extra": {"pad": "p" * 5000}}
    assert error_of(limited.post("/v1/artifacts", json=padded), 413)["reason"] == "too_large"

    three = {**_body(project(), creator="a"), "files": [
        {"path": f"f{i}", "size": 1, "sha256": sha(b"x")} for i in range(3)]}
    assert error_of(limited.post("/v1/artifacts", json=three), 400)["reason"] == "too_many_files"
