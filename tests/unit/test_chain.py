"""The hash chain's formats: old rows verify by format 1, new ones cover state and version_id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cairn.core.domain import chain


def _rows(formats: list[int]) -> list[dict[str, Any]]:
    rows, prev = [], chain.GENESIS
    for seq, version in enumerate(formats, start=1):
        row = {"seq": seq, "event_id": f"id-{seq}", "artifact": "p/n", "event_type": "Published",
               "outcome": "applied", "actor": "ada", "occurred_at_ms": 1_700_000_000_000 + seq,
               "recorded_at_ms": 1_700_000_000_100 + seq,
               "event": {"metrics": {"big": 1e20, "zero": -0.0}, "n": seq},
               "state": {"status": "active", "digest": "d" * 64, "version_number": seq},
               "version_id": seq, "chain_version": version, "prev_hash": prev}
        row["hash"] = prev = chain.row_hash(prev, row)
        rows.append(row)
    return rows


def test_old_rows_verify_by_format_1_and_new_ones_by_format_2() -> None:
    rows = _rows([1, 1, 2, 2])
    assert rows[0]["hash"] == chain.entry_hash(chain.GENESIS, 1, rows[0]["event"], "applied",
                                               rows[0]["recorded_at_ms"])
    report = chain.verify(rows)
    assert report.ok and report.entries == 4 and report.legacy == 2


@pytest.mark.parametrize("column,value", [
    ("state", {"status": "deleted", "digest": "d" * 64, "version_number": 3}),
    ("version_id", 99), ("actor", "mallory"), ("occurred_at_ms", 1), ("event_type", "Verdict"),
])
def test_format_2_covers_every_column_that_says_what_happened(column: str, value: Any) -> None:
    rows = _rows([1, 1, 2, 2])
    rows[2][column] = value
    report = chain.verify(rows)
    assert report.first_bad_seq == 3 and "changed after it was recorded" in str(report.problem)


def test_format_1_does_not_cover_state_so_it_is_counted() -> None:
    rows = _rows([1, 2])
    rows[0]["state"] = {"status": "deleted"}
    assert chain.verify(rows).ok and chain.verify(rows).legacy == 1


def test_a_row_moved_back_to_format_1_is_refused() -> None:
    rows = _rows([2, 2, 2])
    rows[1]["chain_version"] = 1
    rows[1]["hash"] = chain.row_hash(rows[0]["hash"], rows[1])  # even rehashed
    rows[2]["prev_hash"] = rows[1]["hash"]
    rows[2]["hash"] = chain.row_hash(rows[1]["hash"], rows[2])
    report = chain.verify(rows)
    assert report.first_bad_seq == 2 and "formats never go back" in str(report.problem)


def test_numbers_hash_the_same_after_a_jsonb_round_trip() -> None:
    """jsonb prints 1e20 as 100000000000000000000 and -0.0 as 0.0; format 2 does not care."""
    rows = _rows([2])
    rows[0]["event"] = json.loads('{"metrics": {"big": 100000000000000000000, "zero": 0.0},'
                                  ' "n": 1.0}')
    assert chain.verify(rows).ok
    assert chain.canonical({"b": [1.5e-7, 2.0], "a": "é"}) == '{"a":"é","b":[0.00000015,2]}'


def test_the_fast_canonical_text_equals_the_exact_one() -> None:
    """canonical() takes json's C encoder for speed; every value must read exactly as the
    exact printer has it, or the chain's hashes would depend on which path ran."""
    import random
    import string

    rng = random.Random(7)
    edges = [0.0, -0.0, 1e20, -1e20, 1.5e-7, 1e16, 9.999999999999998e15, 1e-4, 1e-5,
             123456789012345678.0, 2.0**53, 0.1, 1 / 3, 2.5]

    def number() -> float:
        roll = rng.random()
        if roll < 0.2:
            return rng.choice(edges)
        if roll < 0.5:
            return float(rng.randint(-10**6, 10**6))
        return rng.uniform(-1e3, 1e3) * 10 ** rng.randint(-8, 20)

    def value(depth: int = 0) -> object:
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice([None, True, False, rng.randint(-10**20, 10**20), number(),
                               "".join(rng.choice(string.printable + "é漢") for _ in range(5))])
        if roll < 0.75:
            return {"".join(rng.choice('ab"\\é') for _ in range(rng.randint(1, 3))):
                    value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(5000):
        sample = value()
        assert chain.canonical(sample) == chain._canonical_exact(sample), sample
