"""Presigned multipart uploads, resumable, for the S3 blob store's direct transfers.

A blob over one part (CAIRN_MULTIPART_PART_BYTES) is uploaded by the client in parts, each
PUT to a presigned UploadPart URL, several at once; the api then completes the upload. The
multipart upload's key carries its plan, `uploads/<sha256>/<upload id>/<size>.<part size>`,
so the api needs no state of its own: it finds an upload by its id (ListMultipartUploads),
which parts the store has (ListParts, for a client resuming after an interruption), and
completes it only when every part of the plan is there with its planned size. What the
completed object holds is then hashed before it becomes a blob (cairn.core.adapters.
s3_blobstore). Objects over 5 GiB, the limit of one CopyObject, are copied in parts
(UploadPartCopy).

obstore has none of these calls, so this module uses botocore, the AWS SDK's core, with
the same settings (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...). botocore's own
CRC checksums are asked for only where an operation requires them: s3proxy answers 501 to
the headers (x-amz-checksum-*, x-amz-checksum-mode) botocore would otherwise send.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

from cairn.core.adapters.blobstore import BlobStoreUnavailable

if TYPE_CHECKING:
    from obstore.store import S3Config

MIN_PART = 5 * 1024**2  # S3's smallest part (but the last)
MAX_PART = 5 * 1024**3  # S3's largest part, and the largest object one CopyObject copies
MAX_PARTS = 10_000  # S3's most parts in one upload
MiB = 1024**2
T = TypeVar("T")


def part_size_for(size: int, wanted: int) -> int:
    """The part size for a blob of `size` bytes: `wanted`, or larger (a whole number of MiB)
    when `wanted` would make more than S3's 10,000 parts."""
    least = math.ceil(size / MAX_PARTS)
    return max(wanted, math.ceil(least / MiB) * MiB)


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))


def part_length(number: int, size: int, part_size: int) -> int:
    """The planned length of part `number` (from 1) of a blob of `size` bytes."""
    return min(part_size, size - (number - 1) * part_size)


def client_for(config: S3Config | None) -> Any:
    """A botocore S3 client configured as the obstore one is: `config` first, else the
    AWS_* variables (botocore reads the credentials' variables and files itself)."""
    cfg: dict[str, Any] = dict(config or {})
    endpoint = cfg.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") \
        or os.environ.get("AWS_ENDPOINT_URL") or None
    region = cfg.get("region") or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=cfg.get("access_key_id"),
        aws_secret_access_key=cfg.get("secret_access_key"),
        aws_session_token=cfg.get("token"),
        config=Config(signature_version="s3v4",
                      s3={"addressing_style": "path" if endpoint else "auto"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required",
                      connect_timeout=5, read_timeout=120,
                      retries={"max_attempts": 3, "mode": "standard"}))


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


def _failure(exc: Exception, where: str) -> Exception:
    """NoSuchUpload as FileNotFoundError, anything else as BlobStoreUnavailable."""
    if isinstance(exc, ClientError) and \
            exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "NoSuchKey", "404"):
        return FileNotFoundError(str(exc))
    return problem(exc, where)


@dataclass(frozen=True)
class Staged:
    """A multipart upload in the store: its key (relative to the store's prefix), the
    plan its key carries, and the S3 UploadId."""

    key: str
    size: int
    part_size: int
    s3_id: str
    initiated: datetime | None = None


_PLAN = re.compile(r"/(\d+)\.(\d+)$")


class Multipart:
    """The multipart calls on one bucket and prefix (keys here are relative to it)."""

    def __init__(self, client: Any, bucket: str, prefix: str, where: str,
                 storage_class: str | None = None) -> None:
        self.client, self.bucket, self.prefix, self.where = client, bucket, prefix, where
        self.storage_class = storage_class

    def full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc, self.where) from exc

    def _class(self) -> dict[str, str]:
        return {"StorageClass": self.storage_class} if self.storage_class else {}

    def start(self, staged_dir: str, size: int, part_size: int) -> Staged:
        """A new multipart upload under `staged_dir`, its plan in its key."""
        key = f"{staged_dir}/{size}.{part_size}"
        made = self._call(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.full(key)))
        return Staged(key, size, part_size, made["UploadId"])

    def find(self, staged_dir: str) -> Staged | None:
        """The multipart upload under `staged_dir`, if one is in progress."""
        found = [s for s in self.in_progress(staged_dir + "/")]
        return found[0] if found else None

    def in_progress(self, under: str) -> Iterator[Staged]:
        """Every multipart upload whose key starts with `under`, oldest first."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.full(under))
        for page in self._call(lambda: list(pages)):
            for upload in page.get("Uploads", []):
                key = upload["Key"].removeprefix(self.full(""))
                if plan := _PLAN.search(key):
                    yield Staged(key, int(plan[1]), int(plan[2]), upload["UploadId"],
                                 upload.get("Initiated"))

    def parts(self, staged: Staged) -> dict[int, tuple[int, str]]:
        """The parts the store has: number → (size, ETag)."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self.full(staged.key), UploadId=staged.s3_id)
        return {p["PartNumber"]: (p["Size"], p["ETag"])
                for page in self._call(lambda: list(pages)) for p in page.get("Parts", [])}

    def missing(self, staged: Staged, have: dict[int, tuple[int, str]]) -> list[int]:
        """The parts of the plan the store lacks (or holds with another size)."""
        return [n for n in range(1, part_count(staged.size, staged.part_size) + 1)
                if have.get(n, (-1, ""))[0] != part_length(n, staged.size, staged.part_size)]

    def part_url(self, staged: Staged, number: int, expires_s: int) -> str:
        url: str = self.client.generate_presigned_url(
            "upload_part", ExpiresIn=expires_s,
            Params={"Bucket": self.bucket, "Key": self.full(staged.key),
                    "UploadId": staged.s3_id, "PartNumber": number})
        return url

    def complete(self, staged: Staged, have: dict[int, tuple[int, str]]) -> None:
        ordered = [{"PartNumber": n, "ETag": have[n][1]} for n in sorted(have)]
        self._call(lambda: self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.full(staged.key), UploadId=staged.s3_id,
            MultipartUpload={"Parts": ordered}))

    def abort(self, staged: Staged) -> None:
        with contextlib.suppress(FileNotFoundError):  # aborted already
            self._call(lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.full(staged.key), UploadId=staged.s3_id))

    def put_stream(self, key: str, chunks: Iterable[bytes], part_size: int,
                   in_flight: int) -> None:
        """Upload a stream in parts of `part_size`, `in_flight` at once (so at most that many
        parts, and the one being read, are in memory), and complete the upload only once
        the stream ended without raising; anything raised aborts it and is raised as itself.
        Parts are sent from Python threads: obstore's own multipart put cannot pull a
        stream that is itself read through obstore (a move between two S3 tiers)."""
        made = self._call(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.full(key), **self._class()))
        staged = Staged(key, 0, part_size, made["UploadId"])
        have: dict[int, tuple[int, str]] = {}

        def send(number: int, body: bytes) -> None:
            got = self._call(functools.partial(
                self.client.upload_part, Bucket=self.bucket, Key=self.full(key),
                UploadId=staged.s3_id, PartNumber=number, Body=body))
            have[number] = (len(body), got["ETag"])

        try:
            with ThreadPoolExecutor(in_flight, thread_name_prefix="cairn-s3-part") as pool:
                pending: set[Future[None]] = set()
                for number, body in enumerate(_bodies(chunks, part_size), start=1):
                    if len(pending) >= in_flight:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            future.result()
                    pending.add(pool.submit(send, number, body))
                for future in pending:
                    future.result()
            self.complete(staged, have)
        except BaseException:
            with contextlib.suppress(Exception):  # the stream's failure is what matters
                self.abort(staged)
            raise

    def copy(self, src: str, dst: str, size: int, copy_part: int = MAX_PART) -> None:
        """Copy an object inside the bucket, in the store's storage class: one CopyObject,
        or over `copy_part` bytes (5 GiB, CopyObject's limit) a multipart copy."""
        source = {"Bucket": self.bucket, "Key": self.full(src)}
        if size <= copy_part:
            self._call(lambda: self.client.copy_object(
                Bucket=self.bucket, Key=self.full(dst), CopySource=source, **self._class()))
            return
        made = self._call(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.full(dst), **self._class()))
        staged = Staged(dst, size, copy_part, made["UploadId"])
        try:
            have: dict[int, tuple[int, str]] = {}
            for n in range(1, part_count(size, copy_part) + 1):
                first = (n - 1) * copy_part
                length = part_length(n, size, copy_part)
                got = self._call(functools.partial(
                    self.client.upload_part_copy, Bucket=self.bucket, Key=self.full(dst),
                    UploadId=staged.s3_id, PartNumber=n, CopySource=source,
                    CopySourceRange=f"bytes={first}-{first + length - 1}"))
                have[n] = (length, got["CopyPartResult"]["ETag"])
            self.complete(staged, have)
        except BaseException:
            self.abort(staged)
            raise


def _bodies(chunks: Iterable[bytes], part_size: int) -> Iterator[bytes]:
    """The stream cut into parts of `part_size` bytes (the last one shorter, or the only one
    empty for an empty stream)."""
    held = bytearray()
    sent = False
    for chunk in chunks:
        held.extend(chunk)
        while len(held) >= part_size:
            yield bytes(held[:part_size])
            del held[:part_size]
            sent = True
    if held or not sent:
        yield bytes(held)
