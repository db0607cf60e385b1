"""What a caller may not see, without services: hidden and missing projects answered alike in
a version's links, its verdicts and a lineage graph (cairn.api.visibility, cairn.api.lineage)."""

from __future__ import annotations

from typing import Any

from cairn.api.lineage import assemble
from cairn.api.visibility import Hidden, redact_detail, without_refs

STRANGER = Hidden({"secret"}, known={"open", "secret"})


def test_unseen_is_hidden_or_missing_and_nothing_for_a_site_admin() -> None:
    assert STRANGER.unseen("secret") and STRANGER.unseen("nope") and STRANGER.unseen(None)
    assert not STRANGER.unseen("open")
    assert not Hidden().unseen("secret") and not Hidden().unseen(None)
    assert set(STRANGER) == {"secret"}  # search excludes the hidden ones, by name


def _version(vid: int, project: str, name: str) -> dict[str, Any]:
    return {"id": vid, "project": project, "name": name, "version_number": 1, "kind": "model",
            "digest": f"d{vid}", "stage": None, "status": "active", "validation": "valid"}


def _link(lid: int, walk: str, source: int | None, target: int | None, far_project: str | None,
          target_ref: str | None = None, depth: int = 0) -> dict[str, Any]:
    return {"walk": walk, "id": lid, "source_version_id": source, "target_version_id": target,
            "relation": "trained_on", "target_ref": target_ref, "external": None,
            "depth": depth, "far_project": far_project}


def test_each_link_to_what_is_unseen_gets_its_own_placeholder() -> None:
    versions = {1: _version(1, "open", "m"), 3: _version(3, "open", "b")}
    links = [_link(10, "up", 1, 2, "secret", "secret/d@v1"),
             _link(11, "up", 1, 2, "secret", "secret/d:latest"),  # the same hidden version
             _link(12, "up", 1, None, None, "nope/d@v1"),
             _link(13, "up", 1, None, None, "open/late@v1"),
             _link(14, "down", 4, 1, "secret")]
    graph = assemble("open/m@v1", 1, "both", 3, versions, links, STRANGER)
    assert [n["id"] for n in graph["nodes"]] == [
        "open/m@v1", "redacted-1", "redacted-2", "redacted-3", "redacted-4",
        "unresolved:open/late@v1"]
    assert "secret" not in str(graph) and "nope" not in str(graph)
    assert {"from": "redacted-4", "to": "open/m@v1", "relation": "trained_on"} in graph["edges"]
    assert len(graph["edges"]) == 5


def test_links_and_verdicts_about_unseen_targets_say_nothing() -> None:
    detail = {"links_out": [
        {"relation": "trained_on", "target_ref": "secret/d@v2", "target": {"ref": "secret/d@v2"},
         "external": None},
        {"relation": "trained_on", "target_ref": "nope/d@v1", "target": None, "external": None},
        {"relation": "uses", "target_ref": "open/late@v1", "target": None, "external": None},
        {"relation": "produced_by", "target_ref": None, "target": None,
         "external": {"url": "https://example.org/x"}}],
        "links_in": [{"relation": "uses", "source": {"ref": "secret/x@v1"}},
                     {"relation": "uses", "source": {"ref": "open/x@v1"}}],
        "verdicts": [{"check": "lineage", "status": "warning", "reasons": [
            "lineage: trained_on → nope/d@v1 does not resolve to a version in Cairn (yet)"]}]}
    shown = redact_detail(detail, STRANGER)
    hidden = {"relation": "trained_on", "redacted": True}
    assert shown["links_out"][:2] == [hidden, hidden]
    assert shown["links_out"][2:] == detail["links_out"][2:]
    assert shown["links_in"] == [{"relation": "uses", "redacted": True}, detail["links_in"][1]]
    assert shown["verdicts"] == [{"check": "lineage", "status": "passed", "reasons": []}]
    assert redact_detail(detail, Hidden()) == detail


def test_only_reasons_naming_an_unseen_ref_go() -> None:
    verdict = {"check": "hook", "status": "failed",
               "reasons": ["uses p/x@v1", "uses p/x@v10", {"ref": "p/x@v1"}, "fine"]}
    assert without_refs(verdict, {"p/x@v1"}) == {**verdict, "reasons": ["uses p/x@v10", "fine"]}
    assert without_refs(verdict, set()) is verdict
