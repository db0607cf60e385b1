"""Stage transition rules: which stage changes the ledger records, and why it refuses others.

Pure: the ledger reads the facts (current stage, validation, evaluations) and the project's
lifecycle rules in its transaction and passes them in, so the rules are unit-tested without
a database. Stages follow the project's ladder (by default development → staging →
production → archived; cairn.core.lifecycle_rules):
- a stage not on the ladder is refused (`unknown_stage`, naming the ladder);
- a version moves forward one stage at a time (no stage, or one the ladder no longer has,
  counts as its first stage), moves back to any earlier stage (a rollback), and may be
  archived from anywhere;
- entering a stage (forward, back, or out of archived) also meets that stage's gate in
  the project's lifecycle rules (cairn.core.lifecycle_rules); by default production needs
  a `valid` validation and at least one eval_log version linked to it with `evaluates`:
  what a reviewer would ask for.
A stage given at publish time is not a transition: only its place on the ladder is checked.
It records where an orchestrator already put the version (imported history, the demo corpus),
and a version that does not exist yet can have neither verdicts nor evaluations. Every
StageChanged is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.core.identity import InvalidInput
from cairn.core.lifecycle_rules import ARCHIVED, DEFAULT, Gate, LifecycleRules


@dataclass(frozen=True)
class Facts:
    """What the ledger knows about the version, read in the transaction that changes it."""

    ref: str
    stage: str | None
    validation: str  # pending | valid | invalid
    evaluations: int  # eval_log versions linked to it with `evaluates`


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


def promotion_gaps(facts: Facts, gate: Gate) -> list[str]:
    """Each missing precondition of the stage's gate, in words a user can act on."""
    gaps = []
    if gate.valid and facts.validation == "pending":
        gaps.append("validation is pending (no verdict yet: is the validator running?)")
    elif gate.valid and facts.validation != "valid":
        gaps.append(f"validation is {facts.validation} (see the failed checks with cairn show)")
    if gate.evaluation and facts.evaluations == 0:
        gaps.append("no eval_log version is linked to it with 'evaluates' "
                    "(publish an evaluation first)")
    return gaps
