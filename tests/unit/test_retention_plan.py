"""The retention planner: selectors, keep-last, the stronger action, and protections."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cairn.core.domain.lifecycle_rules import check_lifecycle, rules_of
from cairn.core.domain.retention import DAY_MS, VersionFacts, check_policy, plan

NOW = 1_800_000_000_000


def version(n: int, *, artifact: str = "p/model", days: float = 100, **fields: Any
            ) -> VersionFacts:
    facts = VersionFacts(id=hash((artifact, n)), artifact=artifact, number=n, digest=f"{n:064x}",
                         kind="model", stage=None, status="active",
                         created_at=int(NOW - days * DAY_MS))
    return replace(facts, **fields)


def planned(rules: list[dict[str, Any]], versions: list[VersionFacts]
            ) -> dict[str, tuple[str, str]]:
    result = plan(check_policy({"rules": rules}), versions, NOW)
    return {s.version.ref: (s.action, s.rule) for s in result.steps}


def test_min_age_selects_versions_at_least_that_old() -> None:
    versions = [version(1, days=31), version(2, days=30), version(3, days=29.9)]
    assert planned([{"action": "archive", "min_age_days": 30}], versions) == {
        "p/model@v1": ("archive", "rule-1"), "p/model@v2": ("archive", "rule-1")}


def test_keep_last_counts_per_artifact_among_what_the_rule_matches() -> None:
    versions = [version(n) for n in range(1, 6)] + [
        version(1, artifact="p/other"), version(2, artifact="p/other", kind="dataset")]
    got = planned([{"action": "archive", "kinds": ["model"], "keep_last": 2}], versions)
    assert sorted(got) == ["p/model@v1", "p/model@v2", "p/model@v3"]  # p/other has 1 model


def test_unused_days_count_from_the_last_use_or_from_publication() -> None:
    versions = [version(1, last_used_at=NOW - 3 * DAY_MS), version(2, days=20),
                version(3, days=5), version(4, last_used_at=NOW - 15 * DAY_MS)]
    assert sorted(planned([{"action": "archive", "unused_days": 10}], versions)) == [
        "p/model@v2", "p/model@v4"]


def test_kind_stage_tag_and_status_selectors_all_hold() -> None:
    versions = [version(1, stage="development", tags=("exp",)), version(2, tags=("exp",)),
                version(3, stage="staging", tags=("exp",)), version(4, stage="development"),
                version(5, stage="development", tags=("exp", "x"), kind="dataset"),
                version(6, stage="development", tags=("exp",), status="archived")]
    rules = [{"action": "archive", "kinds": ["model"], "stages": ["development", "none"],
              "tags": ["exp"], "min_age_days": 1}]
    assert sorted(planned(rules, versions)) == ["p/model@v1", "p/model@v2"]


def test_delete_wins_over_archive_and_deleted_versions_are_left_alone() -> None:
    versions = [version(1, days=400), version(2, days=100), version(3, days=400,
                                                                  status="archived"),
                version(4, days=400, status="deleted")]
    rules = [{"name": "old", "action": "archive", "min_age_days": 90},
             {"name": "ancient", "action": "delete", "min_age_days": 365}]
    assert planned(rules, versions) == {"p/model@v1": ("delete", "ancient"),
                                        "p/model@v2": ("archive", "old"),
                                        "p/model@v3": ("delete", "ancient")}


def test_protected_versions_are_listed_apart_with_the_reason() -> None:
    versions = [version(1, stage="production"), version(2, legal_hold=True),
                version(3, referenced_by=("p/eval@v1",)), version(4)]
    result = plan(check_policy({"rules": [{"action": "delete", "min_age_days": 1}]}), versions,
                  NOW)
    assert [s.version.ref for s in result.steps] == ["p/model@v4"]
    why = {s.version.ref: " ".join(s.protected) for s in result.protected}
    assert "in production" in why["p/model@v1"]
    assert "legal hold" in why["p/model@v2"]
    assert "p/eval@v1 points to it" in why["p/model@v3"]


def test_a_custom_ladder_protects_its_last_working_stage_not_production() -> None:
    """With stages [dev, canary, live], `live` is production-like; `production` is no stage
    of that project, so a version somehow left in it is not protected."""
    live = rules_of({"lifecycle": check_lifecycle({"stages": ["dev", "canary", "live"]})})
    versions = [version(1, stage="live"), version(2, stage="canary"),
                version(3, stage="production")]
    result = plan(check_policy({"rules": [{"action": "archive", "min_age_days": 1}]}), versions,
                  NOW, live.protected_stage)
    assert [s.version.ref for s in result.steps] == ["p/model@v2", "p/model@v3"]
    assert [" ".join(s.protected) for s in result.protected] == [
        "it is in live, its project's production-like stage (move it to another stage first)"]


def test_the_reason_names_the_rule_and_each_selector_that_held() -> None:
    versions = [version(n, days=50) for n in range(1, 4)]
    result = plan(check_policy({"rules": [{"name": "stale", "action": "archive",
                                           "keep_last": 2, "min_age_days": 30,
                                           "unused_days": 7}]}), versions, NOW)
    (step,) = result.steps
    assert step.why == ("rule 'stale'; not among the newest 2 of p/model; 50 days old "
                        "(min_age_days 30); never used (unused_days 7)")
    assert step.as_json()["ref"] == "p/model@v1"


def test_the_planner_agrees_with_the_rules_as_documented_on_a_generated_history() -> None:
    from tests.retention_history import RULES, expected_plan, generate

    history = generate("gen")
    live = {t for v in history if v.status == "active" for t in v.links}
    facts = [VersionFacts(
        id=i, artifact=v.artifact, number=v.number, digest=f"{i:064x}", kind=v.kind,
        stage=v.stage, status=v.status, created_at=int(NOW - v.age_days * DAY_MS),
        tags=tuple(v.tags), legal_hold=v.legal_hold,
        last_used_at=None if v.used_days_ago is None else int(NOW - v.used_days_ago * DAY_MS),
        referenced_by=tuple(s.ref for s in history if s.status == "active" and v.ref in s.links))
        for i, v in enumerate(history)]
    result = plan(check_policy({"rules": RULES}), facts, NOW)
    assert {s.version.ref: s.action for s in result.steps} == expected_plan(history, RULES)
    assert {s.version.ref for s in result.protected} <= (
        {v.ref for v in history if v.stage == "production" or v.legal_hold} | live)
