"""One batch of input records → one PostgreSQL transaction → changelog and dead letters.

Order of effects, which is what makes kill -9 at any point safe:
1. decode; undecodable records become dead letters;
2. the batch's partitions interleaved into few long runs of one payload type (runs.py);
   one transaction: an event seen before (by event_id) yields its stored changelog record
   again; the rest are recorded run by run, in order: a run of Published events set-based
   (`bulk_publish`: a fixed number of statements whatever its length, each refused event
   noted in `rejected_events` and dead-lettered while the rest is recorded), a run of
   VerdictSets so too (`bulk_verdicts`: three statements per stretch with no version twice,
   one for the log), a run of other
   events one by one in one savepoint; if one of those is refused, that savepoint is rolled
   back and the run is redone with a savepoint per event, where a refused event rolls back
   its own, is noted in `rejected_events` and becomes a dead letter (a set-based run that
   meets an error its checks did not foresee is redone so too);
3. commit, which delivers the transaction's NOTIFY (cairn.readmodel.commits: the api's
   waiters read again at once); 4. produce the changelog records and dead letters and wait
   for their acks;
5. only then does the caller acknowledge the input offsets.
A crash before 3 leaves nothing; between 3 and 5 the batch is redelivered, every event is
found by event_id and its changelog record is produced again (consumers dedupe by seq).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, UndecodableRecord
from cairn.core.domain.event_types import ArtifactEvent, RecordedEvent
from cairn.core.domain.events import payload_of
from cairn.ledger import bulk_publish, bulk_verdicts, recorder
from cairn.ledger.origins import E, Screen
from cairn.ledger.refusals import REFUSED as REFUSED  # config_changes imports it from here
from cairn.ledger.refusals import UNPROCESSABLE, Refused, note_rejected
from cairn.ledger.runs import in_runs
from cairn.readmodel.commits import CHANNEL

log = logging.getLogger(__name__)
Decoded = Sequence[tuple[RawRecord, ArtifactEvent]]
RunRecorder = Callable[[asyncpg.Connection, Decoded, tuple[int, str], tuple[str, ...],
                        dict[str, RecordedEvent]],
                       Awaitable[tuple[list[bulk_publish.Outcome], tuple[int, str]]]]


async def decode_screened(pool: asyncpg.Pool, records: Sequence[RawRecord], codec: AvroCodec[E],
                          dead: list[tuple[RawRecord, str, str]], screen: Screen[E] | None
                          ) -> list[tuple[RawRecord, E]]:
    """Decoded records whose producer passed the screen; the rest go to `dead` with why."""
    decoded: list[tuple[RawRecord, E]] = []
    for raw in records:
        try:
            decoded.append((raw, codec.decode(raw.value)))
        except UndecodableRecord as exc:
            dead.append((raw, "undecodable", str(exc)))
    if screen is not None and decoded:  # who produced each: unsigned and forged go no further
        decoded = await screen.keep(pool, decoded, dead)
    return decoded


NOTIFY_SQL = "SELECT pg_notify($1, '')"


@dataclass
class BatchResult:
    recorded: list[RecordedEvent] = field(default_factory=list)  # changelog records, in order
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)  # (record, reason, msg)
    repeats: int = 0

    def add(self, other: BatchResult) -> None:
        self.recorded += other.recorded
        self.dead += other.dead
        self.repeats += other.repeats


async def record_batch(
    pool: asyncpg.Pool,
    records: Sequence[RawRecord],
    codec: AvroCodec[ArtifactEvent],
    kinds: tuple[str, ...],
    screen: Screen[ArtifactEvent] | None = None,
    *,
    set_based: bool = True,
) -> BatchResult:
    """`set_based=False` records every event one by one (the path before issue 11; tests
    compare the two)."""
    result = BatchResult()
    decoded = await decode_screened(pool, records, codec, result.dead, screen)
    if not decoded:
        return result
    decoded = in_runs(decoded, lambda event: _run_key(event, True))  # the same both ways
    async with pool.acquire() as conn, conn.transaction():
        head = await recorder.lock_head(conn)
        seen = await recorder.recorded_among(conn, [e["event_id"] for _, e in decoded])
        for kind, group in itertools.groupby(decoded, key=lambda d: _run_key(d[1], set_based)):
            run = list(group)
            if (bulk := SET_BASED.get(kind)) is None:
                head = await _one_by_one(conn, run, head, kinds, result, seen)
            else:
                head = await _set_based(conn, run, head, kinds, result, seen, bulk)
        await recorder.save_head(conn, head)
        await conn.execute(NOTIFY_SQL, CHANNEL)  # delivered at commit, not before
    return result


async def _verdict_run(conn: asyncpg.Connection, run: Decoded, head: tuple[int, str],
                       kinds: tuple[str, ...], seen: dict[str, RecordedEvent]
                       ) -> tuple[list[bulk_publish.Outcome], tuple[int, str]]:
    return await bulk_verdicts.record_run(conn, run, head, seen)


# The payload types whose runs are recorded set-based (the rest one by one).
SET_BASED: dict[str, RunRecorder] = {"Published": bulk_publish.record_run,
                                     "VerdictSet": _verdict_run}


def _run_key(event: ArtifactEvent, set_based: bool) -> str:
    """Its payload type if a run of those is recorded set-based, else "" (one by one)."""
    kind = payload_of(event)[0]
    return kind if set_based and kind in SET_BASED else ""


async def _set_based(conn: asyncpg.Connection, run: Decoded, head: tuple[int, str],
                     kinds: tuple[str, ...], result: BatchResult,
                     seen: dict[str, RecordedEvent], record_run: RunRecorder
                     ) -> tuple[int, str]:
    """A run of one payload type in a few statements; per event if it fails."""
    try:
        async with conn.transaction():
            outcomes, after = await record_run(conn, run, head, kinds, seen)
    except (*REFUSED, *UNPROCESSABLE) as exc:
        log.warning("set-based run of %d %s redone one by one: %r", len(run),
                    payload_of(run[0][1])[0], exc)
        return await _each(conn, run, head, kinds, result, seen, savepoints=True)
    for (raw, event), outcome in zip(run, outcomes, strict=True):
        if isinstance(outcome, Refused):
            result.dead.append((raw, outcome.reason, outcome.message))
            continue
        result.recorded.append(outcome.record)
        result.repeats += outcome.repeat
        seen[str(event["event_id"])] = outcome.record
    return after


async def _one_by_one(conn: asyncpg.Connection, run: Decoded, head: tuple[int, str],
                      kinds: tuple[str, ...], result: BatchResult,
                      seen: dict[str, RecordedEvent]) -> tuple[int, str]:
    """The run in one savepoint; if an event is refused, again with a savepoint per event.

    The single savepoint saves two round trips per event (SAVEPOINT, RELEASE), which a run
    without refusals, the common case, never needs."""
    try:
        async with conn.transaction():
            fast, known = BatchResult(), dict(seen)
            after = await _each(conn, run, head, kinds, fast, known, savepoints=False)
    except (*REFUSED, *UNPROCESSABLE):
        return await _each(conn, run, head, kinds, result, seen, savepoints=True)
    result.add(fast)
    seen.update(known)
    return after


async def _each(conn: asyncpg.Connection, run: Decoded, head: tuple[int, str],
                kinds: tuple[str, ...], result: BatchResult, seen: dict[str, RecordedEvent], *,
                savepoints: bool) -> tuple[int, str]:
    """Record the run's events in order after `head`; the new head. Without `savepoints` a
    refused event raises (the caller rolls the run back)."""
    for raw, event in run:
        event_id = str(event["event_id"])
        if event_id in seen:  # redelivered: publish what was recorded, again
            result.recorded.append(seen[event_id])
            result.repeats += 1
            continue
        if savepoints:
            recorded = await _one(conn, raw, event, head, kinds, result)
        else:
            recorded = await recorder.record(conn, event, head, kinds=kinds)
            result.recorded.append(recorded)
        if recorded is not None:
            seen[event_id] = recorded
            head = (recorded["seq"], recorded["hash"])
    return head


async def _one(
    conn: asyncpg.Connection,
    raw: RawRecord,
    event: ArtifactEvent,
    head: tuple[int, str],
    kinds: tuple[str, ...],
    result: BatchResult,
) -> RecordedEvent | None:
    try:
        async with conn.transaction():  # savepoint: a refused event leaves no trace here
            recorded = await recorder.record(conn, event, head, kinds=kinds)
    except (*REFUSED, *UNPROCESSABLE) as exc:
        refused = Refused.of(exc)
        await note_rejected(conn, [(str(event["event_id"]), event.get("artifact"),
                                    refused.reason, refused.message)])
        result.dead.append((raw, refused.reason, refused.message))
        return None
    result.recorded.append(recorded)
    return recorded
