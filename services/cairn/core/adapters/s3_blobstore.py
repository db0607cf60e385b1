"""Content-addressed blobs in an S3-compatible bucket, behind the same interface as the
local directory (cairn.core.adapters.blobstore.BlobStore).

Keys mirror the directory: `<prefix>/sha256/<2 hex>/<64 hex>`. The client is obstore (one
Rust client with a blocking API, which the blob store's interface is, and an async one, with
multipart uploads and presigned URLs built in), configured as every AWS tool is: endpoint,
region and credentials come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (and the rest of obstore's S3Config variables).

A blob is visible only once whole and verified. Cairn hashes every upload as it streams
(each request's body is also covered by its SigV4 payload hash, which the server checks);
S3's own x-amz-checksum-sha256 is not asked for, since servers such as s3proxy refuse it
(501) and a multipart object's checksum is not the file's sha256 anyway. With the name known
in advance the bytes go straight to their key and the upload is completed only when their
digest matches, else aborted; unnamed bytes go to `<prefix>/tmp/<uuid>` and are copied to
their key once hashed. Small blobs (under one part) take a single PUT, sent after the digest
was checked.

The server's failures become BlobStoreUnavailable with a reason an operator can act on:
blob_store_unreachable, blob_store_denied (credentials), blob_store_no_bucket.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import chain
from typing import TYPE_CHECKING, TypeVar

import httpx
import obstore
from obstore.exceptions import (
    BaseError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from cairn.core.adapters.blobstore import (
    BlobStore,
    BlobStoreUnavailable,
    Metered,
    verified_chunks,
)
from cairn.core.domain.identity import check_sha256

if TYPE_CHECKING:
    from obstore.store import S3Config

PART = 8 * 1024 * 1024  # multipart part size; a blob under it is one PUT
PARTS_IN_FLIGHT = 4  # parts uploaded at once: an upload buffers at most this many parts
READ_CHUNK = 1024 * 1024
SIGNED_FOR = timedelta(minutes=5)  # the life of a URL Cairn signs for its own request
T = TypeVar("T")

# Words of the server's error bodies that say why, where the client's error type does not.
_DENIED = ("403 Forbidden", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")


def problem(exc: Exception, where: str) -> BlobStoreUnavailable:
    """What an operator should fix, from a failed call to the store at `where`."""
    text = str(exc)
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError) or \
            any(word in text for word in _DENIED):
        return BlobStoreUnavailable("blob_store_denied", f"the blob store {where} refused "
                                    "Cairn's credentials (AWS_ACCESS_KEY_ID, "
                                    "AWS_SECRET_ACCESS_KEY)")
    if "NoSuchBucket" in text:
        return BlobStoreUnavailable("blob_store_no_bucket",
                                    f"the bucket of the blob store {where} does not exist")
    return BlobStoreUnavailable("blob_store_unreachable",
                                f"the blob store {where} did not answer: {text.splitlines()[0]}")


def store_at(url: str, config: S3Config | None = None) -> S3Store:
    """An obstore S3 client for `s3://bucket/prefix`, the rest from the AWS_* variables
    (`config` overrides them)."""
    endpoint = str((config or {}).get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3")
                   or os.environ.get("AWS_ENDPOINT_URL", ""))
    return S3Store.from_url(
        url,
        config=config,
        client_options={"allow_http": endpoint.startswith("http://"),
                        "connect_timeout": timedelta(seconds=5),
                        "timeout": timedelta(seconds=120)},
        # A store that is down fails the request in seconds (503), not after minutes.
        retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=15),
                      "backoff": {"init_backoff": timedelta(milliseconds=100),
                                  "max_backoff": timedelta(seconds=2), "base": 2}},
    )


class S3BlobStore(BlobStore):
    """Blobs under `s3://<bucket>/<prefix>/sha256/<2 hex>/<64 hex>`, written once."""

    def __init__(self, url: str, config: S3Config | None = None) -> None:
        self.location = url.rstrip("/")
        self.store = store_at(self.location, config)
        self.http = httpx.Client(timeout=30)
        self._bucket_seen = False

    def key(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"sha256/{sha256[:2]}/{sha256}"

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except FileNotFoundError:
            raise
        except BaseError as exc:
            raise problem(exc, self.location) from exc

    def check(self) -> None:
        """Raise BlobStoreUnavailable unless the bucket answers to Cairn's credentials (a
        HEAD of a missing key in a missing bucket is a bare 404, so has() asks this once)."""
        try:
            next(iter(obstore.list(self.store, prefix="sha256", chunk_size=1)), None)
        except BaseError as exc:
            raise problem(exc, self.location) from exc
        self._bucket_seen = True

    def has(self, sha256: str) -> bool:
        try:
            self._call(lambda: obstore.head(self.store, self.key(sha256)))
        except FileNotFoundError:
            if not self._bucket_seen:
                self.check()
            return False
        return True

    def size(self, sha256: str) -> int:
        return self._call(lambda: obstore.head(self.store, self.key(sha256)))["size"]

    def delete(self, sha256: str) -> None:
        self.delete_key(self.key(sha256))

    def delete_key(self, key: str) -> None:
        """One DeleteObject, through a presigned URL: obstore deletes through DeleteObjects
        (bulk), which some S3-compatible servers (s3proxy) refuse with 501."""
        url = self._call(lambda: obstore.sign(self.store, "DELETE", key, SIGNED_FOR))
        try:
            answer = self.http.delete(url)
        except httpx.HTTPError as exc:
            raise problem(exc, self.location) from exc
        if answer.status_code not in (200, 204, 404):
            raise problem(RuntimeError(f"DELETE answered {answer.status_code} "
                                       f"{answer.reason_phrase}: {answer.text[:300]}"),
                          self.location)

    def entered_before(self, cutoff: float) -> Iterator[str]:
        """Blobs stored at or before `cutoff` (seconds since the epoch), by name."""
        pages = self._call(lambda: iter(obstore.list(self.store, prefix="sha256")))
        while page := self._call(lambda: next(pages, None)):
            for meta in page:
                if meta["last_modified"].timestamp() <= cutoff:
                    yield meta["path"].rsplit("/", 1)[-1]

    def _store(self, metered: Metered, expected_sha256: str | None) -> str:
        """One PUT for a blob under one part, else a multipart upload (to a temporary key
        when the name is not known in advance, copied to its name once hashed)."""
        stream = iter(metered)
        head, ended = _first_part(stream)
        if ended:  # one PUT, sent only once the digest is known good
            sha = metered.verified(expected_sha256)
            self._call(lambda: obstore.put(self.store, self.key(sha), head))
            return sha
        target = self.key(expected_sha256) if expected_sha256 else f"tmp/{uuid.uuid4().hex}"
        self._upload(target, chain([head], stream), metered, expected_sha256)
        sha = metered.verified(expected_sha256)
        if expected_sha256 is None:
            try:
                self._call(lambda: obstore.copy(self.store, target, self.key(sha)))
            finally:
                self.delete_key(target)
        return sha

    def _upload(self, target: str, parts: Iterator[bytes], metered: Metered,
                expected_sha256: str | None) -> None:
        """A multipart upload that completes only if the stream ends with the expected digest;
        a failure of the stream (too large, bad digest, client gone) aborts it and is raised
        as itself, whatever the client then says of the abort."""
        failed: list[BaseException] = []

        def checked() -> Iterator[bytes]:
            try:
                yield from parts
                metered.verified(expected_sha256)
            except BaseException as exc:
                failed.append(exc)
                raise

        try:
            obstore.put(self.store, target, checked(), chunk_size=PART,
                        max_concurrency=PARTS_IN_FLIGHT)
        except BaseException as exc:
            if failed:
                raise failed[0] from None
            if isinstance(exc, BaseError):
                raise problem(exc, self.location) from exc
            raise

    def open(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob; raises BlobCorrupted at the end if its bytes do not match its name,
        FileNotFoundError if there is none."""
        found = self._call(lambda: obstore.get(self.store, self.key(sha256)))
        raw = (bytes(chunk) for chunk in found.stream(min_chunk_size=READ_CHUNK))
        yield from verified_chunks(raw, sha256, self.location)

    # ---------------------------------------------------------- direct transfers (Presigning)

    def _staged(self, sha256: str, upload_id: str) -> str:
        return f"uploads/{check_sha256(sha256)}/{check_upload_id(upload_id)}"

    def upload_url(self, sha256: str, expires: timedelta) -> tuple[str, str]:
        """(upload id, URL) for one PUT of the blob's bytes straight to the store, to a staging
        key of its own: nothing there is a blob until complete_upload has checked it."""
        upload_id = uuid.uuid4().hex
        staged = self._staged(sha256, upload_id)
        return upload_id, self._call(lambda: obstore.sign(self.store, "PUT", staged, expires))

    def complete_upload(self, sha256: str, upload_id: str, max_bytes: int | None) -> int:
        """Hash the staged bytes (read here: s3proxy has no S3 checksums) and copy them to the
        blob's key if they are the blob; the staged object goes either way. Its size, or
        InvalidInput (digest_mismatch, blob_too_large), FileNotFoundError for no upload."""
        staged = self._staged(sha256, upload_id)
        try:
            found = self._call(lambda: obstore.get(self.store, staged))
            metered = Metered((bytes(c) for c in found.stream(min_chunk_size=READ_CHUNK)),
                              max_bytes)
            for _ in metered:
                pass
            metered.verified(sha256)
            if not self.has(sha256):
                self._call(lambda: obstore.copy(self.store, staged, self.key(sha256)))
            return metered.size
        finally:
            self.delete_key(staged)

    def download_url(self, sha256: str, expires: timedelta) -> str:
        """A URL through which a client GETs the blob straight from the store."""
        key = self.key(sha256)
        return self._call(lambda: obstore.sign(self.store, "GET", key, expires))


def check_upload_id(upload_id: str) -> str:
    """An upload id is 32 hex digits (it becomes part of a key); FileNotFoundError if not."""
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise FileNotFoundError(f"no upload {upload_id!r}")
    return upload_id


def _first_part(stream: Iterator[bytes]) -> tuple[bytes, bool]:
    """Up to one part's bytes from the stream, and whether the stream ended within them."""
    got: list[bytes] = []
    size = 0
    for chunk in stream:
        got.append(chunk)
        size += len(chunk)
        if size >= PART:
            return b"".join(got), False
    return b"".join(got), True
