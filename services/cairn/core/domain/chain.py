"""The hash chain over the event log: each entry's hash covers its content and the previous hash.

Changing, removing or reordering any recorded row breaks every hash after it, which
`cairn audit verify` detects by recomputing the chain from the start.

Formats (`event_log.chain_version`, one per row):

- 1, rows recorded before migration 0006: the hash covers seq, event, outcome and
  recorded_at only. The columns copied from the event (event_id, artifact, event_type,
  actor, occurred_at) are checked against it by `cairn.readmodel.audit`, and so is version_id
  against the state's digest, but the `state` snapshot itself is covered by nothing.
- 2, every row since: the hash covers every column that says what happened — seq,
  event_id, artifact, event_type, outcome, actor, occurred_at, recorded_at, event, state,
  version_id and chain_version itself — in a canonical JSON text whose numbers read the same
  after a jsonb round trip (format 1 hashes `json.dumps` text, so a metric of 1e20 or -0.0,
  which jsonb stores as 100000000000000000000 or 0.0, fails verification forever).

Old rows keep format 1 rather than being rehashed by a migration: rehashing would make the
chain vouch for state and version_id values nobody ever vouched for (an edit made before the
upgrade would verify from then on), and would change the hashes the changelog already
published and consumers may hold. So verify recomputes each row by its own format, refuses a
format that goes down (a row moved back to format 1 to drop its state from the hash) or is
unknown, and reports how many rows are format 1, so nobody reads "intact" as "state covered".
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

GENESIS = "0" * 64
FORMAT = 2  # what the ledger writes now
# The row fields format 2 hashes (besides chain_version), as `cairn.readmodel.audit` reads them.
COVERED = ("seq", "event_id", "artifact", "event_type", "outcome", "actor", "occurred_at_ms",
           "recorded_at_ms", "event", "state", "version_id")


def entry_hash(
    prev_hash: str, seq: int, event: Mapping[str, Any], outcome: str, recorded_at_ms: int
) -> str:
    """Format 1 (legacy): kept only to verify the rows recorded with it."""
    body = json.dumps(
        {"seq": seq, "event": event, "outcome": outcome, "recorded_at": recorded_at_ms},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _number(value: int | float) -> str:
    """A number as plain decimal digits, the same for 1e20, 1.0e20 and 100000000000000000000
    (jsonb keeps numbers as decimals and prints them without exponent or a minus zero)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be stored as JSON")
    if isinstance(value, int):
        return str(value)
    return "0" if value == 0 else format(Decimal(repr(value)).normalize(), "f")


def canonical(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8 strings, plain decimal numbers."""
    try:
        return canonical_bytes(value).decode()
    except Unplain:
        return _canonical_json(value)


def canonical_bytes(value: Any) -> bytes:
    """canonical(value) as UTF-8, for a value of plain JSON types (dict with str keys, list,
    tuple, str, int of 64 bits, finite float, bool, None): one walk that prints every float
    as `_number` would, then orjson's C encoder. Anything else raises Unplain (canonical() then
    takes `_canonical_json`, which prints or refuses it as before); the bytes are canonical()'s
    text byte for byte, which tests/unit/test_chain_identity.py checks against the previous
    implementation."""
    try:
        return orjson.dumps(_ready(value), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:  # a big int, a non-str key, a lone surrogate
        raise Unplain(str(exc)) from exc


class Unplain(TypeError):
    """A value outside canonical_bytes' types: the slower json path prints it."""


# Types orjson prints as json does, as they are (an int beyond 64 bits it refuses: Unplain).
_AS_IS = frozenset({str, int, bool, type(None)})


def _ready(value: Any) -> Any:
    """`value` with each float as an int (integral, below 1e16) or its canonical digits. A
    container holding only _AS_IS values (a package list, a file entry) is checked by a C-level
    scan of its values' types and kept as it is (orjson prints a tuple as a list, as json)."""
    kind = type(value)
    if kind is dict:
        if _AS_IS.issuperset(map(type, value.values())):
            return value
        return {k: v if type(v) in _AS_IS else _ready(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        if _AS_IS.issuperset(map(type, value)):
            return value
        return [v if type(v) in _AS_IS else _ready(v) for v in value]
    if kind in _AS_IS:
        return value
    if kind is float:
        if not math.isfinite(value):  # refused: by _canonical_json, naming the value it did
            raise Unplain("a float that is not finite")
        if value.is_integer() and abs(value) < 1e16:
            return int(value)  # 2.0 and -0.0 print as 2 and 0, as _number does
        text = repr(value)  # what json prints for a float
        return orjson.Fragment(text if "e" not in text else _number(value))
    raise Unplain(f"{kind.__name__} is not a plain JSON type")


def _canonical_json(value: Any) -> str:
    """canonical() through json's C encoder over a copy whose floats print as plain decimals;
    a float that would print with an exponent (below 1e-4 or from 1e16 up) takes the exact
    path."""
    try:
        plain = _plain(value)
    except _Exponent:
        return _canonical_exact(value)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


class _Exponent(Exception):
    """A float whose repr has an exponent: the fast path cannot print it plainly."""


def _plain(value: Any) -> Any:
    """`value` with integral floats as ints and every other float checked to print plainly."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored as JSON")
        if value.is_integer() and abs(value) < 1e16:
            return int(value)  # 2.0 and -0.0 print as 2 and 0, as _number does
        if "e" in repr(value):
            raise _Exponent
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _canonical_exact(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:"
                              f"{_canonical_exact(value[k])}"
                              for k in sorted(value, key=str)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical_exact(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON")


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of a row (the COVERED fields and chain_version) by its own format."""
    version = row.get("chain_version", FORMAT)
    if version == 1:
        return entry_hash(prev_hash, row["seq"], row["event"], row["outcome"],
                          row["recorded_at_ms"])
    if version != 2:
        raise ValueError(f"unknown chain format {version!r}")
    try:
        return plain_row_hash(prev_hash, row)
    except Unplain:
        body = _canonical_json({"chain_version": 2, **{k: row[k] for k in COVERED}})
        return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def plain_row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """Format 2's hash of a row whose values are plain JSON types (see canonical_bytes);
    raises Unplain for any other (the ledger then hashes what jsonb will give back)."""
    body = canonical_bytes({"chain_version": 2, **{k: row[k] for k in COVERED}})
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_bad_seq: int | None
    problem: str | None
    legacy: int = 0  # format 1 entries: their state is not covered by the hash

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


@dataclass
class Walk:
    """The chain walked one row at a time (rows in seq order, each with the COVERED fields,
    chain_version, prev_hash and hash), so a verifier never holds the whole log."""

    prev: str = GENESIS
    entries: int = 0
    legacy: int = 0
    newest: int = 1

    def step(self, row: Mapping[str, Any]) -> str | None:
        """What is wrong with this row (then stop walking), or None."""
        self.entries += 1
        seq, version, expected = row["seq"], row.get("chain_version", 1), self.entries
        if seq != expected:
            return f"seq {seq} follows {expected - 1}: a gap or reorder"
        if row["prev_hash"] != self.prev:
            return f"seq {seq} does not link to the entry before it"
        if version not in (1, 2) or version < self.newest:
            return (f"seq {seq} claims chain format {version!r} after format {self.newest}: "
                    "formats never go back")
        if row_hash(self.prev, row) != row["hash"]:
            return f"seq {seq} was changed after it was recorded"
        self.legacy += version == 1
        self.prev, self.newest = row["hash"], version
        return None

    def report(self, bad_seq: int | None = None, problem: str | None = None) -> ChainReport:
        return ChainReport(self.entries, bad_seq, problem, self.legacy)


def verify(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    walk = Walk()
    for row in rows:
        problem = walk.step(row)
        if problem is not None:
            return walk.report(row["seq"], problem)
    return walk.report()
