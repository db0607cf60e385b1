"""Content-addressed blobs: upload before publishing, download by sha256.

A blob is stored only if its bytes hash to the name it was uploaded under, so a name is a
promise about content that every reader can check.

Direct transfers, where the blob store is one clients reach themselves (S3): the api hands
out presigned URLs, so the bytes go between the client and the store and never through the
api's HTTP traffic. An upload lands under a staging key and becomes a blob only once
`POST /v1/blobs/{sha256}/uploads/{id}` checked its size and sha256; so a publish can name
only checked blobs. A blob over one part (CAIRN_MULTIPART_PART_BYTES) whose size the client
gives is uploaded in parts, a presigned URL each, so any size works (one PUT stops at
5 GiB); a client interrupted halfway names the upload again (`resume`) and is given URLs
for only the parts the store lacks. Over the local directory these routes answer 501 and
clients upload through PUT as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import structlog
from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

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
from cairn.api.models import BlobsStored, BlobStored, Missing, MissingQuery
from cairn.api.uploads import PartReader, blocking_chunks, in_upload_thread
from cairn.api.usage import count_download
from cairn.core.adapters.blobstore import BlobCorrupted, BlobStore, Presigning
from cairn.core.adapters.signing import required_master
from cairn.core.domain import blob_receipts
from cairn.core.domain.identity import InvalidInput, check_sha256, parse_ref

router = APIRouter(prefix="/v1/blobs", tags=["blobs"])
log = structlog.get_logger("api")
# Should a browser render a download anyway: no script, no fetch, a unique origin.
DOWNLOAD_CSP = "default-src 'none'; sandbox"
DIRECT_URL_LIFE = timedelta(hours=1)  # how long a presigned upload or download URL works


class DirectUploadQuery(MissingQuery):
    # each blob's size: one over a part is uploaded in parts (without it: one PUT)
    sizes: dict[str, int] = Field(default_factory=dict)
    # an upload of the blob begun earlier (its upload_id), to be resumed if the store has it
    resume: dict[str, str] = Field(default_factory=dict)


class PartUrl(BaseModel):
    number: int  # from 1: bytes [(number - 1) * part_size, number * part_size) of the file
    url: str


class DirectUpload(BaseModel):
    sha256: str
    upload_id: str
    # PUT the whole blob here; or, with part_size, each listed part to its URL. Then
    # POST /v1/blobs/{sha256}/uploads/{upload_id}.
    url: str | None = None
    part_size: int | None = None
    parts: list[PartUrl] = Field(default_factory=list)  # the parts the store lacks
    done: list[int] = Field(default_factory=list)  # those it has (a resumed upload)


class DirectUploads(BaseModel):
    uploads: list[DirectUpload]  # one per blob the store lacks, as POST /missing lists them
    expires_in: int


class DirectDownload(BaseModel):
    url: str
    size: int
    expires_in: int


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


@router.post("", response_model=BlobsStored, openapi_extra={"requestBody": {
    "required": True, "description": "multipart/form-data, one part per blob whose filename "
    "is its sha256; within CAIRN_MAX_EVENT_BYTES in all (larger blobs: PUT each)",
    "content": {"multipart/form-data": {"schema": {"type": "object"}}}}})
async def put_blobs(request: Request, actor: CurrentActor, blobs: BlobsDep,
                    settings: SettingsDep) -> BlobsStored:
    """Many small blobs in one request (Client.publish_many's uploads): each part is stored
    as PUT /v1/blobs/{sha256} stores a first upload (its bytes hashed and checked against
    its name, a mismatch refusing the request: 400 digest_mismatch), and each gets its
    receipt. One request instead of one per blob."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput("invalid_multipart", "send the blobs as multipart/form-data, one "
                           "part per blob whose filename is its sha256")

    def store_all() -> list[tuple[str, int]]:
        out = []
        for part in PartReader(content_type, blocking_chunks(request.stream())).parts():
            sha256 = check_sha256(part.filename or "")
            out.append(blobs.put(part.chunks, sha256, settings.max_file_bytes,
                                 skip_stored=False))  # checked, whoever stored it before
        return out

    stored = await in_upload_thread(store_all)
    master = required_master(settings, "the api")
    return BlobsStored(stored=[BlobStored(sha256=d, size=n) for d, n in stored],
                       receipts={d: blob_receipts.receipt(master, actor, d) for d, _ in stored})


def _too_large(limit: int) -> ApiError:
    return ApiError(413, Reason.TOO_LARGE, f"a blob may have at most {limit} bytes "
                    "(CAIRN_MAX_FILE_BYTES)")


@router.post("/missing", response_model=Missing)
async def missing_blobs(query: MissingQuery, _: CurrentActor, principal: CurrentPrincipal,
                        blobs: BlobsDep, pool: PoolDep) -> Missing:
    """Which of these blobs the store lacks, so a client uploads only those; one that only
    projects hidden from the caller list is lacking, as HEAD says."""
    return Missing(missing=await _missing(query, principal, blobs, pool))


async def _missing(query: MissingQuery, principal: CurrentPrincipal, blobs: BlobStore,
                   pool: PoolDep) -> list[str]:
    wanted = list(dict.fromkeys(check_sha256(s) for s in query.sha256))
    present = await asyncio.to_thread(lambda: {s for s in wanted if blobs.has(s)})
    present -= await downloads.unseen(pool, principal, present)
    return [s for s in wanted if s not in present]


def _direct(blobs: BlobStore) -> Presigning:
    if not isinstance(blobs, Presigning):
        raise ApiError(501, "direct_transfer_unavailable", "this api keeps blobs in a local "
                       "directory: upload with PUT /v1/blobs/{sha256}, download with GET")
    return blobs


@router.post("/uploads", response_model=DirectUploads)
async def direct_uploads(query: DirectUploadQuery, _: CurrentActor,
                         principal: CurrentPrincipal, blobs: BlobsDep, pool: PoolDep,
                         settings: SettingsDep) -> DirectUploads:
    """How to upload each of these blobs the store lacks (as POST /missing says) straight to
    the store: a presigned PUT URL, or for a blob over one part (its size in `sizes`) a URL
    per part; after the upload, POST /v1/blobs/{sha256}/uploads/{upload_id} makes it a blob.
    Bad input is a 400 whatever the store; only a good request learns there are no direct
    transfers."""
    if not query.sha256:
        raise InvalidInput("invalid_sha256", "name at least one blob by its sha256")
    for sha256 in [*query.sha256, *query.sizes, *query.resume]:
        check_sha256(sha256)
    for sha256, size in query.sizes.items():
        if size < 0:
            raise InvalidInput("invalid_size", f"blob {sha256} cannot have {size} bytes")
        if size > settings.max_file_bytes:
            raise _too_large(settings.max_file_bytes)
    store = _direct(blobs)
    missing = await _missing(query, principal, blobs, pool)
    plans = await asyncio.to_thread(lambda: [(s, store.plan_upload(
        s, query.sizes.get(s), query.resume.get(s), DIRECT_URL_LIFE)) for s in missing])
    return DirectUploads(uploads=[
        DirectUpload(sha256=s, upload_id=p.upload_id, url=p.url, part_size=p.part_size,
                     parts=[PartUrl(number=n, url=u) for n, u in p.parts], done=p.done)
        for s, p in plans], expires_in=int(DIRECT_URL_LIFE.total_seconds()))


@router.post("/{sha256}/uploads/{upload_id}", status_code=201, response_model=BlobStored,
             responses={201: {"headers": {blob_receipts.HEADER: {
                 "description": "the upload's receipt, as PUT gives it",
                 "schema": {"type": "string"}}}}})
async def complete_direct_upload(sha256: str, upload_id: str, response: Response,
                                 actor: CurrentActor, blobs: BlobsDep,
                                 settings: SettingsDep) -> BlobStored:
    """Check a direct upload (its sha256 and the size limit) and store it as the blob, with
    the receipt a publish naming it sends; a mismatch stores nothing (400 digest_mismatch).
    The upload is gone afterwards either way, but for a multipart upload still lacking parts
    (409 upload_incomplete): that one stays, to be resumed."""
    check_sha256(sha256)
    store = _direct(blobs)
    try:
        size = await asyncio.to_thread(store.complete_upload, sha256, upload_id,
                                       settings.max_file_bytes)
    except FileNotFoundError:
        raise not_found(f"upload {upload_id} of blob {sha256}") from None
    response.headers[blob_receipts.HEADER] = blob_receipts.receipt(
        required_master(settings, "the api"), actor, sha256)
    return BlobStored(sha256=sha256, size=size)


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
    found, size = await _counted_download(sha256, blobs, request, pool, principal, usage,
                                          background, ref)
    return StreamingResponse(
        hold_last(blobs.open(sha256), sha256), media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{sha256}"',
                 "Cache-Control": await downloads.cache_control(pool, principal, sha256),
                 "Content-Disposition": downloads.attachment(found.path if found else None),
                 "Content-Security-Policy": DOWNLOAD_CSP},
    )


@router.get("/{sha256}/url", response_model=DirectDownload)
async def blob_url(sha256: str, blobs: BlobsDep, request: Request, pool: PoolDep,
                   principal: CurrentPrincipal, usage: UsageDep, background: BackgroundTasks,
                   ref: str | None = None) -> DirectDownload:
    """A presigned URL to GET the blob straight from the store, counted as GET counts a
    download. The client checks the sha256 of what it reads, as it does for GET."""
    _, size = await _counted_download(sha256, blobs, request, pool, principal, usage,
                                      background, ref)  # 404 first: 501 says it exists
    store = _direct(blobs)  # raising, the download is not counted (no response, no task)
    url = await asyncio.to_thread(store.download_url, sha256, DIRECT_URL_LIFE)
    return DirectDownload(url=url, size=size, expires_in=int(DIRECT_URL_LIFE.total_seconds()))


async def _counted_download(sha256: str, blobs: BlobStore, request: Request, pool: PoolDep,
                            principal: CurrentPrincipal, usage: UsageDep,
                            background: BackgroundTasks, ref: str | None
                            ) -> tuple[downloads.Downloaded | None, int]:
    """The version a download of the blob counts for (counted after the answer) and the
    blob's size; 404 if the store lacks it."""
    check_sha256(sha256)
    version = parse_ref(ref) if ref else None
    if not await asyncio.to_thread(blobs.has, sha256):
        raise not_found(f"blob {sha256}")
    found = await downloads.downloaded_version(pool, principal, sha256, version)
    background.add_task(count_download, usage, request, found)
    return found, await asyncio.to_thread(blobs.size, sha256)


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
