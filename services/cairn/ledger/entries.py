"""One event_log row: its hash on the chain and its column values, shared by the per-event
path (recorder) and the set-based ones (bulk_publish, bulk_verdicts) so they hash and store a
row alike.

This is the ledger's per-entry CPU cost. A row whose event and state hold plain JSON types
(what the Avro decoder and state_of give) is hashed from one walk and one orjson pass
(chain.plain_row_hash), and the event and state columns are one orjson pass each, which the
walk has checked (every float finite: orjson would print NaN as null where json's text is
refused by jsonb). alias_losers and link_targets, not walked, stay json.dumps. A row holding
anything else (a UUID, an int beyond 64 bits, a non-str key) takes the path from before:
JSON round trips of the event and the state, hashing what jsonb will give back, which for a
plain row is the same hash (tests/unit/test_chain_identity.py compares the two).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
import orjson

from cairn.core.domain import chain
from cairn.core.domain.event_types import VersionState

Conn: TypeAlias = asyncpg.Connection
def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


async def append_entry(conn: Conn, prev_hash: str, row: dict[str, Any], *,
                       alias_losers: Sequence[VersionState] | None = None,
                       link_targets: Sequence[VersionState] | None = None) -> str:
    """Insert one event_log row (chain.COVERED fields) hashed with the current chain format;
    returns its hash. The hash is taken over what jsonb will give back (tuples as lists).
    `alias_losers` and `link_targets` are stored beside the chain, not in it: they derive
    from the tables."""
    digest, values = log_entry(prev_hash, row, alias_losers=alias_losers,
                               link_targets=link_targets)
    await conn.execute(
        "INSERT INTO event_log (seq, event_id, artifact, event_type, outcome, actor, occurred_at,"
        " recorded_at, event, state, version_id, chain_version, prev_hash, hash, alias_losers,"
        " link_targets) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::jsonb,$10::jsonb,$11,$12,$13,$14,"
        "$15::jsonb,$16::jsonb)",
        *values,
    )
    return digest


def log_entry(prev_hash: str, row: dict[str, Any], *,
              alias_losers: Sequence[VersionState] | None = None,
              link_targets: Sequence[VersionState] | None = None
              ) -> tuple[str, tuple[Any, ...]]:
    """The hash of one event_log row and its column values (event_log's column order)."""
    row = {**row, "chain_version": chain.FORMAT}
    try:
        digest = chain.plain_row_hash(prev_hash, row)
        event = orjson.dumps(row["event"]).decode()
        state = orjson.dumps(row["state"]).decode()
    except chain.Unplain:  # hash what jsonb gives back: a UUID as text, a tuple as a list
        row = {**row, "event": json.loads(json.dumps(row["event"], default=str)),
               "state": json.loads(json.dumps(row["state"]))}
        digest = chain.row_hash(prev_hash, row)
        event, state = json.dumps(row["event"]), json.dumps(row["state"])
    return digest, (
        row["seq"], row["event_id"], row["artifact"], row["event_type"], row["outcome"],
        row["actor"], _ts(row["occurred_at_ms"]), _ts(row["recorded_at_ms"]),
        event, state, row["version_id"], chain.FORMAT, prev_hash, digest,
        json.dumps(alias_losers or []), json.dumps(link_targets or []))
