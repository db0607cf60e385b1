"""The hash chain over the event log: each entry's hash covers its content and the previous hash.

Changing, removing or reordering any recorded row breaks every hash after it, which
`cairn audit verify` detects by recomputing the chain from the start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str, seq: int, event: Mapping[str, Any], outcome: str, recorded_at_ms: int
) -> str:
    body = json.dumps(
        {"seq": seq, "event": event, "outcome": outcome, "recorded_at": recorded_at_ms},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_bad_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Rows in seq order with seq, event, outcome, recorded_at_ms, prev_hash, hash."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        count += 1
        seq = row["seq"]
        if seq != expected_seq:
            return ChainReport(
                count, seq, f"seq {seq} follows {expected_seq - 1}: a gap or reorder"
            )
        if row["prev_hash"] != prev:
            return ChainReport(count, seq, f"seq {seq} does not link to the entry before it")
        recomputed = entry_hash(prev, seq, row["event"], row["outcome"], row["recorded_at_ms"])
        if recomputed != row["hash"]:
            return ChainReport(count, seq, f"seq {seq} was changed after it was recorded")
        prev, expected_seq = row["hash"], seq + 1
    return ChainReport(count, None, None)
