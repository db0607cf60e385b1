"""Stage transition rules: order, rollbacks, archiving, what production needs, and a
project's own ladder."""

from __future__ import annotations

import pytest
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.lifecycle_rules import DEFAULT, LifecycleRules, check_lifecycle, rules_of
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
    from cairn.core.domain.lifecycle_rules import check_lifecycle, rules_of

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
    from cairn.core.domain.lifecycle_rules import rules_of

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
    from cairn.core.domain.lifecycle_rules import check_lifecycle

    with pytest.raises(InvalidInput) as err:
        check_lifecycle(body)
    assert err.value.reason == "invalid_lifecycle"


CANARY = ["development", "staging", "canary", "production"]


def canary_rules(**extra: object) -> LifecycleRules:
    return rules_of({"lifecycle": check_lifecycle({"stages": CANARY, **extra})})


@pytest.mark.parametrize(("current", "target"), [
    ("staging", "canary"), ("canary", "production"), ("production", "canary"),
    ("canary", "development"), (None, "staging"), ("canary", "archived"),
    ("archived", "canary"), ("qa", "staging"),  # a stage the ladder dropped counts as none
])
def test_a_custom_ladder_orders_the_moves(current: str | None, target: str) -> None:
    check_transition(facts(current), target, canary_rules())


@pytest.mark.parametrize(("current", "target", "words"), [
    ("staging", "production", "p/m@v1 is in staging; production comes after canary: move it "
     "to canary first"),
    (None, "canary", "canary comes after staging"),
])
def test_a_custom_ladder_cannot_be_skipped(current: str | None, target: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as err:
        check_transition(facts(current), target, canary_rules())
    assert err.value.reason == "stage_order"


@pytest.mark.parametrize("rules", [DEFAULT, canary_rules()])
def test_a_stage_off_the_ladder_is_refused_naming_the_ladder(rules: LifecycleRules) -> None:
    with pytest.raises(InvalidInput) as err:
        check_transition(facts("staging"), "qa", rules)
    assert err.value.reason == "unknown_stage"
    assert str(err.value) == ("'qa' is not a stage of project p: its stages are "
                              f"{' → '.join(rules.ladder)}")


def test_without_stages_the_ladder_is_todays() -> None:
    assert rules_of(None).ladder == ("development", "staging", "production", "archived")
    assert rules_of({"lifecycle": check_lifecycle({"gates": {}})}).ladder == rules_of(None).ladder
    assert "stages" not in check_lifecycle({"gates": {}})  # stored as it always was
    assert rules_of(None).protected_stage == "production"


def test_a_custom_ladders_gates_and_production_like_stage() -> None:
    rules = canary_rules(gates={"canary": {"role": "maintainer", "valid": True},
                                "archived": {"role": "admin"}})
    assert rules.ladder == (*CANARY, "archived") and rules.protected_stage == "production"
    assert rules.stage_role("canary") == "maintainer" and rules.stage_role("archived") == "admin"
    with pytest.raises(InvalidInput, match="to canary refused: validation is invalid"):
        check_transition(facts("staging", "invalid"), "canary", rules)
    check_transition(facts("canary", "invalid", 0), "production", rules)  # no gate given
    short = rules_of({"lifecycle": check_lifecycle({"stages": ["dev", "live"]})})
    assert short.protected_stage == "live" and short.ladder == ("dev", "live", "archived")


@pytest.mark.parametrize(("body", "words"), [
    ({"stages": []}, "list of 1 to 10 stage names"),
    ({"stages": "development"}, "list of 1 to 10"),
    ({"stages": [f"s{i}" for i in range(11)]}, "list of 1 to 10"),
    ({"stages": ["dev", "Prod"]}, "lifecycle.stages: stage 'Prod' must start with a letter"),
    ({"stages": ["dev", "x" * 33]}, "at most 32"),
    ({"stages": ["dev", 3]}, "stage 3 must start"),
    ({"stages": ["dev", "archived"]}, "'archived' is reserved"),
    ({"stages": ["none", "dev"]}, "'none' is reserved"),
    ({"stages": ["dev", "live", "dev"]}, "each stage once"),
    ({"stages": ["dev", "live"], "gates": {"production": {}}},
     "'production' is not on the ladder (dev → live → archived)"),
])
def test_malformed_ladders_are_refused_saying_what_to_fix(body: object, words: str) -> None:
    from cairn.core.domain.lifecycle_rules import check_lifecycle

    with pytest.raises(InvalidInput) as err:
        check_lifecycle(body)
    assert err.value.reason == "invalid_lifecycle" and words in str(err.value)


def test_a_ladder_is_kept_in_order() -> None:
    assert check_lifecycle({"stages": ["dev", "canary", "live"]})["stages"] == \
        ["dev", "canary", "live"]


def test_a_lifecycle_without_gates_keeps_the_default_gate_on_its_top_stage() -> None:
    """Setting only a ladder or protected aliases must not open production to anyone."""
    for rules in (canary_rules(), rules_of({"lifecycle": check_lifecycle(
            {"protected_aliases": ["gold"]})})):
        with pytest.raises(InvalidInput, match="validation is invalid"):
            check_transition(facts("canary" if "canary" in rules.ladder else "staging",
                                   "invalid"), "production", rules)
        assert rules.stage_role("production") == "maintainer"
    live = rules_of({"lifecycle": check_lifecycle({"stages": ["dev", "live"]})})
    assert live.stage_role("live") == "maintainer" and live.stage_role("dev") == "contributor"
    bare = rules_of({"lifecycle": check_lifecycle({"gates": {}})})
    check_transition(facts("staging", "invalid", 0), "production", bare)  # said: no gates


def test_a_publish_into_a_stage_meets_its_gate_as_a_new_version() -> None:
    """A new version has no verdict and no evaluation: a gate asking for either refuses a
    publish into its stage and says to publish, then promote; a role-only gate is a role."""
    from cairn.core.domain.lifecycle_rules import NEEDS_PROMOTION

    assert DEFAULT.publish_role(None) == DEFAULT.publish_role("staging") == "contributor"
    assert DEFAULT.publish_role("production") == "maintainer"
    DEFAULT.check_publish("staging", "p/m")
    with pytest.raises(InvalidInput) as err:
        DEFAULT.check_publish("production", "p/m")
    assert err.value.reason == NEEDS_PROMOTION
    assert "publish without --stage production (or with --stage staging), then " \
        "`cairn stage p/m@vN production`" in str(err.value)
    with pytest.raises(InvalidInput, match="not a stage of project p") as err:
        DEFAULT.check_publish("shipped", "p/m")
    assert err.value.reason == "unknown_stage"
    role_only = rules_of({"lifecycle": check_lifecycle({
        "gates": {"production": {"role": "maintainer"}, "staging": {"evaluation": True}}})})
    role_only.check_publish("production", "p/m")
    assert role_only.publish_role("production") == "maintainer"
    with pytest.raises(InvalidInput, match="needs an eval_log linked"):
        role_only.check_publish("staging", "p/m")


def test_the_hold_role_is_maintainer_unless_the_project_says() -> None:
    assert DEFAULT.hold_role == "maintainer"
    assert rules_of({"lifecycle": check_lifecycle({})}).hold_role == "maintainer"
    checked = check_lifecycle({"hold_role": "admin"})
    assert checked["hold_role"] == "admin" and rules_of({"lifecycle": checked}).hold_role \
        == "admin"
    assert "hold_role" not in check_lifecycle({"stages": ["dev", "prod"]})
    with pytest.raises(InvalidInput, match="hold_role 'viewer'"):
        check_lifecycle({"hold_role": "viewer"})
