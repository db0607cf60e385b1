"""One batch of input records → one PostgreSQL transaction → changelog and dead letters.

Order of effects, which is what makes kill -9 at any point safe:
1. decode; undecodable records become dead letters;
2. one transaction: an event seen before (by event_id) yields its stored changelog record
   again; the rest are recorded in one savepoint for the batch; if any is refused, that
   savepoint is rolled back and the batch is redone with a savepoint per event, where a
   refused event rolls back its own, is noted in `rejected_events` and becomes a dead
   letter;
3. commit; 4. produce the changelog records and dead letters and wait for their acks;
5. only then does the caller acknowledge the input offsets.
A crash before 3 leaves nothing; between 3 and 5 the batch is redelivered, every event is
found by event_id and its changelog record is produced again (consumers dedupe by seq).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, UndecodableRecord
from cairn.core.domain.event_types import ArtifactEvent, RecordedEvent
from cairn.core.domain.identity import InvalidInput
from cairn.ledger import recorder
from cairn.ledger.origins import E, Screen

# Errors that mean "this event can never be recorded": refuse it, dead-letter it, go on.
# Connection-level errors are not here: the caller retries the whole batch for those.
REFUSED = (InvalidInput, KeyError, TypeError, ValueError)
UNPROCESSABLE = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


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


@dataclass
class BatchResult:
    recorded: list[RecordedEvent] = field(default_factory=list)  # changelog records, in order
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)  # (record, reason, msg)
    repeats: int = 0


async def record_batch(
    pool: asyncpg.Pool,
    records: Sequence[RawRecord],
    codec: AvroCodec[ArtifactEvent],
    kinds: tuple[str, ...],
    screen: Screen[ArtifactEvent] | None = None,
) -> BatchResult:
    result = BatchResult()
    decoded = await decode_screened(pool, records, codec, result.dead, screen)
    if not decoded:
        return result
    async with pool.acquire() as conn, conn.transaction():
        head = await recorder.lock_head(conn)
        try:
            async with conn.transaction():  # fast path: one savepoint for the whole batch
                fast = BatchResult(dead=list(result.dead))
                await _apply(conn, decoded, head, kinds, fast, per_event=False)
            return fast
        except (*REFUSED, *UNPROCESSABLE):
            pass  # something is refused: redo the batch, each event in its own savepoint
        await _apply(conn, decoded, head, kinds, result, per_event=True)
    return result


async def _apply(conn: asyncpg.Connection, decoded: Sequence[tuple[RawRecord, ArtifactEvent]],
                 head: tuple[int, str], kinds: tuple[str, ...], result: BatchResult, *,
                 per_event: bool) -> None:
    """Record the batch's events in order after `head` and save the new head.

    Without `per_event`, a refused event raises and the caller rolls the batch back: two
    round trips per event fewer (SAVEPOINT, RELEASE), which a batch without refusals, the
    common case, never needs."""
    seen = await recorder.recorded_among(conn, [e["event_id"] for _, e in decoded])
    for raw, event in decoded:
        if event["event_id"] in seen:  # redelivered: publish what was recorded, again
            result.recorded.append(seen[event["event_id"]])
            result.repeats += 1
            continue
        if per_event:
            recorded = await _one(conn, raw, event, head, kinds, result)
        else:
            recorded = await recorder.record(conn, event, head, kinds=kinds)
            result.recorded.append(recorded)
        if recorded is not None:
            seen[event["event_id"]] = recorded
            head = (recorded["seq"], recorded["hash"])
    await recorder.save_head(conn, head)


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
        reason = (
            exc.reason
            if isinstance(exc, InvalidInput)
            else ("malformed" if isinstance(exc, REFUSED) else "unprocessable")
        )
        await conn.execute(
            "INSERT INTO rejected_events (event_id, artifact, reason, message)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
            event["event_id"],
            event.get("artifact"),
            reason,
            str(exc),
        )
        result.dead.append((raw, reason, str(exc)))
        return None
    result.recorded.append(recorded)
    return recorded
