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

import functools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import chain
from typing import TYPE_CHECKING, TypeVar, get_args

import httpx
import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from cairn.core.adapters.blobstore import (
    BlobStore,
    Metered,
    ReadableClass,
    UploadPlan,
    verified_chunks,
)
from cairn.core.adapters.s3_multipart import (
    MAX_PART,
    MIN_PART,
    Multipart,
    client_for,
    part_length,
    part_size_for,
    problem,
)
from cairn.core.domain.identity import InvalidInput, check_sha256

if TYPE_CHECKING:
    from obstore import Attributes
    from obstore.store import S3Config

    from cairn.core.adapters.s3_multipart import Staged

PART = 8 * 1024 * 1024  # multipart part size; a blob under it is one PUT
PARTS_IN_FLIGHT = 4  # parts uploaded at once: an upload buffers at most this many parts
READ_CHUNK = 1024 * 1024
SIGNED_FOR = timedelta(minutes=5)  # the life of a URL Cairn signs for its own request
DIRECT_PART = 64 * 1024 * 1024  # a client's direct upload over this goes in parts of it
T = TypeVar("T")
READABLE_CLASSES = get_args(ReadableClass)


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

    def __init__(self, url: str, config: S3Config | None = None, *,
                 storage_class: ReadableClass | None = None, direct_part: int = DIRECT_PART,
                 copy_part: int = MAX_PART) -> None:
        """`storage_class` is each object's (x-amz-storage-class: the archive tier's, say);
        `direct_part` the part size of a client's direct upload, `copy_part` the size over
        which an object is copied in parts (5 GiB, CopyObject's limit; smaller in tests)."""
        if storage_class is not None and storage_class not in READABLE_CLASSES:
            raise ValueError(f"storage class {storage_class!r} is not one of "
                             f"{', '.join(READABLE_CLASSES)} (restores read blobs at once)")
        if not MIN_PART <= direct_part <= MAX_PART:
            raise ValueError(f"a part has {MIN_PART} to {MAX_PART} bytes, not {direct_part}")
        self.location = url.rstrip("/")
        self.config = config
        self.store = store_at(self.location, config)
        self.http = httpx.Client(timeout=30)
        self.storage_class = storage_class
        self.direct_part, self.copy_part = direct_part, copy_part
        self._attributes: Attributes = {"Storage-Class": storage_class} if storage_class else {}
        self._bucket_seen = False

    @functools.cached_property
    def multipart(self) -> Multipart:
        """The calls obstore lacks (multipart, ListParts, copies with a storage class), made
        on first use: most stores never need a second client."""
        bucket, _, prefix = self.location.removeprefix("s3://").partition("/")
        return Multipart(client_for(self.config), bucket, prefix.strip("/"), self.location,
                         self.storage_class)

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
        for path, modified in self._listed("sha256"):
            if modified <= cutoff:
                yield path.rsplit("/", 1)[-1]

    def _listed(self, prefix: str) -> Iterator[tuple[str, float]]:
        """(key, last modified in seconds since the epoch) of each object under `prefix`."""
        pages = self._call(lambda: iter(obstore.list(self.store, prefix=prefix)))
        while page := self._call(lambda: next(pages, None)):
            for meta in page:
                yield meta["path"], meta["last_modified"].timestamp()

    def _store(self, metered: Metered, expected_sha256: str | None) -> str:
        """One PUT for a blob under one part, else a multipart upload (to a temporary key
        when the name is not known in advance, copied to its name once hashed)."""
        stream = iter(metered)
        head, ended = _first_part(stream)
        if ended:  # one PUT, sent only once the digest is known good
            sha = metered.verified(expected_sha256)
            self._call(lambda: obstore.put(self.store, self.key(sha), head,
                                           attributes=self._attributes))
            return sha
        target = self.key(expected_sha256) if expected_sha256 else f"tmp/{uuid.uuid4().hex}"
        self._upload(target, chain([head], stream), metered, expected_sha256)
        sha = metered.verified(expected_sha256)
        if expected_sha256 is None:
            try:
                self.multipart.copy(target, self.key(sha), metered.size, self.copy_part)
            finally:
                self.delete_key(target)
        return sha

    def _upload(self, target: str, parts: Iterator[bytes], metered: Metered,
                expected_sha256: str | None) -> None:
        """A multipart upload that completes only if the stream ends with the expected digest;
        a failure of the stream (too large, bad digest, client gone) aborts it and is raised
        as itself."""
        def checked() -> Iterator[bytes]:
            yield from parts
            metered.verified(expected_sha256)

        self.multipart.put_stream(target, checked(), PART, PARTS_IN_FLIGHT)

    def open(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob; raises BlobCorrupted at the end if its bytes do not match its name,
        FileNotFoundError if there is none."""
        found = self._call(lambda: obstore.get(self.store, self.key(sha256)))
        raw = (bytes(chunk) for chunk in found.stream(min_chunk_size=READ_CHUNK))
        yield from verified_chunks(raw, sha256, self.location)

    # ---------------------------------------------------------- direct transfers (Presigning)

    def _staged(self, sha256: str, upload_id: str) -> str:
        return f"uploads/{check_sha256(sha256)}/{check_upload_id(upload_id)}"

    def plan_upload(self, sha256: str, size: int | None, resume: str | None,
                    expires: timedelta) -> UploadPlan:
        """How a client uploads the blob straight to the store, to a staging key of its own
        (nothing there is a blob until complete_upload checked it): one presigned PUT, or
        for a blob over one part (its `size` known) a multipart upload with a presigned URL
        per part. `resume` names an earlier multipart upload of the blob: if the store still
        has it, for the same size, the plan lists only the parts it lacks."""
        life = int(expires.total_seconds())
        if size is None or size <= self.direct_part:
            upload_id = uuid.uuid4().hex
            key = self._staged(sha256, upload_id)
            return UploadPlan(upload_id, url=self._call(
                lambda: obstore.sign(self.store, "PUT", key, expires)))
        found = self._resumable(sha256, resume, size)
        if found is None:
            upload_id = uuid.uuid4().hex
            staged = self.multipart.start(self._staged(sha256, upload_id), size,
                                          part_size_for(size, self.direct_part))
            have: dict[int, tuple[int, str]] = {}
        else:
            upload_id, staged = found
            have = self.multipart.parts(staged)
        todo = self.multipart.missing(staged, have)
        return UploadPlan(upload_id, part_size=staged.part_size,
                          parts=[(n, self.multipart.part_url(staged, n, life)) for n in todo],
                          done=sorted(set(have) - set(todo)))

    def _resumable(self, sha256: str, upload_id: str | None, size: int
                   ) -> tuple[str, Staged] | None:
        if upload_id is None:
            return None
        try:
            staged = self.multipart.find(self._staged(sha256, upload_id))
        except FileNotFoundError:  # not an upload id at all
            return None
        return (upload_id, staged) if staged is not None and staged.size == size else None

    def complete_upload(self, sha256: str, upload_id: str, max_bytes: int | None) -> int:
        """Make a direct upload the blob if it is: a multipart one is completed only when
        every planned part is there at its planned size (else 409 upload_incomplete, and it
        stays, to be resumed); then the staged bytes are hashed (read here: s3proxy has no
        S3 checksums) and copied to the blob's key if they are the blob. The staged object
        goes either way. Its size, or InvalidInput (digest_mismatch, blob_too_large,
        upload_incomplete), FileNotFoundError for no upload."""
        staged_key = self._staged(sha256, upload_id)
        if (multipart := self.multipart.find(staged_key)) is not None:
            staged_key = self._assemble(multipart, max_bytes)
        try:
            found = self._call(lambda: obstore.get(self.store, staged_key))
            metered = Metered((bytes(c) for c in found.stream(min_chunk_size=READ_CHUNK)),
                              max_bytes)
            for _ in metered:
                pass
            metered.verified(sha256)
            if not self.has(sha256):
                self.multipart.copy(staged_key, self.key(sha256), metered.size, self.copy_part)
            return metered.size
        finally:
            self.delete_key(staged_key)

    def _assemble(self, staged: Staged, max_bytes: int | None) -> str:
        """Complete a multipart upload whose parts are all there; its key."""
        if max_bytes is not None and staged.size > max_bytes:
            self.multipart.abort(staged)
            raise InvalidInput("blob_too_large", f"blob exceeds {max_bytes} bytes")
        have = self.multipart.parts(staged)
        if lacking := self.multipart.missing(staged, have):
            raise InvalidInput("upload_incomplete", f"the store lacks {len(lacking)} of the "
                               f"upload's parts (first: {lacking[0]}); send them, then "
                               "complete again")
        self.multipart.complete(staged, {n: have[n] for n in sorted(have)
                                         if have[n][0] == part_length(n, staged.size,
                                                                      staged.part_size)})
        return staged.key

    def abandoned(self, cutoff: float) -> list[str]:
        """Abort the direct uploads begun before `cutoff` (seconds since the epoch) and not
        completed, and delete what their single PUTs left; the keys, for the log."""
        gone = []
        for staged in self.multipart.in_progress("uploads/"):
            if staged.initiated is not None and staged.initiated.timestamp() <= cutoff:
                self.multipart.abort(staged)
                gone.append(staged.key)
        for prefix in ("uploads", "tmp"):
            for path, modified in self._listed(prefix):
                if modified <= cutoff:
                    self.delete_key(path)
                    gone.append(path)
        return gone

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
