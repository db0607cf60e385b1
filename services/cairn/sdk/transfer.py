"""Moving bytes: upload only the blobs the api lacks, and restore files byte for byte.

Uploads stream from disk (the api verifies the sha256 while storing); downloads stream into
a temporary file beside the target, hashing as they go, and are renamed into place only when
size and sha256 match, so a failed pull never leaves a half-written file under a real name.
When the api's blob store is S3, both go straight to the store through presigned URLs (the
block "direct transfers" below; a big file in parts, resumable: cairn.sdk.parts); over a
local store the api answers 501 and they go through the api as before.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from cairn.core.adapters.blobstore import CHUNK, read_chunks
from cairn.core.domain.blob_receipts import HEADER as RECEIPT_HEADER
from cairn.core.domain.identity import InvalidInput, check_path, check_sha256
from cairn.sdk.errors import CairnError
from cairn.sdk.files import LocalFile, hash_file
from cairn.sdk.http import Http
from cairn.sdk.parts import UploadNotes, put_parts, put_range
from cairn.sdk.progress import Advance, bytes_progress


def upload_missing(http: Http, files: Sequence[LocalFile], show: bool | None,
                   workers: int = 1) -> dict[str, str]:
    """PUT every blob the api does not have yet (or not for us: one only versions we may
    not read list); returns each upload's receipt by sha256, which the publish sends.
    While the blob store is down, asks again as `http.store_retry` says (a direct upload
    asks which blobs are missing again: those already uploaded are not)."""
    def direct() -> dict[str, str] | None:
        uploads = _direct_uploads(http, files)
        return None if uploads is None else _upload_direct(http, files, uploads, show)

    receipts = http.store_retry.run("upload", direct)
    if receipts is not None:
        return receipts
    return upload(http, [f for f in files if f.sha256 in missing(http, files)], show, workers)


def missing(http: Http, files: Sequence[LocalFile]) -> set[str]:
    """The sha256s of `files` the api lacks (for us): one request, whatever their number
    (asked again while the blob store is down)."""
    shas = sorted({f.sha256 for f in files})
    return set(http.store_retry.run("upload", lambda: http.json(
        "POST", "/v1/blobs/missing", json={"sha256": shas})["missing"]))


def upload(http: Http, files: Sequence[LocalFile], show: bool | None, workers: int = 1,
           failed: dict[str, CairnError] | None = None) -> dict[str, str]:
    """PUT each distinct blob, `workers` at a time; its receipt by sha256 when it has one.
    A refused upload raises, or with `failed` given is put there by sha256 (a bulk publish
    refuses the items naming it, not the whole call). Each PUT is tried again while the
    blob store is down."""
    todo = list({f.sha256: f for f in files}.values())
    receipts: dict[str, str] = {}

    def one(f: LocalFile, advance: Advance) -> None:
        try:
            if receipt := http.store_retry.run("upload", lambda: _upload(http, f, advance)):
                receipts[f.sha256] = receipt
        except CairnError as exc:
            if failed is None:
                raise
            failed[f.sha256] = exc

    with bytes_progress("uploading", sum(f.size for f in todo), show) as advance:
        if workers <= 1 or len(todo) <= 1:
            for f in todo:
                one(f, advance)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="cairn-upload") as pool:
                list(pool.map(lambda f: one(f, advance), todo))
    return receipts


def _upload(http: Http, f: LocalFile, advance: Advance) -> str | None:
    def body() -> Iterator[bytes]:
        with f.source.open("rb") as fh:
            for chunk in read_chunks(fh):
                advance(len(chunk))
                yield chunk

    try:
        reply = http.request("PUT", f"/v1/blobs/{f.sha256}", content=body(),
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(f.size)})
        receipt: str | None = reply.headers.get(RECEIPT_HEADER)
        return receipt
    except CairnError as exc:
        if exc.reason == "digest_mismatch":
            raise CairnError("file_changed", f"{f.source} changed after it was hashed; "
                             "publish again once nothing is writing to it", exc.status) from exc
        raise


def targets(files: Sequence[Mapping[str, Any]], dest: Path) -> list[Path]:
    """Where each manifest path lands under dest; refuses any path that could escape dest."""
    real_dest = dest.resolve()
    out = []
    for f in files:
        path = check_path(f["path"])
        check_sha256(f["sha256"])
        target = dest.joinpath(*path.split("/"))
        # an existing symlink inside dest could still lead outside: resolve what exists
        if not target.resolve().is_relative_to(real_dest):
            raise InvalidInput("path_escape", f"{path!r} would be written outside {dest} "
                               "(through a symlink there); pull into an empty directory")
        out.append(target)
    return out


def restore(http: Http, files: Sequence[Mapping[str, Any]], dest: Path, show: bool | None,
            *, ref: str | None = None, headers: dict[str, str] | None = None) -> list[Path]:
    """Write every file of a manifest under dest; files already identical are kept. Each
    download is tried again while the blob store is down, as `http.store_retry` says.

    `ref` tells the api which version each blob is downloaded as (a blob may belong to
    several), so the download is counted for that version."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = targets(files, dest)
    direct = True  # until the api says its store is a local directory
    with bytes_progress("downloading", sum(int(f["size"]) for f in files), show) as advance:
        for f, target in zip(files, paths, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            if _identical(target, f):
                advance(int(f["size"]))
                continue
            params = {"ref": ref} if ref else None

            def once(f: Mapping[str, Any] = f, target: Path = target,
                     params: dict[str, str] | None = params, direct: bool = direct) -> bool:
                # True while the store gives presigned URLs (asked once per pull)
                if direct and _download_direct(http, f["sha256"], int(f["size"]), target,
                                               advance, params, headers):
                    return True
                _download(http, f["sha256"], int(f["size"]), target, advance, params, headers)
                return False

            direct = http.store_retry.run("download", once)
    return paths


def _identical(target: Path, f: Mapping[str, Any]) -> bool:
    if target.is_symlink() or not target.is_file() or target.stat().st_size != int(f["size"]):
        return False
    return bool(hash_file(target, lambda _: None)[0] == f["sha256"])


def _download(http: Http, sha256: str, size: int, target: Path, advance: Advance,
              params: dict[str, str] | None, headers: dict[str, str] | None) -> None:
    with http.stream("GET", f"/v1/blobs/{sha256}", params=params, headers=headers) as reply:
        _write_verified(reply, sha256, size, target, advance)


def _write_verified(reply: httpx.Response, sha256: str, size: int, target: Path,
                    advance: Advance) -> None:
    # a fresh name opened with "xb" gets the user's umask, unlike mkstemp's 0600
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.part"
    try:
        digest, written = hashlib.sha256(), 0
        with tmp.open("xb") as out:
            for chunk in reply.iter_bytes(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
                advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256 or written != size:
            raise CairnError("corrupt_download", f"{target.name}: got {written} bytes hashing "
                             f"to {digest.hexdigest()}, expected {size} bytes of {sha256}; "
                             "pull again")
        os.replace(tmp, target)  # atomic: the real name only ever holds verified bytes
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- direct transfers (issue 15)
# Over an S3 blob store the api hands out presigned URLs: bytes go between this process and
# the store, never in a request to the api; the api checks each upload (sha256, size) before
# it is a blob (POST /v1/blobs/{sha256}/uploads/{id}). The store gets no Cairn token.

_STORE = httpx.Timeout(300.0, connect=10.0)


# What an api without direct transfers answers: a local store (501), or an older api.
_NOT_DIRECT = {"direct_transfer_unavailable", "not_found", "method_not_allowed"}


def _direct(exc: CairnError) -> bool:
    """Whether a failed request for a presigned URL is a real failure, not "go via the api"
    (a missing blob then answers 404 on the api's own download)."""
    return exc.reason not in _NOT_DIRECT


def _direct_uploads(http: Http, files: Sequence[LocalFile]) -> list[dict[str, Any]] | None:
    """How to upload each blob the api lacks (for us) straight to its store: a presigned
    URL, or one per part for a blob over a part (resuming an upload this machine noted);
    None over a local store."""
    if http.direct_transfers is False:  # this api said so once: no request to ask again
        return None
    by_sha = {f.sha256: f for f in files}
    if not by_sha:  # nothing to upload: no request (the api refuses an empty list)
        return []
    notes = UploadNotes(http.url)
    resume = {s: u for s, f in by_sha.items() if (u := notes.begun(s, f.size)) is not None}
    try:
        uploads: list[dict[str, Any]] = http.json("POST", "/v1/blobs/uploads", json={
            "sha256": sorted(by_sha), "sizes": {s: f.size for s, f in by_sha.items()},
            "resume": resume})["uploads"]
    except CairnError as exc:
        if _direct(exc):
            raise
        http.direct_transfers = False
        return None
    for sha256 in set(resume) - {u["sha256"] for u in uploads}:
        notes.forget(sha256)  # stored meanwhile: nothing left to resume
    return uploads


def _upload_direct(http: Http, files: Sequence[LocalFile], uploads: list[dict[str, Any]],
                   show: bool | None) -> dict[str, str]:
    """Send each blob straight to the store (whole, or the parts it lacks, several at once),
    then have the api check it and make it a blob; its receipt by sha256."""
    by_sha = {f.sha256: f for f in files}
    todo = [(by_sha[u["sha256"]], u) for u in uploads]
    notes = UploadNotes(http.url)
    receipts: dict[str, str] = {}
    with bytes_progress("uploading", sum(f.size for f, _ in todo), show) as advance, \
            httpx.Client(timeout=_STORE) as store:
        for f, u in todo:
            if u.get("url"):
                put_range(store, u["url"], f.source, 0, f.size, advance)
            else:
                part_size = int(u["part_size"])
                notes.note(f.sha256, f.size, u["upload_id"])
                advance(sum(min(part_size, f.size - (n - 1) * part_size) for n in u["done"]))
                put_parts(store, f.source, f.size, part_size,
                          [(p["number"], p["url"]) for p in u["parts"]], advance)
            try:
                # the api reads the upload back to hash it: allow 10 MB/s at the least
                done = http.request("POST", f"/v1/blobs/{f.sha256}/uploads/{u['upload_id']}",
                                    timeout=max(60.0, f.size / 10e6))
            except CairnError as exc:
                if exc.reason == "digest_mismatch":
                    notes.forget(f.sha256)
                    raise CairnError("file_changed", f"{f.source} changed after it was "
                                     "hashed; publish again once nothing is writing to it",
                                     exc.status) from exc
                raise
            notes.forget(f.sha256)
            if receipt := done.headers.get(RECEIPT_HEADER):
                receipts[f.sha256] = receipt
    return receipts


def _download_direct(http: Http, sha256: str, size: int, target: Path, advance: Advance,
                     params: dict[str, str] | None, headers: dict[str, str] | None) -> bool:
    """Download from a presigned URL, verified as a download from the api is; False (nothing
    done) when the api's store is a local directory."""
    try:
        url = http.json("GET", f"/v1/blobs/{sha256}/url", params=params, headers=headers)["url"]
    except CairnError as exc:
        if _direct(exc):
            raise
        return False
    with httpx.Client(timeout=_STORE) as store, store.stream("GET", url) as reply:
        if not reply.is_success:
            reply.read()
            raise CairnError("store_refused", f"the blob store refused the download of "
                             f"{sha256}: {reply.status_code}", reply.status_code)
        _write_verified(reply, sha256, size, target, advance)
    return True
