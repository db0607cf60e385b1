"""A project's lifecycle rules: its stage ladder, what entering each stage needs, and which
aliases are protected.

Kept in the project's config item (field `lifecycle`) so a project changes them through the
ledger like any other setting. The api checks the role a move needs (it is the one place
that knows who is calling; the ledger asks the same role of a service account producing to
Kafka itself); the ledger checks that the stage is on the ladder and the facts a stage needs
(a valid verdict, a linked evaluation) in the transaction that moves it, so no producer can
skip them.

    "lifecycle": {
      "stages": ["development", "staging", "canary", "production"],
      "gates": {"production": {"role": "maintainer", "valid": true, "evaluation": true},
                "canary": {"role": "contributor", "valid": true}},
      "protected_aliases": ["prod", "champion"],
      "hold_role": "maintainer"
    }

`stages` are the working stages in order (1-10 names); `archived` always follows them and is
never listed. The last working stage is the production-like one (`production` by default):
retention never archives or deletes a version in it. That is one rule rather than a second
list to keep in step with the ladder, so a ladder cannot be half-protected by mistake. The
gates given replace the default ones, so a project that sets `lifecycle` names its
production-like stage's gate itself; a `lifecycle` without `gates` keeps the default gate
(maintainer, valid verdict, evaluation) on its production-like stage, and `"gates": {}` says
that no stage has one.

A stage given at publish is a move into that stage and meets its gate too (`check_publish`):
the gate's role, and its facts. A version that is being published has no verdict and no
evaluation yet, so a publish into a stage whose gate asks for either is refused
(`gate_needs_promotion`, saying to publish, then promote with `cairn stage`); a gate that
asks only for a role is met by a caller with that role.

Setting or releasing a legal hold (the `legal_hold` metadata field, which keeps retention
away) needs `hold_role` (maintainer unless the project says otherwise), whether the edit sets
it or reverts an edit that did.

Without the field: development → staging → production → archived; production needs a
maintainer, a valid verdict and an evaluation; other stages need a contributor; `prod`,
`production` and `champion` are protected; a legal hold needs a maintainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.core.domain.identity import InvalidInput, check_alias, check_stage

GATE_ROLES = ("contributor", "maintainer", "admin")
DEFAULT_STAGES = ("development", "staging", "production")
ARCHIVED = "archived"  # the terminal stage of every ladder
RESERVED = (ARCHIVED, "none")  # `none` means "no stage" in retention rules
MAX_STAGES = 10


@dataclass(frozen=True)
class Gate:
    role: str = "contributor"  # the least project role that may move a version here
    valid: bool = False  # the version's validation must be `valid`
    evaluation: bool = False  # an eval_log must be linked to it with `evaluates`


DEFAULT_GATE = Gate(role="maintainer", valid=True, evaluation=True)  # production's
HOLD = "legal_hold"  # the metadata field whose changes need LifecycleRules.hold_role
NEEDS_PROMOTION = "gate_needs_promotion"  # a publish into a stage whose gate asks for facts


@dataclass(frozen=True)
class Facts:
    """What a gate may ask of a version: the ledger reads them in the transaction that moves
    it; a version being published has `NEW` facts (no stage, no verdict, no evaluation)."""

    ref: str
    stage: str | None
    validation: str  # pending | valid | invalid
    evaluations: int  # eval_log versions linked to it with `evaluates`

    @classmethod
    def new(cls, ref: str) -> Facts:
        return cls(ref, None, "pending", 0)


def promotion_gaps(facts: Facts, gate: Gate) -> list[str]:
    """Each precondition of the gate that the version misses, in words a user can act on:
    the one check of a gate's facts, for stage moves and for publishes into a stage."""
    gaps = []
    if gate.valid and facts.validation == "pending":
        gaps.append("validation is pending (no verdict yet: is the validator running?)")
    elif gate.valid and facts.validation != "valid":
        gaps.append(f"validation is {facts.validation} (see the failed checks with cairn show)")
    if gate.evaluation and facts.evaluations == 0:
        gaps.append("no eval_log version is linked to it with 'evaluates' "
                    "(publish an evaluation first)")
    return gaps


@dataclass(frozen=True)
class LifecycleRules:
    gates: Mapping[str, Gate] = field(default_factory=lambda: {
        "production": DEFAULT_GATE})
    protected_aliases: tuple[str, ...] = ("prod", "production", "champion")
    stages: tuple[str, ...] = DEFAULT_STAGES  # working stages in order; archived follows
    hold_role: str = "maintainer"  # the least role that sets or releases a legal hold

    @property
    def ladder(self) -> tuple[str, ...]:
        return (*self.stages, ARCHIVED)

    @property
    def protected_stage(self) -> str:
        """The production-like stage: the ladder's last working stage."""
        return self.stages[-1]

    def check_on_ladder(self, stage: str, project: str) -> str:
        """`stage` if it is on the ladder, else InvalidInput `unknown_stage` naming it."""
        if stage not in self.ladder:
            raise InvalidInput("unknown_stage", f"{stage!r} is not a stage of project "
                               f"{project}: its stages are {' → '.join(self.ladder)}")
        return stage

    def gate(self, stage: str) -> Gate:
        return self.gates.get(stage, Gate())

    def alias_role(self, alias: str) -> str:
        return "maintainer" if alias in self.protected_aliases else "contributor"

    def stage_role(self, stage: str) -> str:
        return self.gate(stage).role

    def publish_role(self, stage: str | None) -> str:
        """The least role that publishes into `stage`: its gate's (contributor without one)."""
        return self.stage_role(stage) if stage is not None else "contributor"

    def check_publish(self, stage: str, artifact: str) -> None:
        """Refuse a publish into `stage` that its place on the ladder or its gate's facts
        forbid (the role is the caller's check: `publish_role`). A new version has no
        verdict and no evaluation, so a gate that asks for one refuses it with
        `gate_needs_promotion`, which says to publish, then promote."""
        project = artifact.split("/", 1)[0]
        self.check_on_ladder(stage, project)
        if promotion_gaps(Facts.new(artifact), self.gate(stage)):
            gate = self.gate(stage)
            needs = " and ".join(["a valid verdict"] * gate.valid +
                                 ["an eval_log linked to it with 'evaluates'"] * gate.evaluation)
            earlier = self.ladder[max(self.ladder.index(stage) - 1, 0)]
            hint = f" (or with --stage {earlier})" if earlier != stage else ""
            raise InvalidInput(NEEDS_PROMOTION, f"a publish into {stage} refused: the {stage} "
                               f"gate of project {project} needs {needs}, which a version has "
                               f"only after it is published; publish without --stage {stage}"
                               f"{hint}, then `cairn stage {artifact}@vN {stage}` once the "
                               "validator's verdict is valid")


DEFAULT = LifecycleRules()


def default_gates(stages: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """The gates a lifecycle without `gates` has: production's on its last working stage."""
    return {stages[-1]: asdict(DEFAULT_GATE)}


def check_lifecycle(body: Any) -> dict[str, Any]:
    """The normalised `lifecycle` field of a project item, or InvalidInput saying what to fix.
    `stages` is kept only when given, so a project without it reads as it always did."""
    if not isinstance(body, Mapping) or set(body) - {"stages", "gates", "protected_aliases",
                                                     "hold_role"}:
        raise InvalidInput("invalid_lifecycle", "lifecycle is an object with stages, gates, "
                           "protected_aliases and hold_role")
    stages = _check_stages(body["stages"]) if "stages" in body else None
    ladder = (*(stages or DEFAULT_STAGES), ARCHIVED)
    gates = body["gates"] if "gates" in body else default_gates(ladder[:-1])
    if not isinstance(gates, Mapping):
        raise InvalidInput("invalid_lifecycle", "lifecycle.gates maps a stage to its gate")
    out: dict[str, dict[str, Any]] = {}
    for stage, gate in gates.items():
        if stage not in ladder:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.gates: {stage!r} is not on the "
                               f"ladder ({' → '.join(ladder)})")
        if not isinstance(gate, Mapping) or set(gate) - {"role", "valid", "evaluation"}:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.gates.{stage}: an object with "
                               "role, valid and evaluation")
        role = gate.get("role", "contributor")
        if role not in GATE_ROLES:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.gates.{stage}.role {role!r}: "
                               f"use {', '.join(GATE_ROLES)}")
        flags = {k: gate.get(k, False) for k in ("valid", "evaluation")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise InvalidInput("invalid_lifecycle", f"lifecycle.gates.{stage}: valid and "
                               "evaluation are true or false")
        out[stage] = {"role": role, **flags}
    aliases = body.get("protected_aliases", list(DEFAULT.protected_aliases))
    if not isinstance(aliases, list) or len(aliases) > 100:
        raise InvalidInput("invalid_lifecycle", "lifecycle.protected_aliases is a list of "
                           "alias names (at most 100)")
    checked: dict[str, Any] = {"gates": out, "protected_aliases": sorted(
        {check_alias(str(a)) for a in aliases})}
    if "hold_role" in body:  # kept only when given, like stages
        if body["hold_role"] not in GATE_ROLES:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.hold_role "
                               f"{body['hold_role']!r}: use {', '.join(GATE_ROLES)}")
        checked["hold_role"] = body["hold_role"]
    return checked if stages is None else {"stages": stages, **checked}


def _check_stages(stages: Any) -> list[str]:
    """The working stages: 1-10 unique stage names, in order, without archived."""
    if not isinstance(stages, list) or not 1 <= len(stages) <= MAX_STAGES:
        raise InvalidInput("invalid_lifecycle", f"lifecycle.stages is a list of 1 to "
                           f"{MAX_STAGES} stage names in order, e.g. "
                           f"{list(DEFAULT_STAGES)}")
    for stage in stages:
        try:
            check_stage(stage)
        except InvalidInput as exc:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.stages: {exc}") from None
        if stage in RESERVED:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.stages: {stage!r} is reserved "
                               f"({ARCHIVED} always ends the ladder; none means no stage)")
    if len(set(stages)) != len(stages):
        raise InvalidInput("invalid_lifecycle", "lifecycle.stages: each stage once")
    return list(stages)


def rules_of(project_item: Mapping[str, Any] | None) -> LifecycleRules:
    """The rules of a project from its config item body (None or no field: the defaults)."""
    lifecycle = (project_item or {}).get("lifecycle")
    if not lifecycle:
        return DEFAULT
    gates = {stage: Gate(**gate) for stage, gate in (lifecycle.get("gates") or {}).items()}
    return LifecycleRules(gates, tuple(lifecycle.get("protected_aliases") or ()),
                          tuple(lifecycle.get("stages") or DEFAULT_STAGES),
                          lifecycle.get("hold_role") or DEFAULT.hold_role)
