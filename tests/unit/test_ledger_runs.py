"""runs.in_runs: another interleaving of the same partitions, in few runs of one kind."""

from __future__ import annotations

from cairn.core.adapters.batches import RawRecord
from cairn.ledger.runs import in_runs
from hypothesis import given, settings
from hypothesis import strategies as st


def _item(partition: int, offset: int, kind: str) -> tuple[RawRecord, str]:
    return RawRecord(None, None, "t", partition, offset), kind


def _runs(kinds: list[str]) -> int:
    return sum(1 for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1])


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("PVA")), max_size=60))
@settings(max_examples=500)
def test_each_partition_keeps_its_order_and_runs_never_grow(draw: list[tuple[int, str]]
                                                           ) -> None:
    batch = [_item(p, i, k) for i, (p, k) in enumerate(draw)]
    out = in_runs(batch, lambda kind: kind)
    assert sorted(out, key=lambda d: d[0].offset) == batch  # the same records
    for p in range(4):
        assert [d for d in out if d[0].partition == p] == [d for d in batch if d[0].partition == p]
    assert _runs([k for _, k in out]) <= _runs([k for _, k in batch])


def test_alternating_partitions_become_one_run_per_kind_and_round() -> None:
    batch = [_item(0, 0, "P"), _item(1, 1, "V"), _item(1, 2, "P"), _item(0, 3, "V"),
             _item(2, 4, "P"), _item(2, 5, "V")]
    assert [(d[0].offset, d[1]) for d in in_runs(batch, lambda kind: kind)] == [
        (0, "P"), (4, "P"), (3, "V"), (1, "V"), (5, "V"), (2, "P")]  # 3 runs, not 6


def test_one_partition_is_left_as_it_came() -> None:
    batch = [_item(0, i, k) for i, k in enumerate("PVPVAAP")]
    assert in_runs(batch, lambda kind: kind) == batch
