"""Which blob store a process uses, from its settings: the local directory (CAIRN_BLOB_DIR,
the default) or an S3-compatible bucket (CAIRN_BLOB_URL=s3://bucket/prefix); and where the
archiver's cold tier and trash are, beside it."""

from __future__ import annotations

from pathlib import Path

from cairn.core.adapters.blobstore import BlobStore, LocalBlobStore
from cairn.core.adapters.s3_blobstore import S3BlobStore
from cairn.core.adapters.settings import Settings


def open_store(location: str | Path) -> BlobStore:
    """An `s3://bucket/prefix` URL is a bucket, anything else a directory."""
    if isinstance(location, str) and location.startswith("s3://"):
        return S3BlobStore(location)
    return LocalBlobStore(Path(location))


def hot_store(settings: Settings) -> BlobStore:
    return open_store(settings.blob_url or settings.blob_dir)


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
