"""A generated history of 500 versions for retention tests, and what a policy must do to it.

The history is deterministic for a seed and known to the test as plain data (`Version`), so
the expected plan is computed here from the documented rules (retention/README.md), without
the planner under test: several artifacts of each kind, stages including production, tags,
ages from publication times the test sets (the event's occurred_at), uses in the past, legal
holds, lineage links (models trained on datasets, evaluations of models), and versions
archived beforehand (so some lineage no longer protects its target).
Ages are whole days plus a half, so a plan made seconds later never crosses a threshold.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain import payloads
from cairn.core.domain.events import new_event, now_ms
from cairn.core.domain.usage import usage_event

from tests.ledger_helpers import fake_file

DAY_MS = 86_400_000
SHAPE = {"dataset": ("ds", 6, 12), "model": ("model", 12, 25), "eval_log": ("eval", 8, 16)}
TAGS = ["scratch", "baseline", "nightly", "keep"]
STAGES = ([None, "development", "staging", "production"], [30, 35, 20, 15])
RULES = [
    {"name": "stale-dev", "action": "archive", "kinds": ["model"],
     "stages": ["development", "none"], "min_age_days": 30, "keep_last": 3},
    {"name": "scratch", "action": "archive", "tags": ["scratch"], "unused_days": 20},
    {"name": "old-data", "action": "delete", "kinds": ["dataset"], "min_age_days": 200,
     "keep_last": 4},
    {"name": "old-archives", "action": "delete", "statuses": ["archived"], "min_age_days": 100},
    {"name": "quiet-evals", "action": "archive", "kinds": ["eval_log"], "stages": ["staging"],
     "min_age_days": 60, "unused_days": 30},
]


@dataclass
class Version:
    artifact: str
    number: int
    kind: str
    stage: str | None
    tags: list[str]
    age_days: float
    links: list[str] = field(default_factory=list)  # refs of the versions it points to
    legal_hold: bool = False
    status: str = "active"
    used_days_ago: float | None = None

    @property
    def ref(self) -> str:
        return f"{self.artifact}@v{self.number}"


def generate(project: str, seed: int = 5) -> list[Version]:
    rng = random.Random(seed)
    versions: list[Version] = []
    for kind, (prefix, artifacts, count) in SHAPE.items():
        for i in range(artifacts):
            ages = sorted((rng.randint(0, 400) + 0.5 for _ in range(count)), reverse=True)
            for n, age in enumerate(ages, 1):
                stage, tags = rng.choices(*STAGES)[0], rng.sample(TAGS, rng.randint(0, 2))
                versions.append(Version(f"{project}/{prefix}-{i}", n, kind, stage, tags, age))
    by_kind = {k: [v for v in versions if v.kind == k] for k in SHAPE}
    for v in versions:
        if v.kind == "model" and rng.random() < 0.6:
            v.links.append(rng.choice(by_kind["dataset"]).ref)
        if v.kind == "eval_log" and rng.random() < 0.7:
            v.links.append(rng.choice(by_kind["model"]).ref)
        v.legal_hold = rng.random() < 0.04
        if rng.random() < 0.3:
            v.used_days_ago = rng.randint(0, int(v.age_days)) + 0.5 if v.age_days > 1 else 0.5
    targets = {t for v in versions for t in v.links}
    for v in versions:  # archived beforehand: only what nothing protects and nothing points to
        if (rng.random() < 0.12 and v.stage != "production" and not v.legal_hold
                and v.ref not in targets):
            v.status = "archived"
    return versions


def events(versions: list[Version]
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(publications; then holds and archives; uses): the others once the first is recorded."""
    now = now_ms()
    published, changes, uses = [], [], []
    for v in versions:
        project, name = v.artifact.split("/")
        body = payloads.published(
            kind=v.kind, project=project, name=name, stage=v.stage,
            files=[fake_file("part-0.bin", uuid.uuid4().bytes)],
            metadata_={"creator": "gen", "tags": v.tags},
            links=[{"relation": "trained_on" if v.kind == "model" else "evaluates",
                    "target": t} for t in v.links])
        event = new_event(v.artifact, "Published", body, actor="gen", tool="test")
        event["occurred_at"] = int(now - v.age_days * DAY_MS)
        published.append(event)
        if v.used_days_ago is not None:
            use = dict(usage_event(v.artifact, body["digest"], "view", actor="gen", tool="test"))
            use["occurred_at"] = int(now - v.used_days_ago * DAY_MS)
            uses.append(use)
        if v.legal_hold:
            changes.append(new_event(v.artifact, "MetadataEdited", {
                "version": f"v{v.number}", "changes": json.dumps({"legal_hold": True}),
                "reverts": None}, actor="counsel", tool="test"))
        if v.status == "archived":
            changes.append(new_event(v.artifact, "LifecycleRequested", {
                "version": f"v{v.number}", "action": "archive", "reason": "old"},
                actor="curator", tool="test"))
    return published, changes, uses


def expected_plan(versions: list[Version], rules: list[dict[str, Any]]) -> dict[str, str]:
    """ref → action, by the rules as documented; protected versions left out."""
    strength = {"archive": 1, "delete": 2}
    chosen: dict[str, str] = {}
    for rule in rules:
        statuses = rule.get("statuses") or (["active"] if rule["action"] == "archive"
                                             else ["active", "archived"])
        matching = [v for v in versions if v.status in statuses
                    and (not rule.get("kinds") or v.kind in rule["kinds"])
                    and (not rule.get("stages") or (v.stage or "none") in rule["stages"])
                    and (not rule.get("tags") or set(v.tags) & set(rule["tags"]))]
        for v in matching:
            newer = sum(1 for o in matching if o.artifact == v.artifact and o.number > v.number)
            idle = v.used_days_ago if v.used_days_ago is not None else v.age_days
            if (newer >= rule.get("keep_last", 0)
                    and v.age_days >= rule.get("min_age_days", 0)
                    and idle >= rule.get("unused_days", 0)
                    and strength[rule["action"]] > strength.get(chosen.get(v.ref, ""), 0)):
                chosen[v.ref] = rule["action"]
    live_targets = {t for v in versions if v.status == "active" for t in v.links}
    protected = {v.ref for v in versions
                 if v.stage == "production" or v.legal_hold or v.ref in live_targets}
    return {ref: action for ref, action in chosen.items() if ref not in protected}
