"""Required fields, SPDX licenses, lineage and completeness: pure checks on literal input."""

from __future__ import annotations

import pytest
from cairn.validator.checks import completeness, license, lineage, required

COMPLETE = {"creator": "ana", "license": "MIT", "description": "d", "owner_team": "vision",
            "tags": ["cnn"], "params": {"lr": 0.1}, "metrics": {"top1": 0.7},
            "seeds": {"torch": 1}, "data_splits": [{"name": "train"}], "framework": "pytorch",
            "data_source": "s3://b/x", "preprocessing": "resize"}


def test_required_for_every_kind_and_per_kind() -> None:
    model = required.check("model", {"creator": "ana", "license": None}, [])
    assert model.status == "failed"
    assert model.reasons == (
        "license: missing (required for every artifact)",
        "trained_on: no link to the dataset it was trained on (required for models)")
    dataset = required.check("dataset", {"creator": "ana", "license": "MIT",
                                         "data_source": "  "}, [])
    assert dataset.reasons == ("data_source: missing (required for datasets)",
                               "preprocessing: missing (required for datasets)")
    evaluation = required.check("eval_log", {"creator": "ana", "license": "MIT"},
                                [{"relation": "trained_on", "target": "p/d@v1"}])
    assert evaluation.reasons == (
        "evaluates: no link to the model it evaluates (required for eval logs)",)


def test_required_passes_when_everything_is_there() -> None:
    links = [{"relation": "trained_on", "target": None, "external": {"kind": "data"}}]
    assert required.check("model", COMPLETE, links).status == "passed"
    assert required.check("dataset", COMPLETE, []).status == "passed"


@pytest.mark.parametrize("value", [
    "MIT", "Apache-2.0", "CC-BY-4.0", "MIT OR Apache-2.0",
    "GPL-2.0-or-later WITH Classpath-exception-2.0", "LicenseRef-acme-internal",
    "Apache-2.0 AND LicenseRef-acme", None, "",
])
def test_spdx_identifiers_and_expressions_pass(value: str | None) -> None:
    assert license.check(value).status == "passed"


@pytest.mark.parametrize(("value", "words"), [
    ("proprietary", "'proprietary' is not an SPDX license identifier"),
    ("Apache 2", "is not an SPDX license identifier"),
    ("MIT OR (Apache-2.0", "is not a valid SPDX expression"),
    ("MIT AND", "is not"),
    ("MIT WITH Apache-2.0", "is not a valid SPDX expression"),
])
def test_anything_else_fails_with_the_offending_part(value: str, words: str) -> None:
    outcome = license.check(value)
    assert outcome.status == "failed"
    assert all(r.startswith("license: ") for r in outcome.reasons)
    assert words in outcome.reasons[0]


def test_a_license_in_the_wrong_case_is_a_warning_with_the_spdx_spelling() -> None:
    outcome = license.check("apache-2.0")
    assert (outcome.status, outcome.reasons) == (
        "warning", ("license: 'apache-2.0' is written 'Apache-2.0' in SPDX",))


def test_unresolved_lineage_is_a_warning_per_link() -> None:
    links = [lineage.LinkTarget("trained_on", "p/d@v1", True),
             lineage.LinkTarget("derived_from", "p/raw@v9", False)]
    outcome = lineage.check(links)
    assert outcome.status == "warning"
    assert outcome.reasons == (
        "lineage: derived_from → p/raw@v9 does not resolve to a version in Cairn (yet)",)
    assert lineage.check(links[:1]).status == "passed" and lineage.check([]).reasons == ()


def test_completeness_scores_the_recommended_fields_of_the_kind() -> None:
    full = completeness.check("model", COMPLETE)
    assert (full.status, full.score, full.reasons) == ("passed", 1.0, ())
    sparse = completeness.check("dataset", {"creator": "ana", "license": "MIT", "tags": [],
                                            "data_source": "s3://b", "params": {}})
    assert sparse.status == "warning"
    assert sparse.score == pytest.approx(2 / 10)
    assert sparse.reasons == ("completeness: 0.20, missing description, owner_team, tags, "
                              "params, metrics, seeds, data_splits, preprocessing",)
    assert "framework" in completeness.recommended("model")
    assert "framework" not in completeness.recommended("eval_log")
