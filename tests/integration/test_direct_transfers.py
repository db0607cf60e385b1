"""Direct transfers: over S3 the api hands out presigned URLs and the bytes go between the
client and the store; an upload is a blob only once the api checked its sha256 and size.
Over the local directory the same routes answer 501 and PUT/GET work as before.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cairn.sdk import transfer

from tests.blob_worlds import BlobWorld, blob_world_fixture  # noqa: F401
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
