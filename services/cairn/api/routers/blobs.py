"""Content-addressed blobs: upload before publishing, download by sha256.

A blob is stored only if its bytes hash to the name it was uploaded under, so a name is a
promise about content that every reader can check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import structlog
from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import StreamingResponse

from cairn.api import downloads
from cairn.api.deps import (
    BlobsDep,
    CurrentActor,
    CurrentPrincipal,
    PoolDep,
    SettingsDep,
    UsageDep,
)
from cairn.api.errors import ApiError, Reason, not_found
from cairn.api.models import BlobStored, Missing, MissingQuery
from cairn.api.uploads import blocking_chunks, in_upload_thread
from cairn.api.usage import count_download
from cairn.core.adapters.blobstore import BlobCorrupted
from cairn.core.adapters.signing import required_master
from cairn.core.domain import blob_receipts
from cairn.core.domain.identity import check_sha256, parse_ref

router = APIRouter(prefix="/v1/blobs", tags=["blobs"])
log = structlog.get_logger("api")
# Should a browser render a download anyway: no script, no fetch, a unique origin.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


@router.put("/{sha256}", status_code=201, response_model=BlobStored,
            responses={200: {"model": BlobStored, "description": "already stored"},
                       201: {"headers": {blob_receipts.HEADER: {
                           "description": "the upload's receipt, for a publish naming "
                           "this blob (Publish.receipts)", "schema": {"type": "string"}}}}})
async def put_blob(sha256: str, request: Request, response: Response, actor: CurrentActor,
                   principal: CurrentPrincipal, blobs: BlobsDep, pool: PoolDep,
                   settings: SettingsDep) -> BlobStored:
    """Store the raw body under its sha256: 201, or 200 if it was there already. A blob only
    projects hidden from the caller list is, to them, not there: its bytes are checked as a
    first upload's and the answer is a first upload's. Every 201 carries the upload's
    receipt (X-Cairn-Blob-Receipt), which a publish naming such a blob must send."""
    check_sha256(sha256)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_file_bytes:
        raise _too_large(settings.max_file_bytes)
    existed = await asyncio.to_thread(blobs.has, sha256) and \
        not await downloads.unseen(pool, principal, [sha256])
    digest, size = await in_upload_thread(lambda: blobs.put(
        blocking_chunks(request.stream()), sha256, settings.max_file_bytes,
        skip_stored=existed))
    if existed:
        response.status_code = 200
    else:  # the bytes were hashed: proof the caller has them
        response.headers[blob_receipts.HEADER] = blob_receipts.receipt(
            required_master(settings, "the api"), actor, digest)
    return BlobStored(sha256=digest, size=size)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, Reason.TOO_LARGE, f"a blob may have at most {limit} bytes "
                    "(CAIRN_MAX_FILE_BYTES)")


@router.post("/missing", response_model=Missing)
async def missing_blobs(query: MissingQuery, _: CurrentActor, principal: CurrentPrincipal,
                        blobs: BlobsDep, pool: PoolDep) -> Missing:
    """Which of these blobs the store lacks, so a client uploads only those; one that only
    projects hidden from the caller list is lacking, as HEAD says."""
    wanted = list(dict.fromkeys(check_sha256(s) for s in query.sha256))
    present = await asyncio.to_thread(lambda: {s for s in wanted if blobs.has(s)})
    present -= await downloads.unseen(pool, principal, present)
    return Missing(missing=[s for s in wanted if s not in present])


@router.head("/{sha256}")
async def has_blob(sha256: str, blobs: BlobsDep) -> Response:
    check_sha256(sha256)
    if not await asyncio.to_thread(blobs.has, sha256):
        raise not_found(f"blob {sha256}")
    size = await asyncio.to_thread(blobs.size, sha256)
    return Response(headers={"Content-Length": str(size), "ETag": f'"{sha256}"'})


@router.get("/{sha256}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def get_blob(sha256: str, blobs: BlobsDep, request: Request, pool: PoolDep,
                   principal: CurrentPrincipal, usage: UsageDep, background: BackgroundTasks,
                   ref: str | None = None) -> StreamingResponse:
    """The blob's bytes as an attachment, verified against the digest while streaming.
    Counts as a download of the version `ref` names (`project/name@v3`), or of the one
    version listing the blob, if the caller may read it; that version names the file."""
    check_sha256(sha256)
    version = parse_ref(ref) if ref else None
    if not await asyncio.to_thread(blobs.has, sha256):
        raise not_found(f"blob {sha256}")
    found = await downloads.downloaded_version(pool, principal, sha256, version)
    background.add_task(count_download, usage, request, found)
    size = await asyncio.to_thread(blobs.size, sha256)
    return StreamingResponse(
        hold_last(blobs.open(sha256), sha256), media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{sha256}"',
                 "Cache-Control": await downloads.cache_control(pool, principal, sha256),
                 "Content-Disposition": downloads.attachment(found.path if found else None),
                 "Content-Security-Policy": DOWNLOAD_CSP},
    )


def hold_last(chunks: Iterator[bytes], sha256: str) -> Iterator[bytes]:
    """Send each chunk only once the next was read. The store raises BlobCorrupted after the
    last chunk, so corruption cuts the response short of Content-Length and the client sees
    a broken download instead of complete-looking bad bytes."""
    held: bytes | None = None
    try:
        for chunk in chunks:
            if held is not None:
                yield held
            held = chunk
    except BlobCorrupted:
        log.error("blob corrupted on disk: download cut short", sha256=sha256)
        raise
    if held is not None:
        yield held
