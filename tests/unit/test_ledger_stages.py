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
