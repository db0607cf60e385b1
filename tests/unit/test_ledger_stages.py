"""Stage transition rules: order, rollbacks, archiving, and what production needs."""

from __future__ import annotations

import pytest
from cairn.core.identity import InvalidInput
from cairn.ledger.stages import Facts, check_transition

READY = {"validation": "valid", "evaluations": 1}


def facts(stage: str | None, validation: str = "valid", evaluations: int = 1) -> Facts:
    return Facts("p/m@v1", stage, validation, evaluations)


@pytest.mark.parametrize(("current", "target"), [
    (None, "development"), (None, "staging"), ("development", "staging"),
    ("staging", "production"), ("production", "archived"), ("development", "archived"),
    (None, "archived"), ("production", "staging"), ("archived", "development"),
    ("staging", "staging"), ("production", "production"),
])
def test_allowed_moves(current: str | None, target: str) -> None:
    check_transition(facts(current), target)


@pytest.mark.parametrize(("current", "target", "words"), [
    (None, "production", "no stage; production comes after staging"),
    ("development", "production", "move it to staging first"),
])
def test_production_cannot_be_skipped_to(current: str | None, target: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as err:
        check_transition(facts(current), target)
    assert err.value.reason == "stage_order"


@pytest.mark.parametrize(("validation", "evaluations", "words"), [
    ("pending", 1, ["validation is pending"]),
    ("invalid", 1, ["validation is invalid"]),
    ("valid", 0, ["no eval_log version is linked to it with 'evaluates'"]),
    ("invalid", 0, ["validation is invalid", "no eval_log"]),
])
def test_production_needs_a_valid_verdict_and_an_evaluation(
        validation: str, evaluations: int, words: list[str]) -> None:
    for current in ("staging", "archived"):
        with pytest.raises(InvalidInput) as err:
            check_transition(facts(current, validation, evaluations), "production")
        assert err.value.reason == "promotion_refused"
        message = str(err.value)
        assert message.startswith("promotion of p/m@v1 to production refused: ")
        assert all(w in message for w in words)


def test_a_projects_gates_replace_the_defaults() -> None:
    from cairn.core.lifecycle_rules import check_lifecycle, rules_of

    rules = rules_of({"lifecycle": check_lifecycle({
        "gates": {"staging": {"role": "contributor", "valid": True},
                  "production": {"role": "admin", "valid": True}},
        "protected_aliases": ["gold"]})})
    with pytest.raises(InvalidInput, match="to staging refused: validation is invalid"):
        check_transition(facts("development", "invalid", 0), "staging", rules)
    check_transition(facts("staging", "valid", 0), "production", rules)  # no evaluation needed
    assert rules.stage_role("production") == "admin"
    assert rules.alias_role("gold") == "maintainer" and rules.alias_role("prod") == "contributor"


def test_without_rules_production_needs_a_maintainer_and_prod_is_protected() -> None:
    from cairn.core.lifecycle_rules import rules_of

    rules = rules_of(None)
    assert rules.stage_role("production") == "maintainer"
    assert rules.stage_role("staging") == "contributor"
    assert rules.alias_role("prod") == "maintainer" and rules.alias_role("latest-ok") == \
        "contributor"


@pytest.mark.parametrize("body", [
    {"gates": {"qa": {}}}, {"gates": {"production": {"role": "viewer"}}},
    {"gates": {"production": {"valid": "yes"}}}, {"protected_aliases": "prod"},
    {"other": 1},
])
def test_malformed_lifecycle_rules_are_refused(body: object) -> None:
    from cairn.core.lifecycle_rules import check_lifecycle

    with pytest.raises(InvalidInput) as err:
        check_lifecycle(body)
    assert err.value.reason == "invalid_lifecycle"
