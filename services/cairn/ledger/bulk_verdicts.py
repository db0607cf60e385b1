"""Record a run of VerdictSet events with a few statements, whatever its length.

The validator emits one VerdictSet per judged version, so about half of a real pipeline's
ledger events are VerdictSets; one by one (`verdicts.record_verdict_set` and
`recorder._append`) each costs about seven round trips. Here a run (consecutive VerdictSets
of a batch) gives the results of recording them one by one:

- each set is checked (`verdicts.check_verdict_set`) and its artifact and version resolved
  in one read, which locks the artifacts as the per-event path does; a refused set (bad
  set, unknown artifact or version, ambiguous digest prefix) is dead-lettered and noted in
  rejected_events alone and takes no seq, the rest is recorded;
- a VerdictSet changes only its own version (verdicts, validation, completeness,
  updated_seq) and moves no alias or link, so its record's state is its version's state
  right after it, no alias losers and no link targets (as `recorder._append` gives). The run
  is cut into segments in which no version comes twice; each segment costs three
  statements (upsert every check, recompute the versions, read their states), so a record
  shows the state after its own set, not after a later one for the same version;
- the hash chain is computed here in seq order and every event_log row goes in one insert.

Anything not foreseen (a value PostgreSQL refuses) raises; the caller then records the run
per event, in savepoints (batch._set_based).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import asyncpg

from cairn.core.adapters.batches import RawRecord
from cairn.core.domain.event_types import ArtifactEvent, RecordedEvent, VerdictSet
from cairn.core.domain.events import now_ms, payload_of
from cairn.core.domain.identity import InvalidInput
from cairn.ledger.bulk_publish import (
    LOG_INSERT,
    SELECTOR_IDS,
    Outcome,
    Recorded,
    _columns,
    _how,
)
from cairn.ledger.entries import log_entry
from cairn.ledger.recorder import STATES_SQL
from cairn.ledger.refusals import REFUSED, Refused, note_rejected
from cairn.ledger.verdicts import VALIDATION_OF, check_verdict_set
from cairn.readmodel.versions import INCOMING_KEPT, state_of

Conn: TypeAlias = asyncpg.Connection

# Each (artifact, selector) → the ids resolve_version would find (an artifact not there:
# no row). Locks the artifacts, as record_verdict_set does one at a time. A digest prefix is
# lowercase hex, so it is also a range of versions_digest (the validator names a version by
# its whole digest): an index probe, not a walk over the artifact's versions.
RESOLVE_SQL = f"""
SELECT t.ord, {SELECTOR_IDS} AS ids
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) WITH ORDINALITY
  AS t(project, name, how, sel, num, ord)
JOIN artifacts a ON a.project = t.project AND a.name = t.name
ORDER BY a.id
FOR UPDATE OF a
"""
# One version at most once per statement (a segment), so no row is affected twice.
UPSERT_CHECKS = """
INSERT INTO verdicts (version_id, check_name, status, reasons, seq)
SELECT v, c, s, r::jsonb, q
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS u(v, c, s, r, q)
ON CONFLICT (version_id, check_name)
DO UPDATE SET status = EXCLUDED.status, reasons = EXCLUDED.reasons, seq = EXCLUDED.seq
"""
UPDATE_VERSIONS = f"""
UPDATE versions x SET validation = {VALIDATION_OF.format(version="x.id")},
  completeness = coalesce(u.c, x.completeness), updated_seq = u.q
FROM unnest($1::bigint[], $2::float8[], $3::bigint[]) AS u(id, c, q)
WHERE x.id = u.id
"""


@dataclass
class _Item:
    raw: RawRecord
    event: ArtifactEvent
    body: VerdictSet
    version_id: int = 0
    seq: int = 0
    refusal: Refused | None = None
    repeat_of: RecordedEvent | int | None = None  # a stored record, or an earlier place


def _selector(body: VerdictSet) -> tuple[str, str, int]:
    """(how, selector, number) as resolve_version reads the set's version selector."""
    sel = body["version"].removeprefix("sha256:")
    how = _how(sel)
    return how, sel, int(sel[1:]) if how == "number" else 0


async def _resolve(conn: Conn, items: list[_Item]) -> None:
    """Each live item's version id, or its refusal, from one read."""
    live = [it for it in items if it.refusal is None and it.repeat_of is None]
    asks: list[tuple[str, str, str, str, int]] = []
    bad: dict[int, BaseException] = {}  # a selector int() refuses: after the artifact check
    for n, it in enumerate(live):
        project, _, name = it.event["artifact"].partition("/")
        try:
            asks.append((project, name, *_selector(it.body)))
        except REFUSED as exc:
            bad[n] = exc
            asks.append((project, name, "alias", "", 0))
    found = {row["ord"] - 1: list(row["ids"]) for row in
             await conn.fetch(RESOLVE_SQL, *_columns(asks, 5))} if asks else {}
    for n, it in enumerate(live):
        try:
            if n not in found:
                raise InvalidInput("unknown_artifact", f"no artifact {it.event['artifact']}")
            if n in bad:
                raise bad[n]
            _, sel, _ = _selector(it.body)
            if len(found[n]) > 1:
                raise InvalidInput("ambiguous_digest",
                                   f"digest prefix {sel} matches several versions")
            if not found[n]:
                raise InvalidInput("unknown_version", f"no version {sel!r} of this artifact")
            it.version_id = found[n][0]
        except REFUSED as exc:
            it.refusal = Refused.of(exc)


def _segments(items: list[_Item]) -> list[list[_Item]]:
    """The recorded items in order, cut before a version seen earlier in the segment."""
    out: list[list[_Item]] = [[]]
    versions: set[int] = set()
    for it in items:
        if it.refusal is not None or it.repeat_of is not None:
            continue
        if it.version_id in versions:
            out.append([])
            versions = set()
        out[-1].append(it)
        versions.add(it.version_id)
    return [s for s in out if s]


async def _write(conn: Conn, segment: list[_Item]) -> dict[int, dict[str, Any]]:
    """Apply one segment's sets; the states of its versions right after."""
    checks = [(it.version_id, c["check"], c["status"], json.dumps(c.get("reasons") or []),
               it.seq) for it in segment for c in it.body["checks"]]
    await conn.execute(UPSERT_CHECKS, *_columns(checks, 5))
    await conn.execute(UPDATE_VERSIONS, *_columns(
        [(it.version_id, it.body.get("completeness"), it.seq) for it in segment], 3))
    rows = await conn.fetch(STATES_SQL, [it.version_id for it in segment], INCOMING_KEPT)
    return {row["id"]: state_of(row) for row in rows}


async def record_run(conn: Conn, run: Sequence[tuple[RawRecord, ArtifactEvent]],
                     head: tuple[int, str], seen: dict[str, RecordedEvent]
                     ) -> tuple[list[Outcome], tuple[int, str]]:
    """bulk_publish.record_run's contract, for consecutive VerdictSet events."""
    items = [_Item(raw, event, cast(VerdictSet, payload_of(event)[1])) for raw, event in run]
    placed: dict[str, int] = {}  # event_id → its first place in the run
    for i, it in enumerate(items):
        event_id = str(it.event["event_id"])
        if (earlier := seen.get(event_id, placed.get(event_id))) is not None:
            it.repeat_of = earlier  # recorded before, or earlier in this run
            continue
        try:
            check_verdict_set(it.body)
        except REFUSED as exc:
            it.refusal = Refused.of(exc)
        placed[event_id] = i
    await _resolve(conn, items)
    for it in items:  # a second copy of a refused event: refused again, as one by one
        if isinstance(it.repeat_of, int) and (first := items[it.repeat_of].refusal):
            it.refusal, it.repeat_of = first, None
    seq, prev = head
    records: dict[int, RecordedEvent] = {}
    rows: list[tuple[Any, ...]] = []
    for segment in _segments(items):
        for it in segment:
            seq += 1
            it.seq = seq
        states = await _write(conn, segment)
        for it in segment:
            state, recorded_at = states[it.version_id], now_ms()
            prev, values = log_entry(prev, {
                "seq": it.seq, "event_id": str(it.event["event_id"]),
                "artifact": it.event["artifact"], "event_type": "VerdictSet",
                "outcome": "applied", "actor": it.event["actor"],
                "occurred_at_ms": it.event["occurred_at"], "recorded_at_ms": recorded_at,
                "event": it.event, "state": state, "version_id": it.version_id})
            rows.append(values)
            records[id(it)] = cast(RecordedEvent, {
                "seq": it.seq, "recorded_at": recorded_at, "hash": prev, "outcome": "applied",
                "event": it.event, "state": state, "alias_losers": [], "link_targets": []})
    if rows:
        await conn.execute(LOG_INSERT, *_columns(rows, 16))
    await note_rejected(conn, [(str(it.event["event_id"]), it.event.get("artifact"),
                                it.refusal.reason, it.refusal.message)
                               for it in items if it.refusal is not None])
    outcomes: list[Outcome] = []
    for it in items:
        if it.refusal is not None:
            outcomes.append(it.refusal)
        elif isinstance(it.repeat_of, int):
            outcomes.append(Recorded(records[id(items[it.repeat_of])], True))
        elif it.repeat_of is not None:
            outcomes.append(Recorded(it.repeat_of, True))
        else:
            outcomes.append(Recorded(records[id(it)], False))
    return outcomes, (seq, prev)
