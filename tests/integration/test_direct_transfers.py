"""Direct transfers: over S3 the api hands out presigned URLs and the bytes go between the
client and the store; an upload is a blob only once the api checked its sha256 and size.
Over the local directory the same routes answer 501 and PUT/GET work as before. A blob
over one part goes in parts, and an interrupted upload resumes with the parts it lacks.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.sdk import CairnError, parts, transfer

from tests.blob_worlds import PART_BYTES, BlobWorld, blob_world_fixture  # noqa: F401
from tests.conftest import API_TOKEN


@pytest.fixture
def client(blob_world: BlobWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=blob_world.api.url, timeout=60,
                      headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        yield client


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_check_publish_and_download_without_the_api(
        blob_world: BlobWorld, client: httpx.Client, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    asked = client.post("/v1/blobs/uploads", json={"sha256": [sha(data)]})
    if blob_world.kind == "local":
        assert asked.status_code == 501
        assert asked.json()["error"]["reason"] == "direct_transfer_unavailable"
        return
    assert asked.status_code == 200, asked.text
    [upload] = asked.json()["uploads"]
    assert upload["sha256"] == sha(data)
    assert httpx.put(upload["url"], content=data, timeout=60).status_code == 200  # to S3
    assert client.head(f"/v1/blobs/{sha(data)}").status_code == 404  # not a blob yet
    done = client.post(f"/v1/blobs/{sha(data)}/uploads/{upload['upload_id']}")
    assert done.status_code == 201, done.text
    assert done.json() == {"sha256": sha(data), "size": len(data)}
    assert done.headers["x-cairn-blob-receipt"]
    assert client.post("/v1/blobs/uploads", json={"sha256": [sha(data)]}).json()["uploads"] == []
    (tmp_path / "w.bin").write_bytes(data)
    p = f"direct-{uuid.uuid4().hex[:8]}"
    published = blob_world.sdk.publish("model", p, "m", [str(tmp_path / "w.bin")],
                                       root=tmp_path)
    got = client.get(f"/v1/blobs/{sha(data)}/url", params={"ref": published.ref})
    assert got.status_code == 200, got.text
    assert got.json()["size"] == len(data)
    assert httpx.get(got.json()["url"], timeout=60).content == data  # from S3


def test_an_upload_that_is_not_the_blob_is_refused_and_gone(
        blob_world: BlobWorld, client: httpx.Client) -> None:
    if blob_world.kind == "local":
        pytest.skip("no direct transfers over the local directory (the test above says 501)")
    claimed, sent = os.urandom(1000), os.urandom(1000)
    [upload] = client.post("/v1/blobs/uploads", json={"sha256": [sha(claimed)]}).json()["uploads"]
    assert httpx.put(upload["url"], content=sent, timeout=60).status_code == 200
    done = client.post(f"/v1/blobs/{sha(claimed)}/uploads/{upload['upload_id']}")
    assert done.status_code == 400 and done.json()["error"]["reason"] == "digest_mismatch"
    assert client.head(f"/v1/blobs/{sha(claimed)}").status_code == 404
    again = client.post(f"/v1/blobs/{sha(claimed)}/uploads/{upload['upload_id']}")
    assert again.status_code == 404  # the staged bytes are gone
    odd = client.post(f"/v1/blobs/{sha(claimed)}/uploads/..%2F..%2Fsha256")
    assert odd.status_code == 404


def test_the_sdk_moves_bytes_straight_to_and_from_the_store(
        blob_world: BlobWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over S3 the SDK's uploads and downloads through the api are never called; over the
    local directory they are (the api says 501 and the SDK goes through it as before)."""
    through_api: list[str] = []
    for name in ("_upload", "_download"):
        real = getattr(transfer, name)
        monkeypatch.setattr(transfer, name, lambda *a, _real=real, _name=name, **k: (
            through_api.append(_name), _real(*a, **k))[1])
    data = os.urandom(9 * 1024 * 1024 + 7)  # over one multipart part on the api's side
    (tmp_path / "w.bin").write_bytes(data)
    p = f"sdk-direct-{uuid.uuid4().hex[:8]}"
    published = blob_world.sdk.publish("model", p, "m", [str(tmp_path / "w.bin")],
                                       root=tmp_path)
    [pulled] = blob_world.sdk.pull(published.ref, tmp_path / "out")
    assert pulled.read_bytes() == data
    assert through_api == ([] if blob_world.kind == "s3" else ["_upload", "_download"])


# ------------------------------------------------------------ big blobs: parts, resumption

def put_parts(plan: dict[str, Any], data: bytes, numbers: list[int]) -> None:
    size = plan["part_size"]
    urls = {p["number"]: p["url"] for p in plan["parts"]}
    for n in numbers:
        put = httpx.put(urls[n], content=data[(n - 1) * size:n * size], timeout=60)
        assert put.status_code == 200, put.text


def test_a_big_blob_goes_in_parts_completed_only_whole_and_resumable(
        blob_world: BlobWorld, client: httpx.Client) -> None:
    """A blob over one part (the S3 world's api: 5 MiB) is uploaded in parts to presigned
    URLs; completing before the store has them all is refused (409) and leaves the upload,
    which a resume lists with only the missing parts; whole, it becomes the blob. A size
    the client does not give means one PUT, as before."""
    if blob_world.kind == "local":
        pytest.skip("no direct transfers over the local directory (the first test says 501)")
    data = os.urandom(2 * PART_BYTES + 12_345)
    digest = sha(data)
    assert client.post("/v1/blobs/uploads", json={"sha256": [digest]}).json()[
        "uploads"][0]["url"]
    asked = client.post("/v1/blobs/uploads", json={"sha256": [digest],
                                                   "sizes": {digest: len(data)}})
    assert asked.status_code == 200, asked.text
    [plan] = asked.json()["uploads"]
    assert plan["url"] is None and plan["part_size"] == PART_BYTES
    assert [p["number"] for p in plan["parts"]] == [1, 2, 3] and plan["done"] == []
    put_parts(plan, data, [1, 3])
    early = client.post(f"/v1/blobs/{digest}/uploads/{plan['upload_id']}")
    assert early.status_code == 409 and early.json()["error"]["reason"] == "upload_incomplete"
    assert client.head(f"/v1/blobs/{digest}").status_code == 404
    resumed = client.post("/v1/blobs/uploads", json={
        "sha256": [digest], "sizes": {digest: len(data)},
        "resume": {digest: plan["upload_id"]}}).json()["uploads"][0]
    assert resumed["upload_id"] == plan["upload_id"]
    assert [p["number"] for p in resumed["parts"]] == [2] and resumed["done"] == [1, 3]
    put_parts(resumed, data, [2])
    done = client.post(f"/v1/blobs/{digest}/uploads/{plan['upload_id']}")
    assert done.status_code == 201, done.text
    assert done.json() == {"sha256": digest, "size": len(data)}
    assert client.head(f"/v1/blobs/{digest}").headers["content-length"] == str(len(data))
    # the upload is gone: resuming it begins another (for a blob the store lacks)
    other = os.urandom(PART_BYTES + 1)
    first = client.post("/v1/blobs/uploads", json={
        "sha256": [sha(other)], "sizes": {sha(other): len(other)}}).json()["uploads"][0]
    wrong = bytearray(other)
    wrong[-1] ^= 1
    put_parts(first, bytes(wrong), [1, 2])
    refused = client.post(f"/v1/blobs/{sha(other)}/uploads/{first['upload_id']}")
    assert refused.status_code == 400
    assert refused.json()["error"]["reason"] == "digest_mismatch"
    again = client.post("/v1/blobs/uploads", json={
        "sha256": [sha(other)], "sizes": {sha(other): len(other)},
        "resume": {sha(other): first["upload_id"]}}).json()["uploads"][0]
    assert again["upload_id"] != first["upload_id"]
    assert [p["number"] for p in again["parts"]] == [1, 2]


def test_an_interrupted_sdk_upload_resumes_with_only_the_missing_parts(
        blob_world: BlobWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK uploads a big file's parts straight to the store; cut off after some parts
    (here: the store refuses part 3, which no retry helps), a second publish sends only the
    parts the store lacks, and the version records the file's sha256."""
    if blob_world.kind == "local":
        pytest.skip("no direct transfers over the local directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sent: list[int] = []
    real = parts.put_part

    def failing(store: httpx.Client, url: str, source: Path, number: int,
                *args: Any) -> None:
        if number == 3:
            raise CairnError("store_refused", "the test cut the upload at part 3", 403)
        sent.append(number)
        real(store, url, source, number, *args)

    monkeypatch.setattr(parts, "put_part", failing)
    data = os.urandom(3 * PART_BYTES + 999)  # four parts
    (tmp_path / "w.bin").write_bytes(data)
    p = f"resume-{uuid.uuid4().hex[:8]}"
    with pytest.raises(CairnError, match="part 3"):
        blob_world.sdk.publish("model", p, "m", [str(tmp_path / "w.bin")], root=tmp_path)
    first = set(sent)  # 1 and 2 at least; 4 too if it began before part 3 failed
    assert {1, 2} <= first and 3 not in first
    assert list((tmp_path / "cache" / "cairn" / "uploads").glob("*.json"))  # noted
    sent.clear()
    monkeypatch.setattr(parts, "put_part", lambda store, url, source, number, *args: (
        sent.append(number), real(store, url, source, number, *args))[-1])
    published = blob_world.sdk.publish("model", p, "m", [str(tmp_path / "w.bin")],
                                       root=tmp_path)
    assert sorted(sent) == sorted({1, 2, 3, 4} - first)  # only what the store lacked
    assert not list((tmp_path / "cache" / "cairn" / "uploads").glob("*.json"))  # done
    [entry] = blob_world.sdk.show(published.ref)["files"]
    assert (entry["sha256"], entry["size"]) == (sha(data), len(data))
    [pulled] = blob_world.sdk.pull(published.ref, tmp_path / "out")
    assert pulled.read_bytes() == data
    # a note left by a process that died after its upload completed is dropped, not kept
    notes = parts.UploadNotes(blob_world.api.url)
    notes.note(sha(data), len(data), uuid.uuid4().hex)
    assert notes.begun(sha(data), len(data)) is not None
    blob_world.sdk.publish("model", p, "m2", [str(tmp_path / "w.bin")], root=tmp_path)
    assert notes.begun(sha(data), len(data)) is None
