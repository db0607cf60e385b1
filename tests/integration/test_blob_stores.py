"""Both blob stores keep the same promises: the local directory and an S3 bucket on a real
S3-compatible server (s3proxy, `scripts/stack up --s3`).

A blob is stored under its sha256 only when its bytes hash to it, is visible only once whole,
is read back verified, and a store that cannot be used says why (BlobStoreUnavailable, and
the api's 503 with that reason). The archiver's tiers built from settings work on both.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import obstore
import pytest
from cairn.archiver.tiers import Tiers
from cairn.core.adapters.blob_stores import open_store
from cairn.core.adapters.blobstore import (
    BlobCorrupted,
    BlobStore,
    BlobStoreUnavailable,
    LocalBlobStore,
)
from cairn.core.adapters.s3_blobstore import PART, S3BlobStore
from cairn.core.adapters.settings import Settings
from cairn.core.domain.identity import InvalidInput

from tests.conftest import API_TOKEN, api_env
from tests.processes import Service, free_port
from tests.s3_server import (
    S3_VARIABLES,
    empty,
    fresh_url,
    require_s3,
    s3_config,
    service_s3_env,
)

SMALL = b"small blob " * 100
BIG = os.urandom(1024) * (2 * PART // 1024 + 3)  # three parts of a multipart upload


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    env = require_s3()
    s3 = S3BlobStore(fresh_url(env, "blobs"), s3_config(env))
    yield s3
    empty(s3)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunked(data: bytes, size: int = 1024 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def leftovers(store: BlobStore) -> list[str]:
    """Whatever a store holds besides its blobs (temporary uploads)."""
    if isinstance(store, LocalBlobStore):
        return [p.name for p in (store.root / "tmp").iterdir()]
    assert isinstance(store, S3BlobStore)
    return [m["path"] for page in obstore.list(store.store, prefix="tmp") for m in page]


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["one-put", "multipart"])
def test_named_upload_round_trips(store: BlobStore, data: bytes) -> None:
    digest = sha(data)
    assert not store.has(digest)
    assert store.put(chunked(data), digest) == (digest, len(data))
    assert store.has(digest) and store.size(digest) == len(data)
    assert b"".join(store.open(digest)) == data
    # stored already: not read again, the same answer
    assert store.put(iter([b"ignored"]), digest) == (digest, len(data))


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["one-put", "multipart"])
def test_unnamed_upload_is_stored_under_its_digest(store: BlobStore, data: bytes) -> None:
    assert store.put(chunked(data)) == (sha(data), len(data))
    assert b"".join(store.open(sha(data))) == data
    assert leftovers(store) == []


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["one-put", "multipart"])
def test_wrong_digest_stores_nothing(store: BlobStore, data: bytes) -> None:
    claimed = sha(b"other bytes")
    with pytest.raises(InvalidInput) as refused:
        store.put(chunked(data), claimed)
    assert refused.value.reason == "digest_mismatch"
    assert not store.has(claimed) and not store.has(sha(data))
    assert leftovers(store) == []


def test_checked_again_when_not_skipping(store: BlobStore) -> None:
    """skip_stored=False (a blob only hidden projects list) reads and checks the bytes."""
    store.put(chunked(SMALL), sha(SMALL))
    with pytest.raises(InvalidInput) as refused:
        store.put(iter([b"not the bytes"]), sha(SMALL), skip_stored=False)
    assert refused.value.reason == "digest_mismatch"
    assert b"".join(store.open(sha(SMALL))) == SMALL


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["one-put", "multipart"])
def test_over_the_limit_stores_nothing(store: BlobStore, data: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        store.put(chunked(data), sha(data), max_bytes=len(data) - 1)
    assert refused.value.reason == "blob_too_large"
    assert not store.has(sha(data))


def test_stream_that_fails_halfway_stores_nothing(store: BlobStore) -> None:
    """A client that goes away mid-upload: its error comes out, no blob appears."""
    def broken() -> Iterator[bytes]:
        yield from chunked(BIG[:PART + 10])
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put(broken(), sha(BIG))
    assert not store.has(sha(BIG))


def test_corrupted_blob_is_never_served_silently(store: BlobStore) -> None:
    digest = sha(SMALL)
    store.put(chunked(SMALL), digest)
    if isinstance(store, LocalBlobStore):
        path = store.path(digest)
        path.chmod(0o644)
        path.write_bytes(b"rotten" + SMALL[6:])
    else:
        assert isinstance(store, S3BlobStore)
        obstore.put(store.store, store.key(digest), b"rotten" + SMALL[6:])
    with pytest.raises(BlobCorrupted):
        b"".join(store.open(digest))


def test_missing_blob(store: BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        b"".join(store.open(sha(b"never stored")))


def test_delete_and_age(store: BlobStore) -> None:
    old, new = b"old blob", b"new blob"
    store.put(iter([old]), sha(old))
    between = time.time() + 1  # the server's clock is this machine's; seconds resolution
    time.sleep(2)
    store.put(iter([new]), sha(new))
    assert list(store.entered_before(between)) == [sha(old)]
    assert sorted(store.entered_before(time.time() + 5)) == sorted([sha(old), sha(new)])
    store.delete(sha(old))
    store.delete(sha(old))  # gone already: no error
    assert not store.has(sha(old)) and store.has(sha(new))


def test_open_store_chooses_by_location(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "b"), LocalBlobStore)
    assert isinstance(open_store("s3://bucket/prefix"), S3BlobStore)


# ------------------------------------------------------------ a store that cannot be used


def test_wrong_credentials_say_so() -> None:
    env = require_s3()
    store = S3BlobStore(fresh_url(env, "denied"), s3_config(env, secret_access_key="wrong"))
    for call in (lambda: store.has(sha(SMALL)), lambda: store.put(iter([SMALL]), sha(SMALL)),
                 lambda: store.put(chunked(BIG), sha(BIG))):
        with pytest.raises(BlobStoreUnavailable) as failed:
            call()
        assert failed.value.reason == "blob_store_denied"


def test_missing_bucket_says_so() -> None:
    env = require_s3()
    store = S3BlobStore("s3://no-such-bucket-for-cairn/x", s3_config(env))
    for call in (lambda: store.has(sha(SMALL)), lambda: store.put(iter([SMALL]), sha(SMALL))):
        with pytest.raises(BlobStoreUnavailable) as failed:
            call()
        assert failed.value.reason == "blob_store_no_bucket"


def test_store_down_says_so() -> None:
    env = require_s3()
    nobody = f"http://127.0.0.1:{free_port()}"
    store = S3BlobStore(fresh_url(env, "down"), s3_config(env, endpoint=nobody))
    with pytest.raises(BlobStoreUnavailable) as failed:
        store.has(sha(SMALL))
    assert failed.value.reason == "blob_store_unreachable"


# ------------------------------------------------------------ the archiver's tiers


@pytest.fixture(params=["local", "s3"])
def tiers(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Tiers]:
    """Hot, archive and trash as the archiver builds them from its settings."""
    if request.param == "local":
        yield Tiers.of(Settings(blob_dir=tmp_path / "blobs"))
        return
    env = require_s3()
    for name in S3_VARIABLES:  # as the archiver's environment would have them
        if name in env:
            monkeypatch.setenv(name, env[name])
    tiers = Tiers.of(Settings(blob_url=fresh_url(env, "tiers")))
    yield tiers
    empty(*(t for t in (tiers.hot, tiers.cold) if isinstance(t, S3BlobStore)))


def test_tiers_archive_restore_trash_and_purge_after_grace(tiers: Tiers) -> None:
    data = os.urandom(2048)
    digest = sha(data)
    tiers.hot.put(iter([data]), digest)
    assert tiers.place(digest, "cold") == "archived"
    assert (tiers.hot.has(digest), tiers.cold.has(digest)) == (False, True)
    assert tiers.place(digest, "hot") == "restored"
    assert (tiers.hot.has(digest), tiers.cold.has(digest)) == (True, False)
    assert tiers.place(digest, "gone") == "removed"
    assert tiers.trash.has(digest) and not tiers.hot.has(digest)
    assert list(tiers.purgeable(grace_seconds=3600)) == []  # still within its grace
    assert list(tiers.purgeable(grace_seconds=3600, now=time.time() + 3602)) == [digest]
    assert tiers.place(digest, "gone", purge=True) == "purged"
    assert not any(t.has(digest) for t in (tiers.hot, tiers.cold, tiers.trash))


# ------------------------------------------------------------ the api on a store it cannot use


@pytest.mark.parametrize("reason", ["blob_store_no_bucket", "blob_store_denied",
                                    "blob_store_unreachable"])
def test_the_api_answers_503_with_what_is_wrong(reason: str, cairn_env: dict[str, str],
                                                ledger: Service, tmp_path: Path) -> None:
    s3 = require_s3()
    wrong = {"blob_store_no_bucket": {"CAIRN_BLOB_URL": "s3://no-such-bucket-for-cairn/x"},
             "blob_store_denied": {"AWS_SECRET_ACCESS_KEY": "wrong"},
             "blob_store_unreachable": {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}}
    env = {**api_env(cairn_env), **service_s3_env(s3, fresh_url(s3, "api")), **wrong[reason]}
    api = Service("api", env, tmp_path).start()
    try:
        with httpx.Client(base_url=api.url, timeout=60,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            answers = [client.put(f"/v1/blobs/{sha(SMALL)}", content=SMALL),
                       client.post("/v1/blobs/missing", json={"sha256": [sha(SMALL)]}),
                       client.get(f"/v1/blobs/{sha(SMALL)}")]
    finally:
        api.stop()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["reason"] == reason


# ------------------------------------------------------------ S3 only: cold storage, copies, sweeps

MiB = 1024 * 1024


def storage_class(store: BlobStore, sha256: str) -> str | None:
    """The object's x-amz-storage-class, as the server reports it."""
    assert isinstance(store, S3BlobStore)
    head = store.multipart.client.head_object(
        Bucket=store.multipart.bucket, Key=store.multipart.full(store.key(sha256)))
    found: str | None = head.get("StorageClass")
    return found


def test_the_cold_tier_on_s3_keeps_its_storage_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """CAIRN_COLD_STORAGE_CLASS is sent with every write to the archive tier and the trash
    (s3proxy's filesystem backend keeps and reports it for a PUT and a multipart upload; it
    ignores it on CopyObject, which the tiers do not use); the hot store keeps the default,
    and a restore is a move like any other. Classes that need a RestoreObject are refused."""
    env = require_s3()
    for name in S3_VARIABLES:
        if name in env:
            monkeypatch.setenv(name, env[name])
    tiers = Tiers.of(Settings(blob_url=fresh_url(env, "cold"),
                              cold_storage_class="STANDARD_IA"))
    try:
        for data in (SMALL, BIG):
            digest = sha(data)
            tiers.hot.put(chunked(data), digest)
            assert storage_class(tiers.hot, digest) in (None, "STANDARD")
            assert tiers.place(digest, "cold") == "archived"
            assert storage_class(tiers.cold, digest) == "STANDARD_IA"
            assert tiers.place(digest, "gone") == "removed"
            assert storage_class(tiers.trash, digest) == "STANDARD_IA"
            assert tiers.place(digest, "hot") == "restored"
            assert storage_class(tiers.hot, digest) in (None, "STANDARD")
            assert b"".join(tiers.hot.open(digest)) == data
    finally:
        empty(*(t for t in (tiers.hot, tiers.cold) if isinstance(t, S3BlobStore)))
    with pytest.raises(ValueError, match="cold_storage_class"):
        Settings(cold_storage_class="GLACIER")  # type: ignore[arg-type]


def test_an_object_over_the_copy_limit_is_copied_in_parts() -> None:
    """One CopyObject copies at most 5 GiB: a bigger object (here over a 5 MiB limit) is
    copied with UploadPartCopy, and arrives whole."""
    env = require_s3()
    store = S3BlobStore(fresh_url(env, "copy"), s3_config(env), copy_part=5 * MiB)
    copied: list[int] = []
    store.multipart.client.meta.events.register(
        "before-call.s3.UploadPartCopy", lambda params, **_: copied.append(1))
    try:
        digest, size = store.put(chunked(BIG))  # unnamed: to tmp/, then copied to its name
        assert (digest, size) == (sha(BIG), len(BIG))
        assert len(copied) == -(-len(BIG) // (5 * MiB))
        assert b"".join(store.open(digest)) == BIG
        assert leftovers(store) == []
    finally:
        empty(store)


def test_abandoned_direct_uploads_are_swept() -> None:
    """Direct uploads begun and never completed (a multipart upload with a part, a single
    PUT's staged object) are aborted or deleted by the archiver's tiers once older than the
    expiry (CAIRN_UPLOAD_EXPIRY_SECONDS), not before."""
    env = require_s3()
    url = fresh_url(env, "sweep")
    store = S3BlobStore(url, s3_config(env), direct_part=5 * MiB)
    tiers = Tiers(store, S3BlobStore(f"{url}-archive", s3_config(env)))
    try:
        big = store.plan_upload(sha(BIG), len(BIG), None, timedelta(hours=1))
        assert big.url is None and [n for n, _ in big.parts] == [1, 2, 3, 4]
        assert httpx.put(big.parts[0][1], content=BIG[:5 * MiB], timeout=60).is_success
        small = store.plan_upload(sha(SMALL), len(SMALL), None, timedelta(hours=1))
        assert small.url and httpx.put(small.url, content=SMALL, timeout=60).is_success
        assert tiers.abandoned_uploads(expiry_seconds=3600) == []
        assert len(tiers.abandoned_uploads(expiry_seconds=3600, now=time.time() + 3605)) == 2
        assert list(store.multipart.in_progress("uploads/")) == []
        assert [m for page in obstore.list(store.store, prefix="uploads") for m in page] == []
    finally:
        empty(store)
