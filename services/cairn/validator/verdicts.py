"""Which changelog records to judge, and the VerdictSet event a judgement becomes.

A judgement is ONE event carrying every check's outcome and the completeness score, so the
ledger records one entry per judged version (not one per check). Its event_id is derived from
the judged record (its seq and digest), so judging the same record again (a repeated seq, a
restart before the offset was committed) emits the same event id, and the ledger, which
dedupes by event_id, records it once. The id is still a valid UUIDv7: its time is the
record's recorded_at. The single-check Verdict events of earlier validators stay readable;
this one no longer emits them.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from cairn.core.domain.derived_ids import derived_uuid7
from cairn.core.domain.event_types import ArtifactEvent, CheckOutcome, RecordedEvent, VerdictSet
from cairn.core.domain.events import new_event, payload_of
from cairn.validator.checks import Outcome

ACTOR = TOOL = "validator"
KIND = "VerdictSet"  # also what the event id is derived from, beside the record
# A new version, and the changes that can change a verdict (a license added, a link made).
JUDGED = ("Published", "MetadataEdited", "LinkAdded")
MAX_REASONS, MAX_REASON_CHARS = 50, 500  # a chatty hook must not make an event too large


def wanted(record: RecordedEvent, projects: Iterable[str]) -> bool:
    kind, _ = payload_of(record["event"])
    project = record["state"]["content"]["project"]
    return (record["outcome"] == "applied" and kind in JUDGED
            and any(fnmatch.fnmatchcase(project, p) for p in projects))


def verdict_event(record: RecordedEvent, outcomes: Sequence[Outcome]
                  ) -> ArtifactEvent[VerdictSet]:
    """The judgement of the record's version: every outcome, and the completeness score (the
    first check that gives a score)."""
    state = record["state"]
    artifact = f"{state['content']['project']}/{state['content']['name']}"
    checks: list[CheckOutcome] = [
        {"check": o.check, "status": o.status, "reasons": _clipped(o.reasons)} for o in outcomes]
    score = next((o.score for o in outcomes if o.score is not None), None)
    return new_event(artifact, "VerdictSet",
                     {"version": state["digest"], "checks": checks, "completeness": score},
                     actor=ACTOR, tool=TOOL, run_id=f"seq-{record['seq']}",
                     event_id=derived_uuid7(record["recorded_at"], record["seq"],
                                            state["digest"], KIND))


def _clipped(reasons: tuple[str, ...]) -> list[str]:
    return [r[:MAX_REASON_CHARS] for r in reasons[:MAX_REASONS]]


class Seen:
    """The seqs judged lately, so a repeated changelog record is not judged twice."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._seqs: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, seq: object) -> bool:
        return seq in self._seqs

    def add(self, seq: int) -> None:
        self._seqs[seq] = None
        self._seqs.move_to_end(seq)
        while len(self._seqs) > self.size:
            self._seqs.popitem(last=False)
