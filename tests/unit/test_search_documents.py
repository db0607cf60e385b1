"""documents.py: a VersionState becomes the document every index writer agrees on."""

from __future__ import annotations

from typing import Any

from cairn.search.documents import completeness, field_name_ok, version_document


def state(**meta: Any) -> dict[str, Any]:
    metadata = {"creator": "ada", "tags": ["nlp", "nlp", "bert"], "metrics": {"accuracy": 1},
                "params": {"lr": 0.1, "opt": "adam", "warm": None, "": 3}, **meta}
    return {
        "version_number": 3, "digest": "d" * 64, "stage": "staging", "aliases": ["prod", "latest"],
        "status": "active", "validation": "passed", "created_at": 1_700_000_000_000,
        "updated_seq": 42,
        "content": {"kind": "model", "project": "vision", "name": "resnet50", "digest": "d" * 64,
                    "files": [], "metadata": metadata, "environment": {}, "stage": None,
                    "extra": "{}", "links": [
                        {"relation": "trained_on", "target": "vision/imagenet@v2"},
                        {"relation": "uses", "target": "sha256:" + "a" * 64},
                        {"relation": "evaluates", "target": "vision/other:prod"},
                        {"relation": "produced_by", "target": None,
                         "external": {"kind": "code", "url": "https://x"}}]},
    }


def test_id_version_and_facets_come_from_the_state() -> None:
    doc_id, body = version_document(state())
    assert doc_id == body["ref"] == "vision/resnet50@v3"
    assert body["artifact"] == "vision/resnet50"
    assert body["seq"] == 42  # the engine version: updated_seq, not the record's seq
    assert body["stage"] == "staging" and body["validation"] == "passed"
    assert body["aliases"] == ["latest", "prod"]
    assert body["tags"] == ["bert", "nlp"]
    assert body["created_at"] == 1_700_000_000_000


def test_datasets_are_the_artifacts_behind_data_relations() -> None:
    _, body = version_document(state())
    assert body["datasets"] == ["sha256:" + "a" * 64, "vision/imagenet"]
    assert [link["relation"] for link in body["links"]] == ["trained_on", "uses", "evaluates"]


def test_metrics_are_doubles_and_params_are_text() -> None:
    _, body = version_document(state(metrics={"accuracy": 1, "eval.f1": 0.5, "a..b": 1.0}))
    assert body["metrics"] == {"accuracy": 1.0, "eval.f1": 0.5}
    assert isinstance(body["metrics"]["accuracy"], float)
    assert body["metric_names"] == ["accuracy", "eval.f1"]
    assert body["params"] == {"lr": "0.1", "opt": "adam"}


def test_usage_defaults_to_zero_and_totals() -> None:
    assert version_document(state())[1]["usage"] == {"views": 0, "downloads": 0, "total": 0}
    usage = version_document(state(), {"views": 3, "downloads": 2})[1]["usage"]
    assert usage == {"views": 3, "downloads": 2, "total": 5}


def test_completeness_counts_recommended_fields_per_kind() -> None:
    assert completeness("dataset", {}) == 0.0
    full = {"description": "d", "license": "mit", "owner_team": "t", "data_source": "s",
            "tags": ["x"], "card": "c"}
    assert completeness("dataset", full) == 1.0
    assert completeness("model", full) == 0.75  # framework and metrics missing
    assert 0 < version_document(state())[1]["completeness"] < 1


def test_field_names_that_would_break_the_mapping_are_refused() -> None:
    assert field_name_ok("accuracy") and field_name_ok("eval.top-1")
    for bad in ("", ".a", "a.", "a..b", " ", "x" * 201):
        assert not field_name_ok(bad)


def test_the_validators_completeness_wins_over_the_estimate() -> None:
    assert version_document({**state(), "completeness": 0.9})[1]["completeness"] == 0.9
    assert version_document({**state(), "completeness": None})[1]["completeness"] == 0.25
