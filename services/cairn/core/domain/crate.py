"""An RO-Crate 1.1 (`ro-crate-metadata.json`) describing Cairn versions. Pure.

Each version is a Dataset (`<project>/<name>/v<N>/`) whose parts are its files (size, media
type, sha256); its ids survive as identifiers (the ref `project/name@vN` and the manifest
digest), as do its number (`version`), metadata (creator as a Person, licence as an SPDX URL,
description, keywords, metrics as `variableMeasured` and params and seeds as
`additionalProperty`, all PropertyValues), stage (`creativeWorkStatus`), aliases
(`alternateName`) and verdicts. Where it was made is a SoftwareApplication (Python, OS,
pinned packages, git, image), the CreateAction's `instrument`. Lineage is provenance as the
Provenance Run Crate profile has it: one CreateAction per version, `result` the version and
`object` its inputs (its links' targets), listed in the root's `mentions`; `derived_from`
links are also `wasDerivedFrom` (PROV), and every link is kept under `cairn:<relation>`.
Targets outside the crate are contextual entities: a version by ref and digest, external
code or data by URL, a target not recorded yet by the ref it names. The whole metadata,
environment and extra of each version are also kept verbatim (`cairn:*` JSON), so nothing
Cairn knows is lost on the way out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

METADATA_FILE = "ro-crate-metadata.json"
SPEC = "https://w3id.org/ro/crate/1.1"
CAIRN = "https://cairn.dev/ns#"
CONTEXT: list[Any] = [f"{SPEC}/context", {
    "prov": "http://www.w3.org/ns/prov#", "wasDerivedFrom": "prov:wasDerivedFrom",
    "cairn": CAIRN}]
PROFILES = ("https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/provenance/0.5")
SPDX = "https://spdx.org/licenses/"
OCTETS = "application/octet-stream"
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")

Entity = dict[str, Any]
FileId = Callable[[Mapping[str, Any], Mapping[str, Any]], str]  # (version, file) -> @id


FILES_BEHIND = ("archived", "deleted")  # statuses whose files cannot be pulled: metadata only


def version_dir(detail: Mapping[str, Any]) -> str:
    """Where a version's files sit in the crate (and its Dataset's @id)."""
    return f"{detail['project']}/{detail['name']}/v{detail['version_number']}/"


def in_crate(detail: Mapping[str, Any], f: Mapping[str, Any]) -> str:
    return version_dir(detail) + str(f["path"])


def ref_id(ref: str) -> str:
    """A version outside the crate, named by its ref."""
    return f"#version-{ref}"


def licence(value: str) -> Entity | str:
    """An SPDX identifier becomes its URL (as RO-Crate asks); other text stays text."""
    return {"@id": SPDX + value} if _SPDX_ID.match(value) else value


def crate(details: Iterable[Mapping[str, Any]], *, name: str, description: str,
          published: str, file_id: FileId = in_crate) -> dict[str, Any]:
    """The crate's JSON-LD for these version details (GET /v1/resolve answers);
    `file_id` places a file: in the crate by default, or at a URL when files stay behind."""
    graph = _Graph()
    versions = list(details)
    here = {d["ref"]: version_dir(d) for d in versions}
    graph.add({"@id": METADATA_FILE, "@type": "CreativeWork", "conformsTo": {"@id": SPEC},
               "about": {"@id": "./"}})
    graph.add({"@id": "./", "@type": "Dataset", "name": name, "description": description,
               "datePublished": published,
               "conformsTo": [{"@id": p} for p in PROFILES],
               "hasPart": [{"@id": version_dir(d)} for d in versions],
               "mentions": [{"@id": _action_id(d)} for d in versions]})
    for p in PROFILES:
        graph.add({"@id": p, "@type": "CreativeWork", "name": p.rsplit("/", 2)[-2],
                   "version": p.rsplit("/", 1)[-1]})
    for d in versions:
        _version(graph, d, here, file_id)
    return {"@context": CONTEXT, "@graph": graph.entities()}


class _Graph:
    """Entities by @id, each once (a shared person, licence or environment)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Entity] = {}

    def add(self, entity: Entity) -> dict[str, str]:
        self._by_id.setdefault(entity["@id"], entity)
        return {"@id": entity["@id"]}

    def entities(self) -> list[Entity]:
        return list(self._by_id.values())


def _action_id(d: Mapping[str, Any]) -> str:
    return f"#create-{d['ref']}"


def _version(graph: _Graph, d: Mapping[str, Any], here: Mapping[str, str],
             file_id: FileId) -> None:
    ref, meta = d["ref"], d.get("metadata") or {}
    vid = version_dir(d)
    entity: Entity = {
        "@id": vid, "@type": "Dataset", "name": ref, "identifier": [ref, d["digest"]],
        "version": str(d["version_number"]), "cairn:ref": ref, "cairn:digest": d["digest"],
        "cairn:artifact": f"{d['project']}/{d['name']}", "cairn:kind": d.get("kind"),
        "dateCreated": d.get("created_at"), "cairn:status": d.get("status"),
        "cairn:validation": d.get("validation"),
        "hasPart": [graph.add(_file(d, f, file_id)) for f in d.get("files") or []],
        "alternateName": [f"{d['project']}/{d['name']}:{a}" for a in d.get("aliases") or []],
        "cairn:metadata": json.dumps(meta, sort_keys=True),
        "cairn:extra": json.dumps(d.get("extra") or {}, sort_keys=True),
    }
    if d.get("stage"):
        entity["creativeWorkStatus"] = d["stage"]
    creator = meta.get("creator") or d.get("created_by")
    person = graph.add({"@id": f"#person-{creator}", "@type": "Person", "name": creator}
                       ) if creator else None
    if person:
        entity["creator"] = person
    if meta.get("license"):
        entity["license"] = licence(str(meta["license"]))
    if meta.get("description"):
        entity["description"] = meta["description"]
    if meta.get("tags"):
        entity["keywords"] = list(meta["tags"])
    entity["variableMeasured"] = _values(graph, ref, "metric", meta.get("metrics"))
    entity["additionalProperty"] = (_values(graph, ref, "param", meta.get("params"))
                                    + _values(graph, ref, "seed", meta.get("seeds")))
    entity["cairn:verdict"] = [graph.add({
        "@id": f"#{ref}/verdict/{v['check']}", "@type": "PropertyValue",
        "propertyID": "cairn:verdict", "name": v["check"], "value": v["status"],
        "description": "; ".join(v.get("reasons") or [])}) for v in d.get("verdicts") or []]
    inputs = []
    for link in d.get("links_out") or []:
        found = _target(link, here)  # a version of the crate is only pointed at
        target = graph.add(found) if len(found) > 1 else {"@id": found["@id"]}
        inputs.append(target)
        entity.setdefault(f"cairn:{link['relation']}", []).append(target)
        if link["relation"] == "derived_from":
            entity.setdefault("wasDerivedFrom", []).append(target)
    graph.add(entity)
    action: Entity = {"@id": _action_id(d), "@type": "CreateAction", "name": f"made {ref}",
                      "result": [{"@id": vid}], "object": inputs,
                      "endTime": d.get("created_at")}
    if person:
        action["agent"] = person
    if d.get("environment"):
        action["instrument"] = graph.add(environment(d["environment"]))
    graph.add(action)


def _file(d: Mapping[str, Any], f: Mapping[str, Any], file_id: FileId) -> Entity:
    return {"@id": file_id(d, f), "@type": "File", "name": f["path"],
            "contentSize": str(f["size"]), "encodingFormat": f.get("media_type") or OCTETS,
            "sha256": f["sha256"]}


def _values(graph: _Graph, ref: str, kind: str, values: Mapping[str, Any] | None
            ) -> list[dict[str, str]]:
    return [graph.add({"@id": f"#{ref}/{kind}/{k}", "@type": "PropertyValue",
                       "propertyID": kind, "name": k, "value": v})
            for k, v in sorted((values or {}).items())]


def _target(link: Mapping[str, Any], here: Mapping[str, str]) -> Entity:
    if link.get("external"):
        ext = link["external"]
        entity: Entity = {"@id": ext["url"], "@type": "CreativeWork", "name": ext["url"],
                          "cairn:externalKind": ext.get("kind")}
        if ext.get("commit"):
            entity["version"] = ext["commit"]
        return entity
    target = link.get("target")
    if target is None:  # named, not recorded yet
        return {"@id": ref_id(link["target_ref"]), "@type": "CreativeWork",
                "name": link["target_ref"], "cairn:recorded": False}
    if target["ref"] in here:
        return {"@id": here[target["ref"]]}
    return {"@id": ref_id(target["ref"]), "@type": "CreativeWork", "name": target["ref"],
            "identifier": [target["ref"], target["digest"]]}


def environment(env: Mapping[str, Any]) -> Entity:
    """Where a version was made, one entity per distinct environment."""
    raw = json.dumps(env, sort_keys=True)
    packages = env.get("packages") or {}
    entity: Entity = {
        "@id": f"#environment-{hashlib.sha256(raw.encode()).hexdigest()[:16]}",
        "@type": "SoftwareApplication",
        "name": f"Python {env.get('python') or '?'} on {env.get('os') or '?'}",
        "softwareVersion": env.get("python"), "operatingSystem": env.get("os"),
        "processorRequirements": env.get("cpu"),
        "softwareRequirements": [f"{k}=={v}" for k, v in sorted(packages.items())],
        "cairn:environment": raw,
    }
    for key, prop in (("git_remote", "codeRepository"), ("git_commit", "cairn:gitCommit"),
                      ("container_image_digest", "cairn:containerImageDigest")):
        if env.get(key):
            entity[prop] = env[key]
    return entity
