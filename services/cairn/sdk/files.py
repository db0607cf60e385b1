"""Turn the files and directories a user names into manifest entries, hashing as it streams.

Paths given as a list keep their form relative to `root` (the working directory unless
given): `data/` publishes `data/train.csv`, `model.pt` publishes `model.pt`. A mapping
names entries explicitly, `{"weights": "/scratch/run-7/ckpt"}` publishing
`weights/<files of ckpt>`. Anything that could escape — '..', an absolute path outside
root, a symlink pointing outside what was named — is refused before any byte is read, so a
manifest never names a file the user did not mean to publish; so is a path that no file
system could hold at pull time (cairn.core.domain.identity.check_path_length).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TypeAlias

from cairn.core.adapters.blobstore import read_chunks
from cairn.core.domain.event_types import FileEntry
from cairn.core.domain.identity import InvalidInput, check_path, check_path_length
from cairn.sdk.progress import Advance, bytes_progress

# Formats of ML work that the system's mime.types gets wrong or does not know (.pt is not
# an SNES page table); everything else goes by the mimetypes module.
ML_MEDIA_TYPES = {
    ".pt": "application/octet-stream", ".pth": "application/octet-stream",
    ".ckpt": "application/octet-stream", ".safetensors": "application/octet-stream",
    ".onnx": "application/octet-stream", ".npy": "application/octet-stream",
    ".npz": "application/zip", ".pkl": "application/octet-stream",
    ".parquet": "application/vnd.apache.parquet", ".arrow": "application/vnd.apache.arrow.file",
    ".feather": "application/vnd.apache.arrow.file", ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5", ".jsonl": "application/jsonl", ".yaml": "application/yaml",
    ".yml": "application/yaml", ".md": "text/markdown",
}

PathLike: TypeAlias = str | os.PathLike[str]
FilesArg: TypeAlias = PathLike | Sequence[PathLike] | Mapping[str, PathLike]


@dataclass(frozen=True)
class LocalFile:
    """One manifest entry and the local file its bytes come from."""

    path: str
    source: Path
    size: int
    sha256: str
    media_type: str | None

    def entry(self) -> FileEntry:
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "media_type": self.media_type}


def plan(files: FilesArg, root: PathLike | None = None) -> list[tuple[str, Path]]:
    """Checked (manifest path, local file) pairs, sorted by path; reads no file content."""
    base = Path(root) if root is not None else Path.cwd()
    pairs: list[tuple[str, Path]] = []
    if isinstance(files, Mapping):
        for name, local in files.items():
            prefix = check_path(PurePath(name).as_posix() if name else name)
            source = Path(local) if Path(local).is_absolute() else base / local
            anchor = source.resolve() if source.is_dir() else None
            pairs += _expand(prefix, source, anchor, named=True)
    else:
        given = [files] if isinstance(files, str | os.PathLike) else list(files)
        if not given:
            raise InvalidInput("no_files", "name at least one file or directory to publish")
        for item in given:
            prefix = _relative(item, base)
            pairs += _expand(prefix, base / prefix if prefix else base, base.resolve())
    seen: dict[str, Path] = {}
    for path, source in pairs:
        check_path(path)
        if path in seen:
            raise InvalidInput("duplicate_path", f"{path!r} is given twice ({seen[path]} and "
                               f"{source}); name each file once")
        seen[path] = source
    return sorted(pairs)


def _relative(item: PathLike, base: Path) -> str:
    """The manifest prefix of a path the user gave: relative to base, POSIX, no '..'."""
    text = os.fspath(item)
    path = Path(text)
    if ".." in path.parts:
        raise InvalidInput("path_traversal", f"{text!r} contains '..': give paths inside "
                           f"{base} (or choose another root, -C DIR), without '..'")
    if path.is_absolute():
        try:
            path = Path(os.path.abspath(path)).relative_to(os.path.abspath(base))
        except ValueError:
            raise InvalidInput("absolute_path", f"{text!r} is outside {base}: give a relative "
                               "path, choose a root containing it (-C DIR), or name it: "
                               "NAME=PATH (cairn publish), {NAME: PATH} (Client.publish)"
                               ) from None
    posix = path.as_posix()
    return "" if posix == "." else posix


def _expand(prefix: str, source: Path, anchor: Path | None, named: bool = False
            ) -> list[tuple[str, Path]]:
    if not source.exists():
        what = "broken symlink" if source.is_symlink() else "no such file or directory"
        raise InvalidInput("file_not_found", f"{source}: {what}")
    if source.is_file():
        _inside(source, anchor)
        return [(prefix or source.name, source)]
    if not source.is_dir():
        raise InvalidInput("not_a_file", f"{source} is neither a regular file nor a directory")
    _inside(source, anchor)
    out: list[tuple[str, Path]] = []
    visited: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(source, onerror=_unreadable, followlinks=True):
        here = Path(dirpath)
        real = here.resolve()
        if real in visited:
            raise InvalidInput("symlink_loop", f"{here} links back to a directory already "
                               "included; remove the loop")
        visited.add(real)
        for d in dirnames:
            _inside(here / d, anchor)
        for f in filenames:
            full = here / f
            rel = full.relative_to(source).as_posix()
            path = check_path_length(f"{prefix}/{rel}" if prefix else rel)  # before any stat
            _inside(full, anchor)
            if not full.is_file():
                raise InvalidInput("not_a_file", f"{full} is not a regular file (a broken link, "
                                   "socket or device); remove it or publish a subdirectory")
            out.append((path, full))
    if not out and named:
        raise InvalidInput("no_files", f"{source} contains no files")
    return out


def _unreadable(error: OSError) -> None:
    """os.walk would skip a directory it cannot list; a manifest must not silently lack it."""
    raise InvalidInput("unreadable", f"{error.filename}: {error.strerror}; make it readable "
                       "(or shorter), or leave it out") from error


def _inside(path: Path, anchor: Path | None) -> None:
    """Refuse a path whose real location is outside the anchor (a symlink escaping it)."""
    if anchor is None:
        return
    real = path.resolve()
    if real != anchor and not real.is_relative_to(anchor):
        raise InvalidInput("symlink_escape", f"{path} points to {real}, outside {anchor}; "
                           "copy the file in, or name it explicitly")


def media_type(path: str) -> str | None:
    suffix = PurePath(path).suffix.lower()
    return ML_MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path, strict=False)[0]


def hash_file(path: Path, advance: Advance) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for chunk in read_chunks(fh):
            digest.update(chunk)
            size += len(chunk)
            advance(len(chunk))
    return digest.hexdigest(), size


def hash_all(pairs: Sequence[tuple[str, Path]], show: bool | None = None) -> list[LocalFile]:
    """Hash every planned file once, streaming; a progress bar when the total is large."""
    total = sum(source.stat().st_size for _, source in pairs)
    out: list[LocalFile] = []
    with bytes_progress("hashing", total, show) as advance:
        for path, source in pairs:
            sha, size = hash_file(source, advance)
            out.append(LocalFile(path, source, size, sha, media_type(path)))
    return out


def manifest(files: FilesArg, root: PathLike | None = None, show: bool | None = None
             ) -> list[LocalFile]:
    """Plan and hash: the entries of an artifact version made of these files."""
    return hash_all(plan(files, root), show)
