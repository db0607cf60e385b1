"""The chain's canonical text and the ledger's rows are byte for byte what they were before
orjson (issue 11: one JSON pass per entry). The implementation before it is kept here as the
reference, verbatim; hypothesis draws JSON values with what could print differently: floats
of every size (integral, -0.0, subnormal, exponent, NaN), ints beyond 64 bits, control
characters, non-ASCII and astral text, lone surrogates, keys that sort by code point, tuples,
non-str keys and non-JSON types (those must fail over to the old path, or fail as it did).
Old rows are verified by recomputing their hashes, so a single differing byte would break
`cairn audit verify` on every row recorded before the change."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
import os
import random
import struct
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from cairn.core.domain import chain
from cairn.ledger.entries import log_entry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# -- the reference: chain.canonical, row_hash (format 2) and recorder.log_entry before ------


def _ref_number(value: int | float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be stored as JSON")
    if isinstance(value, int):
        return str(value)
    return "0" if value == 0 else format(Decimal(repr(value)).normalize(), "f")


def ref_canonical(value: Any) -> str:
    try:
        plain = _ref_plain(value)
    except _RefExponent:
        return _ref_canonical_exact(value)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


class _RefExponent(Exception):
    pass


def _ref_plain(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored as JSON")
        if value.is_integer() and abs(value) < 1e16:
            return int(value)
        if "e" in repr(value):
            raise _RefExponent
        return value
    if isinstance(value, Mapping):
        return {str(k): _ref_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_ref_plain(v) for v in value]
    return value


def _ref_canonical_exact(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return _ref_number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:"
                              f"{_ref_canonical_exact(value[k])}"
                              for k in sorted(value, key=str)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_ref_canonical_exact(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON")


def ref_row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    body = ref_canonical({"chain_version": 2, **{k: row[k] for k in chain.COVERED}})
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def ref_log_entry(prev_hash: str, row: dict[str, Any], *, alias_losers: Any = None,
                  link_targets: Any = None) -> tuple[str, tuple[Any, ...]]:
    row = {**row, "event": json.loads(json.dumps(row["event"], default=str)),
           "state": json.loads(json.dumps(row["state"]))}
    digest = ref_row_hash(prev_hash, {**row, "chain_version": chain.FORMAT})
    return digest, (
        row["seq"], row["event_id"], row["artifact"], row["event_type"], row["outcome"],
        row["actor"], _ts(row["occurred_at_ms"]), _ts(row["recorded_at_ms"]),
        json.dumps(row["event"]), json.dumps(row["state"]), row["version_id"], chain.FORMAT,
        prev_hash, digest, json.dumps(alias_losers or []), json.dumps(link_targets or []))


# -- what is drawn --------------------------------------------------------------------------

EDGES = [0.0, -0.0, 1e20, -1e20, 1.5e-7, 1e16, -1e16, 9.999999999999998e15, 1e-4, 1e-5,
         9.99e-05, 0.00010000000000000002, 123456789012345678.0, 2.0**53, 2.0**53 + 2,
         2.0**63, 2.0**64, 0.1, 1 / 3, 2.5, 5e-324, 2.2250738585072014e-308,
         1.7976931348623157e308, 1e15 + 0.5, 1e21, 1e22, 1e-7, 100.0, math.nan, math.inf,
         -math.inf]
floats = st.one_of(
    st.floats(),  # every double: subnormals, NaN and the infinities too
    st.sampled_from(EDGES),
    st.builds(lambda m, e: m * 10.0**e, st.floats(-10, 10), st.integers(-30, 30)),
    st.integers(-2**60, 2**60).map(float))
ints = st.one_of(st.integers(-2**63, 2**64), st.integers(-2**80, 2**80))  # a few beyond 64 bits
texts = st.one_of(
    st.text(),
    st.text(st.characters(max_codepoint=0x7f), max_size=8),  # control characters, DEL
    st.text(st.characters(min_codepoint=0x80)),  # non-ASCII, astral, U+2028
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2))  # lone surrogates
plain_keys = st.one_of(st.text(max_size=4), st.text(st.characters(min_codepoint=0x7e),
                                                     max_size=3))
odd = st.one_of(st.uuids(), st.datetimes(timezones=st.just(dt.UTC)), st.binary(max_size=3),
                st.sampled_from([Decimal("1.5"), enum.Enum("E", "A").A, {1, 2}]))


def _values(keys: st.SearchStrategy[Any], leaves: st.SearchStrategy[Any]
            ) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda c: st.one_of(
        st.lists(c, max_size=4), st.lists(c, max_size=3).map(tuple),
        st.dictionaries(keys, c, max_size=5)), max_leaves=25)


json_leaves = st.one_of(st.none(), st.booleans(), ints, floats, texts)
plain = _values(plain_keys, json_leaves)  # what the Avro decoder and jsonb give
anything = _values(st.one_of(plain_keys, st.integers(), st.booleans(), st.none(), floats),
                   st.one_of(json_leaves, odd))
# CAIRN_HYPOTHESIS_EXAMPLES=20000 for a long run; the default keeps the unit tests fast.
EXAMPLES = int(os.environ.get("CAIRN_HYPOTHESIS_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def _outcome(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return ("ok", fn(*args, **kw))
    except Exception as exc:  # the same exception, with the same words, is the same outcome
        return ("raised", type(exc), str(exc))


@FAST
@given(st.one_of(plain, anything))
@example({"b": [1.5e-7, 2.0], "a": "é"})
@example({"big": 1e20, "zero": -0.0, "n": 2**70, "k": {"\x00\x1f\u2028": "\U0001f600"}})
@example({1: "a", "1": "b"})
def test_canonical_is_the_old_text_byte_for_byte(value: Any) -> None:
    assert _outcome(chain.canonical, value) == _outcome(ref_canonical, value)


def _row(event: Any, state: Any, seq: int) -> dict[str, Any]:
    return {"seq": seq, "event_id": str(uuid.UUID(int=seq)), "artifact": "p/ñ",
            "event_type": "VerdictSet", "outcome": "applied", "actor": "validator",
            "occurred_at_ms": 1_700_000_000_000 + seq, "recorded_at_ms": 1_700_000_000_100,
            "event": event, "state": state, "version_id": seq, "chain_version": 2}


@FAST
@given(st.one_of(plain, anything), plain, st.integers(1, 2**40))
def test_row_hash_is_the_old_hash(event: Any, state: Any, seq: int) -> None:
    row = _row(event, state, seq)
    assert _outcome(chain.row_hash, "a" * 64, row) == _outcome(ref_row_hash, "a" * 64, row)


def _jsonb(text: str) -> Any:
    """What jsonb keeps of a JSON text: numbers as decimals with their scale (1e-05 and
    0.00001 are one numeric), so two texts are stored alike if this is equal."""
    return json.loads(text, parse_float=lambda s: ("num", Decimal(s).as_tuple()),
                      parse_int=lambda s: ("num", Decimal(s).as_tuple()))


@FAST
@given(st.one_of(plain, anything), _values(plain_keys, json_leaves),
       st.lists(plain, max_size=2), st.integers(1, 2**40))
def test_log_entry_hashes_and_stores_as_before(event: Any, state: Any, losers: list[Any],
                                               seq: int) -> None:
    """The same hash and columns; the JSON columns as jsonb stores them (orjson prints
    floats as `1e-5` where json prints `1e-05`)."""
    row = {k: v for k, v in _row(event, state, seq).items() if k != "chain_version"}
    new = _outcome(log_entry, "b" * 64, row, alias_losers=losers, link_targets=losers[:1])
    old = _outcome(ref_log_entry, "b" * 64, row, alias_losers=losers, link_targets=losers[:1])
    if old[0] == "raised":
        assert new == old
        return
    assert new[0] == "ok", new
    (digest, values), (old_digest, old_values) = new[1], old[1]
    assert digest == old_digest
    json_columns = (8, 9, 14, 15)
    assert [v for i, v in enumerate(values) if i not in json_columns] == [
        v for i, v in enumerate(old_values) if i not in json_columns]
    assert [_jsonb(values[i]) for i in json_columns] == [_jsonb(old_values[i])
                                                         for i in json_columns]


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(floats.filter(math.isfinite))
def test_orjson_prints_a_float_as_the_number_json_prints(value: float) -> None:
    """The event and state columns: orjson's digits and scale are json's."""
    assert _jsonb(orjson.dumps([value]).decode()) == _jsonb(json.dumps([value]))


def test_every_kind_of_float_prints_as_before() -> None:
    """A dense sweep hypothesis would take long over: doubles from random bit patterns (every
    exponent, subnormals), decimals of every magnitude and the neighbours of the thresholds
    where the texts change form (1e-4, 1e16, 2**53, 2**63, 2**64)."""
    rng = random.Random(11)
    values = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
              for _ in range(4000)]
    values += [round(rng.uniform(-1, 1), rng.randint(0, 17)) * 10.0 ** rng.randint(-25, 25)
               for _ in range(4000)]
    for edge in (1e-4, 1e16, 2.0**53, 2.0**63, 2.0**64, 1e-7, 1e21):
        for sign in (1, -1):
            up = down = sign * edge
            for _ in range(50):
                up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
                values += [up, down]
    for value in values:
        doc = {"m": value, "l": [value, -value]}
        assert _outcome(chain.canonical, doc) == _outcome(ref_canonical, doc), value
        if math.isfinite(value):
            assert _jsonb(orjson.dumps(doc).decode()) == _jsonb(json.dumps(doc)), value
