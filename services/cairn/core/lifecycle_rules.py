"""A project's lifecycle rules: what entering each stage needs, and which aliases are protected.

Kept in the project's config item (field `lifecycle`) so a project changes them through the
ledger like any other setting. The api checks the role a move needs (it is the one place
that knows who is calling); the ledger checks the facts a stage needs (a valid verdict, a
linked evaluation) in the transaction that moves it, so no producer can skip them.

    "lifecycle": {
      "gates": {"production": {"role": "maintainer", "valid": true, "evaluation": true},
                "staging": {"role": "contributor", "valid": true}},
      "protected_aliases": ["prod", "champion"]
    }

Without the field: production needs a maintainer, a valid verdict and an evaluation;
other stages need a contributor; `prod`, `production` and `champion` are protected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.identity import STAGES, InvalidInput, check_alias

GATE_ROLES = ("contributor", "maintainer", "admin")


@dataclass(frozen=True)
class Gate:
    role: str = "contributor"  # the least project role that may move a version here
    valid: bool = False  # the version's validation must be `valid`
    evaluation: bool = False  # an eval_log must be linked to it with `evaluates`


@dataclass(frozen=True)
class LifecycleRules:
    gates: Mapping[str, Gate] = field(default_factory=lambda: {
        "production": Gate("maintainer", valid=True, evaluation=True)})
    protected_aliases: tuple[str, ...] = ("prod", "production", "champion")

    def gate(self, stage: str) -> Gate:
        return self.gates.get(stage, Gate())

    def alias_role(self, alias: str) -> str:
        return "maintainer" if alias in self.protected_aliases else "contributor"

    def stage_role(self, stage: str) -> str:
        return self.gate(stage).role


DEFAULT = LifecycleRules()


def check_lifecycle(body: Any) -> dict[str, Any]:
    """The normalised `lifecycle` field of a project item, or InvalidInput saying what to fix."""
    if not isinstance(body, Mapping) or set(body) - {"gates", "protected_aliases"}:
        raise InvalidInput("invalid_lifecycle", "lifecycle is an object with gates and "
                           "protected_aliases")
    gates = body.get("gates") or {}
    if not isinstance(gates, Mapping):
        raise InvalidInput("invalid_lifecycle", "lifecycle.gates maps a stage to its gate")
    out: dict[str, dict[str, Any]] = {}
    for stage, gate in gates.items():
        if stage not in STAGES:
            raise InvalidInput("invalid_lifecycle", f"lifecycle.gates: unknown stage {stage!r} "
                               f"(stages: {', '.join(STAGES)})")
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
    return {"gates": out, "protected_aliases": sorted({check_alias(str(a)) for a in aliases})}


def rules_of(project_item: Mapping[str, Any] | None) -> LifecycleRules:
    """The rules of a project from its config item body (None or no field: the defaults)."""
    lifecycle = (project_item or {}).get("lifecycle")
    if not lifecycle:
        return DEFAULT
    gates = {stage: Gate(**gate) for stage, gate in (lifecycle.get("gates") or {}).items()}
    return LifecycleRules(gates, tuple(lifecycle.get("protected_aliases") or ()))
