"""Retention policies: what a policy may say, and the TOML file format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cairn.core.domain.config_items import check_item
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.retention import check_policy, parse_toml

ROOT = Path(__file__).resolve().parents[2]


def rule(**fields: Any) -> dict[str, Any]:
    return {"action": "archive", "min_age_days": 30, **fields}


def test_a_rule_is_normalised_with_every_field() -> None:
    policy = check_policy({"rules": [rule(kinds="model", tags=["b", "a", "a"])]})
    assert policy == {"description": None, "scheduled": True, "rules": [{
        "name": "rule-1", "action": "archive", "kinds": ["model"], "stages": [],
        "tags": ["a", "b"], "statuses": ["active"], "min_age_days": 30, "keep_last": None,
        "unused_days": None}]}


def test_delete_rules_act_on_active_and_archived_versions_by_default() -> None:
    policy = check_policy({"rules": [rule(action="delete")]})
    assert policy["rules"][0]["statuses"] == ["active", "archived"]


@pytest.mark.parametrize("body, words", [
    ([], "object"),
    ({"rules": []}, "1 to 50"),
    ({"rules": [rule()], "colour": "red"}, "unknown policy fields: colour"),
    ({"rules": [rule()], "scheduled": "yes"}, "scheduled"),
    ({"rules": [rule(action="shred")]}, "archive or delete"),
    ({"rules": [{"action": "archive"}]}, "at least one of"),
    ({"rules": [rule(stages=["Prod!"])]}, "stage 'Prod!' must start with a letter"),
    ({"rules": [rule(statuses=["archived"])]}, "statuses archived not allowed"),
    ({"rules": [rule(keep_last=0)]}, "keep_last must be a whole number of at least 1"),
    ({"rules": [rule(min_age_days=True)]}, "min_age_days"),
    ({"rules": [rule(min_age_days=1.5)]}, "min_age_days"),
    ({"rules": [rule(tags=[1])]}, "tags must be a list"),
    ({"rules": [rule(name="x"), rule(name="x")]}, "unique"),
    ({"rules": [rule(when="never")]}, "unknown fields when"),
])
def test_bad_policies_are_refused_with_what_to_fix(body: Any, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_policy(body)
    assert words in str(caught.value)


def test_a_rule_may_name_any_stage_a_ladder_may_have() -> None:
    """The policy is checked without its project's ladder; the plan protects that project's
    production-like stage (test_retention_plan)."""
    policy = check_policy({"rules": [rule(stages=["canary", "none", "production"])]})
    assert policy["rules"][0]["stages"] == ["canary", "none", "production"]


def test_the_example_file_is_a_valid_policy() -> None:
    policy = parse_toml((ROOT / "retention" / "example.toml").read_text())
    assert [r["action"] for r in policy["rules"]] == ["archive", "archive", "delete"]
    assert policy["rules"][0]["stages"] == ["development", "none"]


def test_a_file_that_is_not_toml_says_so() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_toml("[[rules]\naction = ")
    assert caught.value.reason == "invalid_toml"


def test_the_config_agent_checks_retention_policies_too() -> None:
    assert check_item("retention_policy", "vision", '{"rules": [{"action": "delete", '
                      '"keep_last": 2}]}')["rules"][0]["keep_last"] == 2
    with pytest.raises(InvalidInput):
        check_item("retention_policy", "vision", '{"rules": [{"action": "delete"}]}')
    assert check_item("retention_policy", "vision", None) is None
