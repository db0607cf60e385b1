"""A retention plan as LifecycleRequested events, each with actor `archiver`: the api
(`cairn retention apply`) and the archiver (its schedule) emit the same events.

An event's id is derived from the version's state when it was planned (digest, action and the
seq of the version's last change), so two runs that plan the same step before the ledger
applied it (the schedule and `cairn retention apply`, or two archiver replicas) emit the same
event id and the ledger, which dedupes by event_id, applies it once.
"""

from __future__ import annotations

from cairn.core.domain.derived_ids import derived_uuid7
from cairn.core.domain.event_types import ArtifactEvent, LifecycleRequested
from cairn.core.domain.events import new_event
from cairn.core.domain.retention import Plan, Step

ACTOR = "archiver"


def request_id(step: Step) -> str:
    v = step.version
    return derived_uuid7(v.updated_at, v.updated_seq, v.digest, f"retention-{step.action}")


def lifecycle_events(project: str, plan: Plan, *, tool: str, note: str
                     ) -> list[ArtifactEvent[LifecycleRequested]]:
    """One event per step; `note` says who asked (a user through the api, or the schedule)."""
    return [
        new_event(step.version.artifact, "LifecycleRequested",
                  {"version": f"v{step.version.number}", "action": step.action,
                   "reason": f"retention policy of {project}: {step.why}; {note}"},
                  actor=ACTOR, tool=tool, run_id=f"retention-{project}",
                  event_id=request_id(step))
        for step in plan.steps
    ]
