"""The ledger's usage agent: every usage event counted exactly once into usage_counts.

Only events a Cairn service signed count (the api emits them for the callers it
authenticated); others are dead-lettered, so no Kafka client can inflate "most used".

Usage is not a change of an artifact, so it bypasses the hash chain and the changelog. One
batch is one transaction: the events are inserted into `usage_events` (its primary key is the
event_id, so a redelivered event inserts nothing) and only the rows that went in are added
to `usage_counts`.

Then the new totals go out on cairn.usage.totals (UsageTotals: views, downloads and the
version's state, read in one snapshot with the chain head seq it is as of), one record per
version the batch names, counted now or before: the indexer's only source of usage. Commit,
then produce, then acknowledge: a crash before the produce redelivers the batch, which
counts nothing again but produces the totals again, so no total is lost.
`count_and_report` is the handler of a batch, a plain function of its ports (`UsagePorts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import asyncpg
from prometheus_client import Counter

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import UndecodableRecord
from cairn.core.domain.event_types import UsageEvent, UsageTotals, VersionState
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.usage import check_usage
from cairn.ledger.handler import Outgoing
from cairn.ledger.ports import Dead, DeadLetter, Internal
from cairn.readmodel.index_rows import usage_totals

COUNTED = Counter("cairn_ledger_usage_counted_total", "Usage events counted", ["action"])
USAGE_REPEATS = Counter("cairn_ledger_usage_redelivered_total", "Usage events seen again")
USAGE_DEAD = Counter("cairn_ledger_usage_dead_letters_total", "Usage events refused", ["reason"])

RESOLVE_SQL = """
SELECT t.artifact, t.digest, v.id
FROM unnest($1::text[], $2::text[]) AS t(artifact, digest)
JOIN artifacts a ON a.project = split_part(t.artifact, '/', 1)
                AND a.name = split_part(t.artifact, '/', 2)
JOIN versions v ON v.artifact_id = a.id AND v.digest = t.digest
"""

# usage_events first: only the events it really inserted (not seen before) reach the counts.
COUNT_SQL = """
WITH fresh AS (
  INSERT INTO usage_events (event_id, version_id, action, retrieve_ms, actor, at)
  SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],
                       $6::timestamptz[])
  ON CONFLICT (event_id) DO NOTHING
  RETURNING version_id, action, retrieve_ms, at
), counted AS (
  INSERT INTO usage_counts AS c (version_id, views, downloads, retrieves, retrieve_ms_total,
                                 last_used_at, updated_at)
  SELECT version_id, count(*) FILTER (WHERE action = 'view'),
         count(*) FILTER (WHERE action = 'download'), count(retrieve_ms),
         coalesce(sum(retrieve_ms), 0), max(at), clock_timestamp()
  FROM fresh GROUP BY version_id ORDER BY version_id
  ON CONFLICT (version_id) DO UPDATE SET
    views = c.views + EXCLUDED.views, downloads = c.downloads + EXCLUDED.downloads,
    retrieves = c.retrieves + EXCLUDED.retrieves,
    retrieve_ms_total = c.retrieve_ms_total + EXCLUDED.retrieve_ms_total,
    last_used_at = greatest(c.last_used_at, EXCLUDED.last_used_at),
    updated_at = EXCLUDED.updated_at
  RETURNING 1
)
SELECT action, count(*) AS n FROM fresh GROUP BY action
"""


Counted = list[tuple[RawRecord, UsageEvent]]


@dataclass
class UsageResult:
    counted: dict[str, int] = field(default_factory=dict)  # action -> events newly counted
    repeats: int = 0
    dead: Dead = field(default_factory=list)
    versions: set[int] = field(default_factory=set)  # every version the batch names


@dataclass(frozen=True)
class UsagePorts:
    """What the usage handler needs from outside: each a plain callable, so a test passes
    fakes (app.py wires the real ones)."""

    internal: Internal  # usage counts only from Cairn's services
    decode: Callable[[bytes | None], UsageEvent]  # raises UndecodableRecord
    count: Callable[[Counted], Awaitable[UsageResult]]  # returns once committed
    totals: Callable[[set[int]], Awaitable[list[UsageTotals]]]  # read after the commit
    encode: Callable[[UsageTotals], bytes]  # a totals record's Avro bytes
    produce: Callable[[Sequence[Outgoing]], Awaitable[None]]  # returns once acknowledged
    dead_letter: DeadLetter
    totals_topic: str


def decode(raws: Sequence[RawRecord], decoder: Callable[[bytes | None], UsageEvent],
           result: UsageResult) -> Counted:
    """Decoded, checked events, first copy of each event_id; the rest become dead letters."""
    out: dict[str, tuple[RawRecord, UsageEvent]] = {}
    for raw in raws:
        try:
            event = decoder(raw.value)
            check_usage(event["action"], event["retrieve_ms"])
        except UndecodableRecord as exc:
            result.dead.append((raw, "undecodable", str(exc)))
            continue
        except InvalidInput as exc:
            result.dead.append((raw, exc.reason, str(exc)))
            continue
        if event["event_id"] in out:
            result.repeats += 1
        out.setdefault(event["event_id"], (raw, event))
    return list(out.values())


async def count_batch(pool: asyncpg.Pool, events: Counted) -> UsageResult:
    """One transaction: resolve each event's version, insert the new events, add them up.

    Returns a fresh result each call, so a retried batch never reports anything twice.
    """
    result = UsageResult()
    if not events:
        return result
    async with pool.acquire() as conn, conn.transaction():
        pairs = sorted({(e["artifact"], e["digest"]) for _, e in events})
        rows = await conn.fetch(RESOLVE_SQL, [a for a, _ in pairs], [d for _, d in pairs])
        version_of = {(r["artifact"], r["digest"]): r["id"] for r in rows}
        known = []
        for raw, e in events:
            vid = version_of.get((e["artifact"], e["digest"]))
            if vid is None:  # the api only reports versions it read: a foreign or stray event
                result.dead.append((raw, "unknown_version",
                                    f"{e['artifact']} has no version {e['digest'][:12]}"))
            else:
                known.append((e, vid))
                result.versions.add(vid)
        fresh = await conn.fetch(
            COUNT_SQL, [e["event_id"] for e, _ in known], [vid for _, vid in known],
            [e["action"] for e, _ in known], [e["retrieve_ms"] for e, _ in known],
            [e["actor"] for e, _ in known],
            [dt.datetime.fromtimestamp(e["occurred_at"] / 1000, dt.UTC) for e, _ in known])
    result.counted = {r["action"]: r["n"] for r in fresh}
    result.repeats = len(known) - sum(result.counted.values())
    return result


async def totals_records(pool: asyncpg.Pool, version_ids: set[int]) -> list[UsageTotals]:
    """UsageTotals records of these versions, read after the count committed."""
    if not version_ids:
        return []
    async with pool.acquire() as conn:
        as_of, rows = await usage_totals(conn, sorted(version_ids))
    return [UsageTotals(as_of=as_of, views=(usage or {}).get("views", 0),
                        downloads=(usage or {}).get("downloads", 0),
                        state=cast(VersionState, state))  # the read model's VersionState row
            for state, usage in rows]


def totals_key(totals: UsageTotals) -> bytes:
    """cairn.usage.totals is keyed by artifact, like the changelog."""
    content = totals["state"]["content"]
    return f"{content['project']}/{content['name']}".encode()


async def count_and_report(ports: UsagePorts, raws: list[RawRecord]) -> None:
    """Decode, count in one transaction, produce the totals, dead-letter the refused;
    idempotent by event_id, so settle() may redo it whole (and a redone batch produces its
    totals again: nothing newly counted, but a crash may have come before the produce)."""
    refused = UsageResult()
    events = decode(ports.internal(raws, refused.dead), ports.decode, refused)
    result = await ports.count(events)
    totals = await ports.totals(result.versions)
    await ports.produce([(ports.totals_topic, totals_key(t), ports.encode(t), None)
                         for t in totals])
    result.dead += refused.dead
    result.repeats += refused.repeats
    await ports.dead_letter(result.dead)
    for action, n in result.counted.items():
        COUNTED.labels(action).inc(n)
    USAGE_REPEATS.inc(result.repeats)
