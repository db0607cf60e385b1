"""Stage transition rules: which stage changes the ledger records, and why it refuses others.

Pure: the ledger reads the facts (current stage, validation, evaluations) and the project's
lifecycle rules in its transaction and passes them in, so the rules are unit-tested without
a database. Stages follow the project's ladder (by default development → staging →
production → archived; cairn.core.domain.lifecycle_rules):
- a stage not on the ladder is refused (`unknown_stage`, naming the ladder);
- a version moves forward one stage at a time (no stage, or one the ladder no longer has,
  counts as its first stage), moves back to any earlier stage (a rollback), and may be
  archived from anywhere;
- entering a stage (forward, back, or out of archived) also meets that stage's gate in
  the project's lifecycle rules (cairn.core.domain.lifecycle_rules); by default production needs
  a `valid` validation and at least one eval_log version linked to it with `evaluates`:
  what a reviewer would ask for.
Every StageChanged is checked. A stage given at publish is a move into that stage too, but of
a version that has no verdict and no evaluation yet: `LifecycleRules.check_publish` holds it
to the same gate with those facts (so a gate that asks for a verdict or an evaluation refuses
it: publish, then promote), and the stage's role is asked of the publisher like a mover's.
"""

from __future__ import annotations

from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.lifecycle_rules import (
    ARCHIVED,
    DEFAULT,
    Facts,
    LifecycleRules,
    promotion_gaps,
)

__all__ = ["Facts", "check_transition", "promotion_gaps"]  # Facts and gaps: lifecycle_rules'


def check_transition(facts: Facts, target: str, rules: LifecycleRules = DEFAULT) -> None:
    """Raise InvalidInput (unknown_stage, stage_order or promotion_refused) when `target` is
    not allowed."""
    ladder = rules.ladder
    rules.check_on_ladder(target, facts.ref.split("/", 1)[0])
    if target == facts.stage or target == ARCHIVED:
        return
    position = ladder.index(facts.stage) if facts.stage in ladder else 0
    if ladder.index(target) > position + 1:
        skipped = ladder[position + 1]
        raise InvalidInput(
            "stage_order",
            f"{facts.ref} is in {facts.stage or 'no stage'}; {target} comes after {skipped}: "
            f"move it to {skipped} first",
        )
    missing = promotion_gaps(facts, rules.gate(target))  # entering any stage meets its gate
    if missing:
        raise InvalidInput(
            "promotion_refused",
            f"promotion of {facts.ref} to {target} refused: {'; '.join(missing)}",
        )

