"""Content-addressed, write-once blob storage.

Blobs are named by their sha256. A write streams into a temporary file in the same
directory tree, hashing as it goes, and is renamed into place only when the digest matches:
a crash never leaves a partial blob under a real name, and a second write of the same bytes
is a no-op. Reads are verified against the digest, so corruption is never served silently.
`BlobStore` is the interface; `LocalBlobStore` is the default, `S3BlobStore`
(cairn.core.adapters.s3_blobstore) keeps blobs in an S3-compatible bucket, and
cairn.core.adapters.blob_stores chooses between them from the settings.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, runtime_checkable

from cairn.core.domain.identity import InvalidInput, check_sha256

CHUNK = 1024 * 1024


class BlobCorrupted(RuntimeError):
    """Stored bytes no longer hash to their name."""


# Storage classes whose objects are read at once, as a restore needs (not GLACIER or
# DEEP_ARCHIVE, whose objects need hours of RestoreObject first): the cold tier's choice.
ReadableClass = Literal["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                        "GLACIER_IR", "REDUCED_REDUNDANCY"]

# Why a blob store could not be used: what an operator fixes (the api answers 503 with it).
StoreProblem = Literal["blob_store_unreachable", "blob_store_denied", "blob_store_no_bucket"]


class BlobStoreUnavailable(RuntimeError):
    """The store did not answer, refused our credentials, or lacks its bucket: nothing to do
    with the request, so the api answers 503 with `reason` and the client may retry."""

    def __init__(self, reason: StoreProblem, message: str) -> None:
        super().__init__(message)
        self.reason: StoreProblem = reason


@dataclass(frozen=True)
class UploadPlan:
    """What a client sends where: one PUT to `url`, or each part of `part_size` bytes (the
    last one shorter) to its URL in `parts`, as (part number from 1, URL); `parts` lists only
    those the store still lacks, `done` those it has (a resumed upload)."""

    upload_id: str
    url: str | None = None
    part_size: int | None = None
    parts: list[tuple[int, str]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)


@runtime_checkable
class Presigning(Protocol):
    """A store clients can reach themselves (S3): the api hands out URLs, the bytes go
    between the client and the store, and the api checks an upload before it is a blob."""

    def plan_upload(self, sha256: str, size: int | None, resume: str | None,
                    expires: timedelta) -> UploadPlan: ...
    def complete_upload(self, sha256: str, upload_id: str, max_bytes: int | None) -> int: ...
    def download_url(self, sha256: str, expires: timedelta) -> str: ...
    def abandoned(self, cutoff: float) -> list[str]: ...


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_chunks(fh: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    while data := fh.read(chunk):
        yield data


class Metered:
    """Chunks passed through as they are, hashed and counted on the way: a stream over
    `max_bytes` stops with blob_too_large, and `verified` holds the digest to its name."""

    def __init__(self, chunks: Iterable[bytes], max_bytes: int | None) -> None:
        self.chunks, self.max_bytes = chunks, max_bytes
        self.digest, self.size = hashlib.sha256(), 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            if self.max_bytes is not None and self.size > self.max_bytes:
                raise InvalidInput("blob_too_large", f"blob exceeds {self.max_bytes} bytes")
            self.digest.update(chunk)
            yield chunk

    def verified(self, expected_sha256: str | None) -> str:
        """The stream's sha256, once read to its end; digest_mismatch if not the expected."""
        sha = self.digest.hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise InvalidInput(
                "digest_mismatch", f"uploaded bytes hash to {sha}, not {expected_sha256}"
            )
        return sha


def verified_chunks(chunks: Iterable[bytes], sha256: str, where: str) -> Iterator[bytes]:
    """Chunks of a stored blob passed through; BlobCorrupted after the last one if their
    digest is not the blob's name."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise BlobCorrupted(f"blob {sha256} is corrupted in {where}")


class BlobStore(ABC):
    """The interface, and the write every store shares: skip a blob stored already, else
    meter the stream (size limit, digest) while the store writes it, where only verified
    bytes become a blob."""

    location: str  # where the blobs are, for logs and status pages

    @abstractmethod
    def has(self, sha256: str) -> bool: ...

    @abstractmethod
    def size(self, sha256: str) -> int: ...

    @abstractmethod
    def open(self, sha256: str) -> Iterator[bytes]: ...

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def entered_before(self, cutoff: float) -> Iterator[str]: ...

    @abstractmethod
    def _store(self, metered: Metered, expected_sha256: str | None) -> str:
        """Write the metered stream; its verified sha256 (InvalidInput stores nothing)."""

    def put(
        self,
        chunks: Iterable[bytes],
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
        *,
        skip_stored: bool = True,
    ) -> tuple[str, int]:
        """Store a stream; return (sha256, size). A mismatching expected digest stores nothing.
        A blob stored already under `expected_sha256` is not read again, unless `skip_stored`
        is false: then the bytes are checked (digest, size limit) exactly as a first upload's."""
        if skip_stored and expected_sha256 is not None and self.has(expected_sha256):
            for _ in chunks:  # drained, so an HTTP body is consumed either way
                pass
            return expected_sha256, self.size(expected_sha256)
        metered = Metered(chunks, max_bytes)
        return self._store(metered, expected_sha256), metered.size


class LocalBlobStore(BlobStore):
    """Blobs under `<root>/sha256/<2 hex>/<64 hex>`, read-only once written."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def entered_before(self, cutoff: float) -> Iterator[str]:
        """Blobs stored at or before `cutoff` (seconds since the epoch), by name."""
        for path in sorted((self.root / "sha256").glob("??/*")):
            if path.is_file() and path.stat().st_mtime <= cutoff:
                yield path.name

    def _store(self, metered: Metered, expected_sha256: str | None) -> str:
        """Write into a temporary file, then rename it to the blob's name once verified."""
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in metered:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = metered.verified(expected_sha256)
            final = self.path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                return sha
            tmp.chmod(0o444)
            os.replace(tmp, final)  # atomic: readers see the whole blob or none
            return sha
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob; raises BlobCorrupted at the end if its bytes do not match its name."""
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(f"no blob {sha256}")
        with path.open("rb") as fh:
            yield from verified_chunks(read_chunks(fh), sha256, "the blob directory")
