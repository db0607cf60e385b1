"""The RO-Crate JSON-LD of versions (cairn.core.domain.crate), without a stack."""

from __future__ import annotations

import json
from typing import Any

from cairn.core.domain.crate import CONTEXT, METADATA_FILE, crate, licence

ENV = {"python": "3.12.4", "os": "Linux", "packages": {"torch": "2.4.0", "numpy": "2.1.0"},
       "git_remote": "https://example.org/v.git", "git_commit": "c" * 40}


def detail(name: str, n: int, links: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {"ref": f"p/{name}@v{n}", "project": "p", "name": name, "version_number": n,
            "digest": f"{n:064x}", "kind": "model", "created_at": "2026-01-01T00:00:00+00:00",
            "files": [{"path": "a/b.bin", "size": 3, "sha256": "f" * 64, "media_type": None}],
            "metadata": {"creator": "ana", **meta}, "environment": ENV, "extra": {},
            "aliases": ["latest"], "stage": None, "links_out": links, "verdicts": [],
            "status": "active", "validation": "valid"}


def graph(*details: dict[str, Any]) -> dict[str, dict[str, Any]]:
    body = crate(details, name="x", description="y", published="2026-01-01")
    assert body["@context"] == CONTEXT
    json.dumps(body)  # plain JSON all the way down
    return {e["@id"]: e for e in body["@graph"]}


def link(relation: str, ref: str | None, digest: str = "0" * 64,
         external: dict[str, Any] | None = None, target_ref: str | None = None
         ) -> dict[str, Any]:
    return {"relation": relation, "target_ref": target_ref or ref, "external": external,
            "target": None if ref is None else {"ref": ref, "digest": digest}}


def test_descriptor_root_and_each_version_with_its_files() -> None:
    g = graph(detail("raw", 1, []), detail("net", 2, []))
    assert g[METADATA_FILE]["about"] == {"@id": "./"}
    assert g[METADATA_FILE]["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
    assert g["./"]["hasPart"] == [{"@id": "p/raw/v1/"}, {"@id": "p/net/v2/"}]
    assert g["p/net/v2/"]["identifier"] == ["p/net@v2", f"{2:064x}"]
    assert g["p/net/v2/"]["hasPart"] == [{"@id": "p/net/v2/a/b.bin"}]
    assert g["p/net/v2/a/b.bin"] == {
        "@id": "p/net/v2/a/b.bin", "@type": "File", "name": "a/b.bin", "contentSize": "3",
        "encodingFormat": "application/octet-stream", "sha256": "f" * 64}
    assert g["#person-ana"] == {"@id": "#person-ana", "@type": "Person", "name": "ana"}


def test_links_become_provenance_inside_and_outside_the_crate() -> None:
    raw = detail("raw", 1, [])
    clean = detail("clean", 1, [
        link("derived_from", "p/raw@v1"), link("uses", "q/other@v4"),
        link("produced_by", None, external={"kind": "code", "url": "https://git.example/x",
                                            "commit": "abc"}),
        link("trained_on", None, target_ref="p/later@v1")])
    g = graph(clean, raw)  # a version pointed at before its own entity comes
    action = g["#create-p/clean@v1"]
    assert action["result"] == [{"@id": "p/clean/v1/"}]
    assert [o["@id"] for o in action["object"]] == [
        "p/raw/v1/", "#version-q/other@v4", "https://git.example/x", "#version-p/later@v1"]
    assert g["p/clean/v1/"]["wasDerivedFrom"] == [{"@id": "p/raw/v1/"}]
    assert g["p/clean/v1/"]["cairn:uses"] == [{"@id": "#version-q/other@v4"}]
    assert g["#version-q/other@v4"]["identifier"] == ["q/other@v4", "0" * 64]
    assert g["https://git.example/x"]["version"] == "abc"
    assert g["#version-p/later@v1"]["cairn:recorded"] is False
    assert g["p/raw/v1/"]["@type"] == "Dataset"  # a pointer never replaces the entity
    assert g["#create-p/raw@v1"]["object"] == []


def test_metadata_environment_and_licences() -> None:
    d = detail("net", 1, [], license="Apache-2.0", tags=["cv"], metrics={"top1": 0.7},
               params={"lr": 0.1}, seeds={"torch": 7}, description="resnet")
    d["verdicts"] = [{"check": "naming", "status": "failed", "reasons": ["upper", "space"]}]
    g = graph(d)
    v = g["p/net/v1/"]
    assert v["license"] == {"@id": "https://spdx.org/licenses/Apache-2.0"}
    assert (v["keywords"], v["description"]) == (["cv"], "resnet")
    assert g[v["variableMeasured"][0]["@id"]]["value"] == 0.7
    assert [g[x["@id"]]["propertyID"] for x in v["additionalProperty"]] == ["param", "seed"]
    assert g[v["cairn:verdict"][0]["@id"]]["description"] == "upper; space"
    env = g[g["#create-p/net@v1"]["instrument"]["@id"]]
    assert env["softwareRequirements"] == ["numpy==2.1.0", "torch==2.4.0"]
    assert json.loads(env["cairn:environment"]) == ENV
    assert licence("proprietary, ask legal") == "proprietary, ask legal"
