"""Retention policies: what a project's policy says, and what it would do (pure).

A policy is a list of rules. A rule selects versions (kind, stage, tags, status, age, "keep
the newest N per artifact", "not used for N days") and names an action, archive or delete.
`plan()` turns a policy and the facts about a project's versions into the actions to take,
each with its reason, plus the versions a rule selected but that are protected. The api
(plan, apply), the archiver (scheduled runs) and the tests all call it, and the ledger runs
the same `protections()` on every archive or delete request, so a version that became
protected between plan and apply is still refused. Rules are documented in retention/README.md.

A version in its project's production-like stage (the last working stage of the project's
ladder, cairn.core.domain.lifecycle_rules; `production` by default) is never touched. A rule
may name
any stage: a policy is checked without its project's ladder, and a rule that names the
production-like stage only lists protected versions.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain.identity import InvalidInput, check_name, check_stage
from cairn.core.domain.lifecycle_rules import DEFAULT

ACTIONS = ("archive", "delete")
SEVERITY = {"archive": 1, "delete": 2}  # a version two rules select gets the stronger action
STATUSES = {"archive": ("active",), "delete": ("active", "archived")}  # what each may act on
NO_STAGE = "none"  # in `stages`: versions without a stage (never a stage's name)
RULE_FIELDS = ("name", "action", "kinds", "stages", "tags", "statuses", "min_age_days",
               "keep_last", "unused_days")
LIMITS = ("min_age_days", "keep_last", "unused_days")
MAX_RULES, MAX_VALUES = 50, 100
DAY_MS = 86_400_000


def _fail(message: str) -> InvalidInput:
    return InvalidInput("invalid_retention_policy", message)


def check_policy(body: Any) -> dict[str, Any]:
    """The normalised policy (every field present), or InvalidInput naming what to fix."""
    if not isinstance(body, Mapping):
        raise _fail("a retention policy is an object with a list of rules")
    unknown = set(body) - {"description", "scheduled", "rules"}
    if unknown:
        raise _fail(f"unknown policy fields: {', '.join(sorted(unknown))} "
                    "(use description, scheduled, rules)")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise _fail("description: text of at most 500 characters")
    scheduled = body.get("scheduled", True)
    if not isinstance(scheduled, bool):
        raise _fail("scheduled: true (the archiver applies it on its interval) or false "
                    "(only `cairn retention apply` does)")
    rules = body.get("rules")
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        raise _fail(f"rules: a list of 1 to {MAX_RULES} rules")
    checked = [_check_rule(i, rule) for i, rule in enumerate(rules)]
    names = [r["name"] for r in checked]
    if len(set(names)) != len(names):
        raise _fail("rule names must be unique within a policy")
    return {"description": description, "scheduled": scheduled, "rules": checked}


def _check_rule(i: int, rule: Any) -> dict[str, Any]:
    if not isinstance(rule, Mapping):
        raise _fail(f"rules[{i}]: a rule is an object")
    unknown = set(rule) - set(RULE_FIELDS)
    if unknown:
        raise _fail(f"rules[{i}]: unknown fields {', '.join(sorted(unknown))}; "
                    f"a rule has {', '.join(RULE_FIELDS)}")
    name = rule.get("name", f"rule-{i + 1}")
    if not isinstance(name, str) or not 0 < len(name) <= 64 or not name.isprintable():
        raise _fail(f"rules[{i}].name: 1-64 printable characters")
    where = f"rule {name!r}"
    action = rule.get("action")
    if action not in ACTIONS:
        raise _fail(f"{where}: action must be archive or delete")
    out: dict[str, Any] = {"name": name, "action": action,
                           "kinds": _names(rule, "kinds", where),
                           "stages": _stages(rule, where),
                           "tags": _strings(rule, "tags", where),
                           "statuses": _strings(rule, "statuses", where, STATUSES[action])
                           or list(STATUSES[action])}
    for limit in LIMITS:
        value = rule.get(limit)
        least = 1 if limit == "keep_last" else 0
        if value is not None and (type(value) is not int or value < least):
            raise _fail(f"{where}: {limit} must be a whole number of at least {least}")
        out[limit] = value
    if all(out[limit] is None for limit in LIMITS):
        raise _fail(f"{where}: give at least one of {', '.join(LIMITS)}, so a rule never "
                    "selects every version at once")
    return out


def _strings(rule: Mapping[str, Any], key: str, where: str,
             allowed: Sequence[str] | None = None) -> list[str]:
    values = rule.get(key) or []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or len(values) > MAX_VALUES or not all(
            isinstance(v, str) and 0 < len(v) <= 128 for v in values):
        raise _fail(f"{where}: {key} must be a list of at most {MAX_VALUES} short strings")
    if allowed is not None and set(values) - set(allowed):
        bad = ", ".join(sorted(set(values) - set(allowed)))
        raise _fail(f"{where}: {key} {bad} not allowed here; use {', '.join(allowed)}")
    return sorted(set(values))


def _names(rule: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _strings(rule, key, where)
    for value in values:
        check_name(value, "kind")
    return values


def _stages(rule: Mapping[str, Any], where: str) -> list[str]:
    values = _strings(rule, "stages", where)
    for value in values:
        if value != NO_STAGE:
            check_stage(value)
    return values


def parse_toml(text: str) -> dict[str, Any]:
    """A policy file (retention/<project>.toml) → the checked policy."""
    try:
        return check_policy(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput("invalid_toml", f"the policy file is not TOML: {exc}") from None


# -- what is never touched ------------------------------------------------------------------


@dataclass(frozen=True)
class VersionFacts:
    """One version as the planner and the ledger's protections see it (times in epoch ms)."""

    id: int
    artifact: str
    number: int
    digest: str
    kind: str
    stage: str | None
    status: str
    created_at: int
    tags: tuple[str, ...] = ()
    last_used_at: int | None = None
    legal_hold: bool = False
    referenced_by: tuple[str, ...] = ()  # refs of active versions whose lineage points here
    updated_seq: int = 0
    updated_at: int = 0  # when updated_seq was recorded

    @property
    def ref(self) -> str:
        return f"{self.artifact}@v{self.number}"


def protections(v: VersionFacts, protected_stage: str = DEFAULT.protected_stage) -> list[str]:
    """Why `v` must be neither archived nor deleted, in words; empty when it may be.
    `protected_stage`: its project's production-like stage (LifecycleRules.protected_stage)."""
    why = []
    if v.stage == protected_stage:
        why.append(f"it is in {v.stage}, its project's production-like stage (move it to "
                   "another stage first)")
    if v.legal_hold:
        why.append("it is under legal hold (edit legal_hold to false to release it)")
    if v.referenced_by:
        why.append(f"the lineage of {', '.join(v.referenced_by)} points to it "
                   "(archive or delete those first)")
    return why


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One version a rule selected: `action` with `why`, or `protected` reasons not to."""

    version: VersionFacts
    action: str
    rule: str
    why: str
    protected: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        v = self.version
        out = {"ref": v.ref, "artifact": v.artifact, "version_number": v.number,
               "digest": v.digest, "status": v.status, "action": self.action,
               "rule": self.rule, "why": self.why}
        return {**out, "protected": list(self.protected)} if self.protected else out


@dataclass(frozen=True)
class Plan:
    steps: list[Step] = field(default_factory=list)
    protected: list[Step] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"actions": [s.as_json() for s in self.steps],
                "protected": [s.as_json() for s in self.protected]}


def plan(policy: Mapping[str, Any], versions: Iterable[VersionFacts], now_ms: int,
         protected_stage: str = DEFAULT.protected_stage) -> Plan:
    """What `policy` does to `versions` at `now_ms`: per version, the strongest action any
    rule selects it for; protected versions are listed apart, never acted on."""
    facts = [v for v in versions if v.status != "deleted"]
    chosen: dict[int, Step] = {}
    for rule in policy["rules"]:
        for v, why in _select(rule, facts, now_ms):
            held = chosen.get(v.id)
            if held is None or SEVERITY[rule["action"]] > SEVERITY[held.action]:
                chosen[v.id] = Step(v, rule["action"], rule["name"], why)
    result = Plan()
    for step in sorted(chosen.values(), key=lambda s: (s.version.artifact, s.version.number)):
        guards = tuple(protections(step.version, protected_stage))
        if guards:
            result.protected.append(Step(step.version, step.action, step.rule, step.why, guards))
        else:
            result.steps.append(step)
    return result


def _matches(rule: Mapping[str, Any], v: VersionFacts) -> bool:
    return ((not rule["kinds"] or v.kind in rule["kinds"])
            and (not rule["stages"] or (v.stage or NO_STAGE) in rule["stages"])
            and (not rule["tags"] or bool(set(rule["tags"]) & set(v.tags)))
            and v.status in rule["statuses"])


def _select(rule: Mapping[str, Any], facts: Sequence[VersionFacts], now_ms: int
            ) -> Iterable[tuple[VersionFacts, str]]:
    """The versions `rule` selects, each with the reason in words. The newest `keep_last`
    are counted among the versions the rule's kinds, stages, tags and statuses match."""
    matched = [v for v in facts if _matches(rule, v)]
    newest: dict[str, list[int]] = {}
    for v in sorted(matched, key=lambda v: -v.number):
        newest.setdefault(v.artifact, []).append(v.number)
    keep, min_age, unused = rule["keep_last"], rule["min_age_days"], rule["unused_days"]
    for v in matched:
        why = [f"rule {rule['name']!r}"]
        if keep is not None:
            if v.number in newest[v.artifact][:keep]:
                continue
            why.append(f"not among the newest {keep} of {v.artifact}")
        age = now_ms - v.created_at
        if min_age is not None:
            if age < min_age * DAY_MS:
                continue
            why.append(f"{age // DAY_MS} days old (min_age_days {min_age})")
        if unused is not None:
            idle = now_ms - (v.last_used_at if v.last_used_at is not None else v.created_at)
            if idle < unused * DAY_MS:
                continue
            used = "never used" if v.last_used_at is None else f"unused for {idle // DAY_MS} days"
            why.append(f"{used} (unused_days {unused})")
        yield v, "; ".join(why)
