"""Consumer lag arithmetic: committed offsets against partition ends, summed per topic."""

from __future__ import annotations

from cairn.core.adapters.lag import Lag, lag_rows


def test_lag_sums_partitions_and_counts_uncommitted_from_the_start() -> None:
    committed = {("cairn-ledger", "cairn.artifact.events", 0): 10,
                 ("cairn-ledger", "cairn.artifact.events", 1): None,  # never committed
                 ("cairn-indexer", "cairn.artifact.changelog", 0): 7}
    bounds = {("cairn.artifact.events", 0): (0, 12), ("cairn.artifact.events", 1): (3, 8),
              ("cairn.artifact.changelog", 0): (0, 7)}
    assert lag_rows(committed, bounds) == [
        Lag("cairn-indexer", "cairn.artifact.changelog", 1, 7, 7, 0),
        Lag("cairn-ledger", "cairn.artifact.events", 2, 13, 20, 7),
    ]


def test_a_committed_offset_past_a_truncated_end_is_not_negative_lag() -> None:
    rows = lag_rows({("g", "t", 0): 50}, {("t", 0): (0, 40)})
    assert rows[0].behind == 0
