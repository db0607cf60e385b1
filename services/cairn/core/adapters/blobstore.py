"""Content-addressed, write-once blob storage.

Blobs are named by their sha256. A write streams into a temporary file in the same
directory tree, hashing as it goes, and is renamed into place only when the digest matches:
a crash never leaves a partial blob under a real name, and a second write of the same bytes
is a no-op. Reads are verified against the digest, so corruption is never served silently.
`BlobStore` is the interface; `LocalBlobStore` is the default, and an S3-compatible store
can implement the same four methods.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from cairn.core.domain.identity import InvalidInput, check_sha256

CHUNK = 1024 * 1024


class BlobCorrupted(RuntimeError):
    """Stored bytes no longer hash to their name."""


class BlobStore(Protocol):
    def has(self, sha256: str) -> bool: ...
    def put(
        self,
        chunks: Iterable[bytes],
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
        *,
        skip_stored: bool = True,
    ) -> tuple[str, int]: ...
    def open(self, sha256: str) -> Iterator[bytes]: ...
    def size(self, sha256: str) -> int: ...


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


class LocalBlobStore:
    """Blobs under `<root>/sha256/<2 hex>/<64 hex>`, read-only once written."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

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
            for _ in chunks:  # drain the stream so an HTTP body is consumed either way
                pass
            return expected_sha256, self.size(expected_sha256)
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise InvalidInput("blob_too_large", f"blob exceeds {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            if expected_sha256 is not None and sha != expected_sha256:
                raise InvalidInput(
                    "digest_mismatch", f"uploaded bytes hash to {sha}, not {expected_sha256}"
                )
            final = self.path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                return sha, size
            tmp.chmod(0o444)
            os.replace(tmp, final)  # atomic: readers see the whole blob or none
            return sha, size
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, sha256: str) -> Iterator[bytes]:
        """Stream a blob; raises BlobCorrupted at the end if its bytes do not match its name."""
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(f"no blob {sha256}")
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in read_chunks(fh):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise BlobCorrupted(f"blob {sha256} is corrupted on disk")
