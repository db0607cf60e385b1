"""What `cairn import` reads from an RO-Crate Cairn wrote (cairn.core.domain.crate). Pure.

Each Dataset with a `cairn:ref` becomes one version to publish: kind, project (through the
project map), name, number, digest, files (crate path, manifest path, sha256, size),
metadata, environment and extra as they were, links (relation and target ref, mapped too,
or the external URL), stage and aliases. Archive member names are checked here too: a name
that could land outside the directory it is unpacked into is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain.crate import METADATA_FILE, SPDX, ref_id
from cairn.core.domain.identity import RELATIONS, InvalidInput, parse_ref

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class CrateFile:
    member: str  # where it is in the crate
    path: str  # where it is in the version
    sha256: str
    size: int


@dataclass(frozen=True)
class CrateVersion:
    kind: str
    project: str
    name: str
    number: int
    digest: str
    files: list[CrateFile]
    metadata: dict[str, Any]
    environment: dict[str, Any]
    extra: dict[str, Any]
    source: str = ""  # its ref in the crate, before the project map
    links: list[dict[str, Any]] = field(default_factory=list)
    stage: str | None = None
    aliases: list[str] = field(default_factory=list)
    status: str | None = None  # archived or deleted when exported: no files in the crate

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}@v{self.number}"


def check_member(name: str) -> str:
    """An archive member's name, refused when it is absolute or has a `..` part (or a
    backslash, which another system reads as a separator)."""
    if (not name or name.startswith("/") or "\\" in name or _DRIVE.match(name)
            or ".." in name.split("/") or "\0" in name):
        raise InvalidInput("unsafe_member", f"archive member {name!r} could be written outside "
                           "the directory it is unpacked into; nothing was imported")
    return name


def versions(body: Mapping[str, Any], project_map: Mapping[str, str] | None = None,
             project: str | None = None) -> list[CrateVersion]:
    """The crate's versions in (project, name, number) order, so numbers come out as they
    went in when the target artifact is new; a crate another tool wrote goes to `project`."""
    graph = body.get("@graph")
    if not isinstance(graph, list):
        raise InvalidInput("not_a_crate", f"{METADATA_FILE} has no @graph list")
    by_id = {e["@id"]: e for e in graph if isinstance(e, dict) and "@id" in e}
    moved = dict(project_map or {})

    def mapped(ref: str) -> str:
        r = parse_ref(ref)
        at = ref[len(f"{r.project}/{r.name}"):]
        return f"{moved.get(r.project, r.project)}/{r.name}{at}"

    refs = {i: e["cairn:ref"] for i, e in by_id.items() if "cairn:ref" in e}
    if not refs:  # a crate another tool wrote
        return foreign(by_id, project or "")
    found = []
    for vid, e in by_id.items():
        if "cairn:ref" not in e:
            continue
        r = parse_ref(e["cairn:ref"])
        files = []
        for part in _list(e.get("hasPart")):
            f = by_id.get(part["@id"], {})
            path = part["@id"][len(vid):] if part["@id"].startswith(vid) else f.get("name")
            files.append(CrateFile(check_member(part["@id"]), str(path), str(f["sha256"]),
                                   int(f["contentSize"])))
        links: list[dict[str, Any]] = []
        for relation in RELATIONS:
            for t in _list(e.get(f"cairn:{relation}")):
                target = t["@id"]
                if target in refs:
                    links.append({"relation": relation, "target": mapped(refs[target])})
                elif target.startswith(ref_id("")):
                    links.append({"relation": relation,
                                  "target": mapped(target[len(ref_id("")):])})
                else:
                    ext = by_id.get(target, {})
                    links.append({"relation": relation, "external": {
                        "kind": ext.get("cairn:externalKind") or "other", "url": target,
                        "commit": ext.get("version")}})
        action = by_id.get(f"#create-{e['cairn:ref']}", {})
        env = by_id.get((action.get("instrument") or {}).get("@id", ""), {})
        artifact = f"{r.project}/{r.name}:"
        found.append(CrateVersion(
            kind=str(e.get("cairn:kind")), project=moved.get(r.project, r.project),
            name=r.name, number=int(e["version"]), digest=str(e["cairn:digest"]),
            files=files, metadata=json.loads(e.get("cairn:metadata") or "{}"),
            environment=json.loads(env.get("cairn:environment") or "{}"),
            extra=json.loads(e.get("cairn:extra") or "{}"), source=e["cairn:ref"], links=links,
            stage=e.get("creativeWorkStatus"), status=e.get("cairn:status"),
            aliases=[a[len(artifact):] for a in _list(e.get("alternateName"))
                     if a.startswith(artifact) and a != artifact + "latest"]))
    return sorted(found, key=lambda v: (v.project, v.name, v.number))


def foreign(by_id: Mapping[str, Mapping[str, Any]], project: str) -> list[CrateVersion]:
    """A crate without Cairn's identifiers: each data entity the root lists (a File, or a
    Dataset with the files under it) becomes version 1 of a dataset in `project`, named
    after it, with the entity's description, licence, keywords and creator as metadata."""
    if not project:
        raise InvalidInput("not_a_crate", "this crate was not written by Cairn: name the "
                           "project its versions go to (--project)")
    root = by_id.get("./") or {}
    listed = [str(part["@id"]) for part in _list(root.get("hasPart"))
              if part["@id"] in by_id and not str(part["@id"]).startswith(
                  ("http://", "https://", "#"))]
    folders = [i.rstrip("/") + "/" for i in listed
               if "Dataset" in _list(by_id[i].get("@type"))]
    found = []
    for member in map(check_member, listed):
        e = by_id[member]
        if any(member.startswith(f) and member != f for f in folders):
            continue  # a part of a listed directory (the rocrate library lists both)
        if "Dataset" in _list(e.get("@type")):
            prefix = member.rstrip("/") + "/"
            files = [(check_member(i), i[len(prefix):]) for i, f in by_id.items()
                     if i.startswith(prefix) and "File" in _list(f.get("@type"))]
        else:
            files = [(member, member.rsplit("/", 1)[-1])]
        if not files:
            continue
        entries = [CrateFile(m, path, str(by_id.get(m, {}).get("sha256") or ""),
                             int(by_id.get(m, {}).get("contentSize") or -1))
                   for m, path in files]
        found.append(CrateVersion(
            kind="dataset", project=project, name=_name(member), number=1, digest="",
            files=entries, metadata=_described(e, by_id), environment={}, extra={},
            source=member))
    return found


def _name(member: str) -> str:
    base = member.rstrip("/").rsplit("/", 1)[-1].lower()
    return (re.sub(r"[^a-z0-9._-]+", "-", base).strip("._-") or "item")[:128]


def _described(e: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if isinstance(e.get("description"), str):
        meta["description"] = e["description"]
    licence = e.get("license")
    licence = licence.get("@id") if isinstance(licence, dict) else licence
    if isinstance(licence, str):
        meta["license"] = licence.removeprefix(SPDX).rstrip("/").removesuffix(".html")
    keywords = e.get("keywords")
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",")]
    if isinstance(keywords, list):
        meta["tags"] = [str(k) for k in keywords if k]
    creator = _list(e.get("creator"))[:1]
    if creator:
        who = by_id.get(creator[0].get("@id", ""), creator[0]) if isinstance(
            creator[0], dict) else {"name": creator[0]}
        if who.get("name"):
            meta["creator"] = str(who["name"])
    return meta


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
