"""Which blob store a process uses, from its settings: the local directory (CAIRN_BLOB_DIR,
the default) or an S3-compatible bucket (CAIRN_BLOB_URL=s3://bucket/prefix); and where the
archiver's cold tier and trash are, beside it (on S3 in CAIRN_COLD_STORAGE_CLASS, or in
another bucket: CAIRN_ARCHIVE_URL)."""

from __future__ import annotations

from pathlib import Path

from cairn.core.adapters.blobstore import BlobStore, LocalBlobStore, ReadableClass
from cairn.core.adapters.s3_blobstore import DIRECT_PART, S3BlobStore
from cairn.core.adapters.settings import Settings


def open_store(location: str | Path, *, storage_class: ReadableClass | None = None,
               direct_part: int = DIRECT_PART) -> BlobStore:
    """An `s3://bucket/prefix` URL is a bucket, anything else a directory (which has no
    storage classes or direct uploads: those settings are for buckets)."""
    if isinstance(location, str) and location.startswith("s3://"):
        return S3BlobStore(location, storage_class=storage_class, direct_part=direct_part)
    return LocalBlobStore(Path(location))


def hot_store(settings: Settings) -> BlobStore:
    return open_store(settings.blob_url or settings.blob_dir,
                      direct_part=settings.multipart_part_bytes)


def cold_stores(settings: Settings) -> tuple[BlobStore, BlobStore]:
    """The archive tier and its trash, in the cold storage class."""
    archive = archive_location(settings)
    return (open_store(archive, storage_class=settings.cold_storage_class),
            open_store(trash_location(archive), storage_class=settings.cold_storage_class))


def archive_location(settings: Settings) -> str | Path:
    """CAIRN_ARCHIVE_URL or CAIRN_ARCHIVE_DIR; by default `archive` beside the blob
    directory, or the blob URL's prefix + "-archive" in its bucket (`archive` if none)."""
    if settings.blob_url:
        bucket, _, prefix = settings.blob_url.removeprefix("s3://").rstrip("/").partition("/")
        return settings.archive_url or f"s3://{bucket}/{prefix + '-' if prefix else ''}archive"
    return settings.archive_dir or settings.blob_dir.parent / "archive"


def trash_location(archive: str | Path) -> str | Path:
    """The trash of an archive tier: its `trash` prefix or subdirectory."""
    return f"{archive.rstrip('/')}/trash" if isinstance(archive, str) else archive / "trash"
