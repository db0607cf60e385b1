"""What a blob is to the caller: which readable version a download is of, how it may be
cached, and which stored blobs they are told about.

A blob belongs to every version whose manifest lists it, across projects. What one caller
learns about it must come only from versions they may read: a private project's blob is
neither counted, named nor admitted to ("already stored") for those who may not see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from cairn.api.hiding import judge
from cairn.api.visibility import project
from cairn.core.domain.access import Principal
from cairn.core.domain.identity import InvalidInput, Ref
from cairn.readmodel.blobs import first_two_listings, listing_projects, path_in_version
from cairn.readmodel.versions import Db as Db  # cairn.api.commands names downloads.Db
from cairn.readmodel.versions import artifact_row, resolve_version

IMMUTABLE = "max-age=31536000, immutable"


@dataclass(frozen=True)
class Downloaded:
    """The version a download is of, and the path its manifest gives the blob."""

    artifact: str
    digest: str
    path: str


class Readable:
    """Which projects one caller may read, each decided once (cairn.api.hiding)."""

    def __init__(self, db: Db, principal: Principal) -> None:
        self.db, self.principal = db, principal
        self._known: dict[str, bool] = {}

    async def __call__(self, name: str) -> bool:
        if name not in self._known:
            self._known[name] = (await judge(self.db, self.principal, "read", name)).allowed
        return self._known[name]


async def unseen(db: Db, principal: Principal, shas: Iterable[str]) -> set[str]:
    """The blobs among `shas` that only projects the caller may not read list: to them, as
    to HEAD, such a blob is not there, and a publish naming it needs the caller's upload
    receipt (cairn.api.commands.unproven). A blob no version lists is left to the uploaders,
    who may all fetch it (cairn.api.resolvers), so a receipt for it would protect nothing."""
    readable = Readable(db, principal)
    hidden = set()
    for sha, projects in (await listing_projects(db, shas)).items():
        if not [name for name in sorted(projects) if await readable(name)]:
            hidden.add(sha)
    return hidden


async def downloaded_version(db: Db, principal: Principal, sha256: str, ref: Ref | None
                             ) -> Downloaded | None:
    """The version a download is of, if the caller may read it: the one `ref` names when it
    lists the blob; without a ref, the one version listing it. A ref to a project the
    caller may not read is a ref to nothing, as one to a project that does not exist."""
    readable = Readable(db, principal)
    if ref is None:
        listed = await first_two_listings(db, sha256)
        if len(listed) != 1 or not await readable(listed[0].project):
            return None
        only = listed[0]
        return Downloaded(f"{only.project}/{only.name}", only.digest, only.path)
    if not await readable(ref.project):
        return None
    art = await artifact_row(db, ref.artifact)
    if art is None:
        return None
    try:
        version = await resolve_version(db, art["id"], ref.selector or "latest")
    except InvalidInput:  # a version that does not exist: nothing to count or name
        return None
    path = await path_in_version(db, version["id"], sha256)
    return None if path is None else Downloaded(ref.artifact, version["digest"], path)


async def cache_control(db: Db, principal: Principal, sha256: str) -> str:
    """`public` only for an anonymous caller's blob that only public projects list: shared
    caches keep nothing a token fetched, nor anything a private project holds (nor a
    blob no version lists yet, which only uploaders may fetch)."""
    projects = (await listing_projects(db, [sha256])).get(sha256, set())
    shared = principal.anonymous and bool(projects) and not [
        name for name in projects if (await project(db, name)).visibility != "public"]
    return f"{'public' if shared else 'private'}, {IMMUTABLE}"


def attachment(path: str | None) -> str:
    """Content-Disposition of a download: always `attachment`, so no browser renders it;
    the file's own name when known (RFC 6266, RFC 5987 `filename*` for any byte outside
    a plain ASCII name, as Starlette's FileResponse writes it)."""
    name = (path or "").rpartition("/")[2]
    if not name:
        return "attachment"
    encoded = quote(name, safe="")
    if encoded == name:
        return f'attachment; filename="{name}"'
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
