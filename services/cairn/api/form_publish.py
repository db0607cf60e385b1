"""A multipart publish: a "manifest" part (the JSON publish body, files optional) plus one
part per file, whose filename is the file's path in the artifact.

Each file part is stored as it streams, so the api computes size and sha256 itself. Manifest
entries may add a media type to an uploaded file, or name a blob stored before (path, size
and sha256) without uploading it again (with its upload receipt in `receipts` if no
version the caller may read lists it: cairn.api.commands.unproven).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from cairn.api.models import Manifest, ManifestFile, Publish, parse
from cairn.api.uploads import Part, read_small
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.settings import Settings
from cairn.core.domain.event_types import FileEntry
from cairn.core.domain.identity import InvalidInput, check_path


def store_form(parts: Iterable[Part], blobs: BlobStore, settings: Settings
               ) -> tuple[Publish, set[str]]:
    """Store every file part, then the publish request they make with the manifest, and the
    sha256s of the parts: blobs whose bytes the caller proved to have by sending them."""
    manifest: Manifest | None = None
    uploaded: dict[str, FileEntry] = {}
    for part in parts:
        if part.name == "manifest":
            raw = read_small(part.chunks, settings.max_event_bytes, "the manifest part")
            manifest = parse(Manifest, raw, "manifest")  # early: fail before big uploads
        elif part.filename:
            path = check_path(part.filename)
            if path in uploaded:
                raise InvalidInput("duplicate_path", f"two parts upload {path}")
            if len(uploaded) >= settings.max_files:
                raise InvalidInput("too_many_files", f"more than {settings.max_files} files "
                                   "(CAIRN_MAX_FILES)")
            sha256, size = blobs.put(part.chunks, max_bytes=settings.max_file_bytes)
            uploaded[path] = {"path": path, "size": size, "sha256": sha256,
                              "media_type": part.content_type}
        else:
            raise InvalidInput("unexpected_part", f"part {part.name!r} is neither 'manifest' "
                               "nor a file (a file part needs a filename: its path)")
    if manifest is None:
        raise InvalidInput("missing_manifest", "a multipart publish needs a 'manifest' part")
    files = merge_files(manifest.files, uploaded)
    return (Publish.model_validate({**manifest.model_dump(exclude={"files"}), "files": files}),
            {f["sha256"] for f in uploaded.values()})


def merge_files(listed: Iterable[ManifestFile], uploaded: dict[str, FileEntry]
                ) -> list[FileEntry]:
    """Uploaded parts plus manifest entries; where both name a path they must agree."""
    merged = dict(uploaded)
    for entry in listed:
        path = check_path(entry.path)
        got = uploaded.get(path)
        if got is None:
            if entry.sha256 is None or entry.size is None:
                raise InvalidInput("missing_file", f"{path} is listed but not uploaded; give "
                                   "its size and sha256 to use a blob stored before")
            merged[path] = cast(FileEntry, entry.model_dump())  # size and sha256 given
            continue
        if entry.sha256 not in (None, got["sha256"]):
            raise InvalidInput("digest_mismatch", f"{path}: the upload hashes to "
                               f"{got['sha256']}, not {entry.sha256}")
        if entry.size not in (None, got["size"]):
            raise InvalidInput("size_mismatch", f"{path}: {got['size']} bytes uploaded, "
                               f"{entry.size} listed")
        if entry.media_type:
            merged[path] = {**got, "media_type": entry.media_type}
    return list(merged.values())
