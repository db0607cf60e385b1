"""Direct uploads' bytes: a file (or one part of it) PUT to a presigned URL as it is read,
several parts at once, and a note of each multipart upload begun, so an upload interrupted
by anything (a store outage, a killed process) resumes where it stopped.

Memory stays at one read chunk per part in flight, whatever the file's size. The notes are
small JSON files under $XDG_CACHE_HOME/cairn/uploads (~/.cache by default), one per blob,
naming the api and the upload; the api is asked to resume the upload and answers with only
the parts its store lacks. A note is only a hint: a stale one (the upload completed, or
aborted as abandoned) makes the api begin a new upload.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import httpx

from cairn.core.adapters.blobstore import CHUNK
from cairn.sdk.errors import CairnError
from cairn.sdk.progress import Advance

PARTS_IN_FLIGHT = 4  # parts PUT at once


def put_range(store: httpx.Client, url: str, source: Path, first: int, length: int,
              advance: Advance) -> None:
    """PUT bytes [first, first + length) of `source` to a presigned URL, read as sent."""
    def body() -> Iterator[bytes]:
        with source.open("rb") as fh:
            fh.seek(first)
            left = length
            while left:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    raise CairnError("file_changed", f"{source} got shorter after it was "
                                     "hashed; publish again once nothing is writing to it")
                left -= len(chunk)
                advance(len(chunk))
                yield chunk

    try:
        put = store.put(url, content=body(), headers={"Content-Length": str(length)})
    except httpx.TransportError as exc:
        raise CairnError("store_unreachable", f"the blob store did not take {source}: "
                         f"{exc}") from exc
    if not put.is_success:
        raise CairnError("store_refused", f"the blob store refused {source}: "
                         f"{put.status_code} {put.text[:200]}", put.status_code)


def put_part(store: httpx.Client, url: str, source: Path, number: int, part_size: int,
             size: int, advance: Advance) -> None:
    """PUT part `number` (from 1) of the file."""
    first = (number - 1) * part_size
    put_range(store, url, source, first, min(part_size, size - first), advance)


def put_parts(store: httpx.Client, source: Path, size: int, part_size: int,
              parts: Sequence[tuple[int, str]], advance: Advance) -> None:
    """PUT each (number, URL) part, PARTS_IN_FLIGHT at once; the first failure is raised
    once the parts in flight ended, and the parts not begun are not sent."""
    with ThreadPoolExecutor(min(PARTS_IN_FLIGHT, max(1, len(parts))),
                            thread_name_prefix="cairn-part") as pool:
        futures = [pool.submit(put_part, store, url, source, number, part_size, size, advance)
                   for number, url in parts]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def notes_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cairn" / "uploads"


class UploadNotes:
    """The multipart uploads this machine began, by blob: which one to resume."""

    def __init__(self, api: str, where: Path | None = None) -> None:
        self.api, self.where = api, where or notes_dir()

    def _path(self, sha256: str) -> Path:
        return self.where / f"{sha256}.json"

    def begun(self, sha256: str, size: int) -> str | None:
        """The upload id of the blob's upload begun on this api, if one was noted."""
        try:
            note = json.loads(self._path(sha256).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(note, dict) or note.get("api") != self.api or \
                note.get("size") != size or not isinstance(note.get("upload_id"), str):
            return None
        return str(note["upload_id"])

    def note(self, sha256: str, size: int, upload_id: str) -> None:
        """Remember an upload (best effort: a home without a writable cache only loses the
        resumption)."""
        with contextlib.suppress(OSError):
            self.where.mkdir(parents=True, exist_ok=True)
            tmp = self._path(sha256).with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"api": self.api, "size": size, "upload_id": upload_id}))
            os.replace(tmp, self._path(sha256))

    def forget(self, sha256: str) -> None:
        with contextlib.suppress(OSError):
            self._path(sha256).unlink(missing_ok=True)
