"""Metadata against the JSON Schema of its kind, including the repo's own schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cairn.validator.checks import schema
from cairn.validator.rules import Rules, default_dir, load_schema


def content(kind: str, **metadata: object) -> dict[str, object]:
    return {"kind": kind, "project": "p", "name": "n", "digest": "0" * 64, "files": [],
            "metadata": {"creator": "ana", "tags": [], "metrics": {}, **metadata},
            "environment": {}, "links": [], "stage": None, "extra": '{"gpus": 8}'}


@pytest.mark.parametrize("kind", ["model", "dataset", "eval_log"])
def test_the_repo_has_a_valid_schema_per_kind(kind: str) -> None:
    loaded, source = load_schema(default_dir(), Rules("p"), kind)
    assert loaded is not None and source == f"schemas/{kind}.schema.json"
    assert schema.check(content(kind, metrics={"top1": 0.7}), loaded, source).status == "passed"


def test_violations_name_the_field_and_the_schema_file() -> None:
    loaded, source = load_schema(default_dir(), Rules("p"), "dataset")
    bad = content("dataset", tags=["Has Spaces"],
                  data_splits=[{"name": "train", "fraction": 1.5, "rows": -1}])
    outcome = schema.check(bad, loaded, source)
    assert outcome.status == "failed"
    assert outcome.reasons == (
        f"schema: metadata.data_splits.0.fraction: 1.5 is greater than the maximum of 1 "
        f"({source})",
        f"schema: metadata.data_splits.0.rows: -1 is less than the minimum of 0 ({source})",
        f"schema: metadata.tags.0: 'Has Spaces' does not match '^[a-z0-9][a-z0-9._-]{{0,63}}$' "
        f"({source})",
    )


def test_extra_is_validated_as_an_object() -> None:
    rule = {"type": "object", "properties": {"extra": {
        "type": "object", "required": ["input_shape"]}}}
    outcome = schema.check(content("model"), rule, "custom.json")
    assert outcome.reasons == ("schema: extra: 'input_shape' is a required property "
                               "(custom.json)",)


def test_an_eval_log_needs_a_metric() -> None:
    loaded, source = load_schema(default_dir(), Rules("p"), "eval_log")
    assert schema.check(content("eval_log"), loaded, source).status == "failed"


def test_no_schema_passes_and_a_broken_schema_fails() -> None:
    assert schema.check(content("model"), None, "-").status == "passed"
    broken = schema.check(content("model"), {"type": "no-such-type"}, "broken.json")
    assert broken.status == "failed" and "is not a valid JSON Schema" in broken.reasons[0]


def test_a_project_can_name_another_schema(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "strict.json").write_text(json.dumps({"type": "object"}))
    rules = Rules("p", schemas={"model": "schemas/strict.json"})
    loaded, source = load_schema(tmp_path, rules, "model")
    assert loaded == {"type": "object"} and source == "schemas/strict.json"
