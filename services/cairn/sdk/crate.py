"""`Client.export(...)`: versions out of Cairn as an RO-Crate, ids kept.

    client.export("vision", "vision.zip")                      # every version of a project
    client.export("vision/resnet@v3", "out/", with_lineage=2)  # one version and its lineage

Everything is read through the Client's own reads (a project's artifacts, show, versions,
lineage: the tables the ledger writes, never the search index, which may lag) and
files through `Client.pull` (sha256-verified): into OUT/<project>/<name>/v<N>/ for a
directory, or for a zip into a temporary directory one version at a time, streamed into the
archive in chunks and removed, so memory and scratch space stay bounded by one version.
The JSON-LD is cairn.core.domain.crate's.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cairn.core.adapters.blobstore import CHUNK
from cairn.core.domain import crate as ro
from cairn.core.domain import crate_import
from cairn.core.domain.identity import parse_ref
from cairn.sdk import crate_import as importing
from cairn.sdk.errors import CairnError, translated
from cairn.sdk.progress import bytes_progress

if TYPE_CHECKING:
    from cairn.sdk.bulk import Item, ItemResult
    from cairn.sdk.http import Http

@dataclass(frozen=True)
class Exported:
    """What `export` wrote: where, which versions (by ref) and how many file bytes."""

    out: Path
    refs: list[str]
    files: int
    bytes: int
    metadata_only: list[str] = field(default_factory=list)  # archived or deleted: no files


class CrateCalls:
    """Client methods over the version reads and `pull` (the Client's own)."""

    http: Http
    progress: bool | None

    if TYPE_CHECKING:
        def show(self, ref: str) -> dict[str, Any]: ...
        def pull(self, ref: str, dest: str | Path) -> list[Path]: ...
        def versions(self, project: str, name: str | None = None) -> dict[str, Any]: ...
        def lineage(self, ref: str, direction: str = "both", depth: int = 3
                    ) -> dict[str, Any]: ...
        def publish_many(self, items: Iterable[Item | Mapping[str, Any]], *,
                         environment: Mapping[str, Any] | None = None,
                         image_digest: str | None = None, wait: bool = True,
                         timeout: float = 600.0, workers: int = 8) -> list[ItemResult]: ...
        def set_alias(self, artifact: str, alias: str, version: str | int, *,
                      wait: bool = True, timeout: float = 60.0) -> dict[str, Any]: ...
        def set_stage(self, ref: str, stage: str, *, wait: bool = True,
                      timeout: float = 60.0) -> dict[str, Any]: ...

    @translated
    def export(self, target: str, out: str | Path, *, with_lineage: int = 0,
               files: bool = True) -> Exported:
        """An RO-Crate of `target` (a ref, or a project: every version of every artifact in
        it) in `out`, a directory or a `.zip`. `with_lineage=N` adds the versions up to N
        links away either way; `files=False` writes only the metadata, each file pointing
        at its blob on this api. An archived (or deleted) version has no files to pull: its
        metadata is exported, its files pointing at their blobs (`metadata_only`)."""
        out = Path(out)
        details = self._details(self._refs(target, with_lineage))
        behind = {d["ref"] for d in details if d.get("status") in ro.FILES_BEHIND}
        pulled = [d for d in details if d["ref"] not in behind] if files else []
        inside = {d["ref"] for d in pulled}

        def placed(d: Mapping[str, Any], f: Mapping[str, Any]) -> str:
            return ro.in_crate(d, f) if d["ref"] in inside else self._blob_link(d, f)

        body = ro.crate(details, name=f"Cairn export of {target}",
                        description=f"{len(details)} versions exported from {self.http.url}",
                        published=dt.datetime.now(dt.UTC).isoformat(), file_id=placed)
        metadata = json.dumps(body, indent=2, ensure_ascii=False).encode()
        count = sum(len(d["files"]) for d in pulled)
        size = sum(int(f["size"]) for d in pulled for f in d["files"])
        if out.suffix.lower() == ".zip":
            self._zip(pulled, out, metadata)
        else:
            out.mkdir(parents=True, exist_ok=True)
            for d in pulled:
                self.pull(d["ref"], out / ro.version_dir(d))
            (out / ro.METADATA_FILE).write_bytes(metadata)
        return Exported(out, [d["ref"] for d in details], count, size,
                        [d["ref"] for d in details if d["ref"] in behind])

    @translated
    def import_crate(self, src: str | Path, *, project_map: Mapping[str, str] | None = None,
                     project: str | None = None, keep_numbers: bool = True,
                     as_recorded: bool = False,
                     max_members: int = importing.MAX_MEMBERS,
                     max_bytes: int = importing.MAX_BYTES) -> list[importing.ImportedVersion]:
        """Publish the versions of a crate `export` wrote (a zip or a directory) through
        `publish_many`, each project renamed by `project_map`; then their aliases and stages.
        `keep_numbers` asks the ledger for each version's number in the crate (recorded if
        free, else refused: version_number_taken); `as_recorded` records each stage as it
        was, without the target's gates. Both need the admin role on the target project:
        without it, a CairnError `forbidden` (403) saying so.
        A crate another tool wrote (no Cairn ids): each data entity its root lists becomes
        version 1 of a dataset in `project`, with its description, licence, keywords and
        creator.
        A hostile archive or a file that is not the crate's is refused before anything is
        sent (cairn.sdk.crate_import). Importing the same crate twice adds nothing: each
        version is then a duplicate of the first import's."""
        from cairn.sdk.bulk import Item

        with importing.unpacked(Path(src), max_members, max_bytes) as root:
            listed = crate_import.versions(importing.read_metadata(root), project_map,
                                           project)
            if not listed:
                raise CairnError("not_a_crate", f"{src} describes no version or file to import")
            found = [v for v in listed if v.status not in ro.FILES_BEHIND]
            importing.verify(root, found)
            results = self.publish_many([Item(
                v.kind, v.project, v.name, importing.version_files(root, v),
                root=importing.version_root(root, v), metadata=v.metadata, links=v.links,
                extra=v.extra, environment=v.environment,
                stage=v.stage if as_recorded else None, as_recorded=as_recorded,
                version_number=v.number if keep_numbers and v.digest else None)
                for v in found])
        importing.check_allowed(results, keep_numbers=keep_numbers, as_recorded=as_recorded)
        out = [importing.ImportedVersion(
            v.source, None, "skipped", f"version_{v.status}", message=f"{v.source} was "
            f"{v.status} when exported: the crate holds its metadata, not its files")
            for v in listed if v.status in ro.FILES_BEHIND]
        for v, r in zip(found, results, strict=True):
            if r.ref is None:
                out.append(importing.ImportedVersion(v.source, None, r.status, r.reason))
                continue
            number = int(r.ref.rsplit("@v", 1)[1])
            for alias in v.aliases:
                self.set_alias(f"{v.project}/{v.name}", alias, number)
            if v.stage and not as_recorded:
                try:
                    self.set_stage(r.ref, v.stage)
                except CairnError as exc:  # the target's gates decide: say so, go on
                    out.append(importing.ImportedVersion(v.source, r.ref, "stage_refused",
                                                         exc.reason, number != v.number))
                    continue
            out.append(importing.ImportedVersion(v.source, r.ref, r.outcome or r.status, None,
                                                 number != v.number))
        return out

    def _refs(self, target: str, with_lineage: int) -> list[str]:
        if "/" in target:
            refs = [self.show(target)["ref"]]
        else:
            refs = [f"{a}@v{v['version_number']}" for a in self._artifacts(target)
                    for v in self.versions(a)["versions"]]
            if not refs:
                raise CairnError("not_found", f"no versions found in project {target!r}",
                                 local=False)
        found = dict.fromkeys(refs)
        if with_lineage > 0:
            for ref in refs:
                graph = self.lineage(ref, "both", with_lineage)
                found.update(dict.fromkeys(
                    n["id"] for n in graph.get("nodes") or []
                    if n.get("kind") not in ("external", "unresolved")
                    and not n.get("redacted") and _is_version(str(n.get("id")))))
        return list(found)

    def _artifacts(self, project: str) -> list[str]:
        """Every artifact of a project, as the ledger recorded it (not the search index,
        which may lag behind)."""
        found = self.http.json("GET", f"/v1/projects/{quote(project, safe='')}/artifacts")
        return [f"{project}/{name}" for name in found["artifacts"]]

    def _details(self, refs: list[str]) -> list[dict[str, Any]]:
        details = {d["ref"]: d for d in (self.show(r) for r in refs)}
        return sorted(details.values(), key=lambda d: (d["project"], d["name"],
                                                       d["version_number"]))

    def _blob_link(self, d: Mapping[str, Any], f: Mapping[str, Any]) -> str:
        return (f"{self.http.url}/v1/blobs/{f['sha256']}?ref={quote(d['ref'], safe='/@')}"
                f"#{quote(str(f['path']))}")

    def _zip(self, details: list[dict[str, Any]], out: Path, metadata: bytes) -> None:
        """Each version pulled into a scratch directory, copied into the archive in chunks
        under a byte bar, then removed; the metadata goes in last. A failure leaves no
        half-written archive under `out`'s name."""
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.part")
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                for d in details:
                    with tempfile.TemporaryDirectory(prefix="cairn-export-") as scratch:
                        self.pull(d["ref"], scratch)
                        total = sum(int(f["size"]) for f in d["files"])
                        with bytes_progress(f"zipping {d['ref']}", total,
                                            self.progress) as advance:
                            for f in d["files"]:
                                path = Path(scratch, *str(f["path"]).split("/"))
                                with path.open("rb") as src, zf.open(
                                        ro.in_crate(d, f), "w", force_zip64=True) as dst:
                                    while chunk := src.read(CHUNK):
                                        dst.write(chunk)
                                        advance(len(chunk))
                zf.writestr(ro.METADATA_FILE, metadata)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)


def _is_version(node_id: str) -> bool:
    try:
        return parse_ref(node_id).selector is not None
    except Exception:
        return False
