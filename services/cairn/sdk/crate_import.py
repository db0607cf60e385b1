"""`Client.import_crate(src)`: the versions of a crate `cairn export` wrote, published again.

A zip is unpacked into a temporary directory, which is always removed; a member with `..`,
an absolute name, a symlink, more members or more bytes than allowed is refused before
anything is published (the bytes are counted as they are written, not as the archive
claims). A directory is read in place, with the same refusals. Every file must hash to the
crate's sha256. Then the versions go through `Client.publish_many`, the ordinary publish
path, with their metadata, environment, extra and links; aliases and stages are set after.
Digests survive (same kind, same files), and so do version numbers: each version asks for
its crate number (the ledger records it if free in the artifact, refuses it if another
digest holds it), which needs the target project's admin role; `keep_numbers=False` takes
the target's next numbers instead (any contributor may). `as_recorded` (admins too) puts each
stage in the Published event itself, recorded without the target's gates and marked so in
the audit log.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.core.adapters.blobstore import CHUNK
from cairn.core.domain.crate import METADATA_FILE
from cairn.core.domain.crate_import import CrateVersion, check_member
from cairn.core.domain.identity import InvalidInput
from cairn.sdk.errors import CairnError
from cairn.sdk.files import hash_file

if TYPE_CHECKING:
    from cairn.sdk.bulk import ItemResult

MAX_MEMBERS = 100_000
MAX_BYTES = 64 * 1024**3


@dataclass(frozen=True)
class ImportedVersion:
    """One version of the crate: its ref there, here (None if refused), and what else."""

    source: str
    ref: str | None
    status: str  # applied, duplicate, stage_refused, refused, skipped (no files: archived)
    reason: str | None = None
    renumbered: bool = False
    message: str | None = None


@contextmanager
def unpacked(src: Path, max_members: int = MAX_MEMBERS, max_bytes: int = MAX_BYTES
             ) -> Iterator[Path]:
    """The crate's root directory: `src` itself, or a zip unpacked into a temporary
    directory removed on the way out, whatever happens."""
    scratch = Path(tempfile.mkdtemp(prefix="cairn-import-"))
    try:
        if src.is_dir():
            _check_dir(src, max_members, max_bytes)
            yield src
        elif zipfile.is_zipfile(src):
            _unzip(src, scratch, max_members, max_bytes)
            yield scratch
        else:
            raise CairnError("not_a_crate", f"{src} is neither a directory nor a zip")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unzip(src: Path, scratch: Path, max_members: int, max_bytes: int) -> None:
    with zipfile.ZipFile(src) as zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise CairnError("too_many_members", f"{src} has {len(infos)} members, more than "
                             f"{max_members}; nothing was imported")
        written = 0
        for info in infos:
            try:
                name = check_member(info.filename)
            except InvalidInput as exc:
                raise CairnError(exc.reason, str(exc)) from None
            if stat.S_ISLNK(info.external_attr >> 16):
                raise CairnError("unsafe_member", f"archive member {name!r} is a symlink; "
                                 "nothing was imported")
            target = scratch.joinpath(*name.rstrip("/").split("/"))
            if not target.resolve().is_relative_to(scratch.resolve()):
                raise CairnError("unsafe_member", f"archive member {name!r} would land "
                                 "outside the import directory; nothing was imported")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, target.open("xb") as out:
                while chunk := source.read(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise CairnError("crate_too_large", f"{src} unpacks to more than "
                                         f"{max_bytes} bytes; nothing was imported")
                    out.write(chunk)


def _check_dir(src: Path, max_members: int, max_bytes: int) -> None:
    count, size = 0, 0
    for top, dirs, files in os.walk(src, followlinks=False):
        for name in (*dirs, *files):
            path = Path(top, name)
            if path.is_symlink():
                raise CairnError("unsafe_member", f"{path} is a symlink; nothing was imported")
            count += 1
            size += path.stat().st_size if path.is_file() else 0
    if count > max_members:
        raise CairnError("too_many_members", f"{src} has {count} entries, more than "
                         f"{max_members}; nothing was imported")
    if size > max_bytes:
        raise CairnError("crate_too_large", f"{src} holds more than {max_bytes} bytes; "
                         "nothing was imported")


def check_allowed(results: list[ItemResult], *, keep_numbers: bool, as_recorded: bool
                  ) -> None:
    """An import that asked for what only admins may (numbers, stages as recorded) and was
    refused for it: one clear error, saying what to do, rather than a refusal per version."""
    denied = [r for r in results if r.http_status == 403]
    if not denied or not (keep_numbers or as_recorded):
        return
    asked = " and ".join(w for w, on in (("--as-recorded", as_recorded),
                                        ("version numbers kept", keep_numbers)) if on)
    recorded = sum(r.ref is not None for r in results)
    raise CairnError("forbidden", f"{denied[0].message} — an import with {asked} needs the "
                     f"admin role on the target project ({len(denied)} of {len(results)} "
                     f"versions refused, {recorded} recorded); ask an admin"
                     + ("" if as_recorded else ", or import with --renumber"), status=403)


def read_metadata(root: Path) -> Mapping[str, object]:
    path = root / METADATA_FILE
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CairnError("not_a_crate", f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise CairnError("not_a_crate", f"{path} is not a JSON-LD object")
    return body


def verify(root: Path, versions: list[CrateVersion]) -> None:
    """Every file present, of the crate's size and sha256 (when it gives them: a crate
    another tool wrote may not), before anything is sent."""
    for v in versions:
        for f in v.files:
            path = root.joinpath(*f.member.split("/"))
            if not path.is_file():
                raise CairnError("crate_digest_mismatch", f"{f.member} of {v.ref} is not in "
                                 "the crate (exported with --no-files?); nothing was imported")
            digest, size = hash_file(path, lambda _: None)
            if (f.sha256 and digest != f.sha256) or (f.size >= 0 and size != f.size):
                raise CairnError("crate_digest_mismatch", f"{f.member} of {v.ref} hashes to "
                                 f"{digest} ({size} bytes), the crate says {f.sha256} "
                                 f"({f.size} bytes); nothing was imported")


def version_root(root: Path, v: CrateVersion) -> Path:
    """The directory the version's file paths are relative to."""
    first = v.files[0]
    return root.joinpath(*first.member[:len(first.member) - len(first.path)].split("/"))


def version_files(root: Path, v: CrateVersion) -> list[Path]:
    return [root.joinpath(*f.member.split("/")) for f in v.files]
