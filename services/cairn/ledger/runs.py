"""The order a batch is recorded in: long runs of one payload type, each partition's order kept.

A batch from Kafka interleaves its partitions however the consumer fetched them, so a
backlog of publishes each followed by its VerdictSet arrived as ~110 runs of 4-5 events per
500 (measured, 6 partitions, the publish bench with --verdicts), and every run costs the
set-based recorders their fixed ~7 statements and a savepoint: 90% of a batch's wall time
was those round trips. Only the order within a partition means anything (an artifact's events
share its key, so its partition); the interleaving across partitions is the fetch's accident.
`in_runs` picks another interleaving of the same partitions, one that makes few, long runs,
so recording it is something that could have happened anyway.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

D = TypeVar("D", bound=tuple[Any, Any])  # (RawRecord, event)


def in_runs(decoded: Sequence[D], kind_of: Callable[[Any], Hashable]) -> list[D]:
    """`decoded` merged from its partitions' queues in passes: each pass takes, from every
    queue in turn, the events at its head of one kind, the kind of the earliest event left.
    Each partition's events keep their order; with one partition nothing moves. Never more
    runs than `decoded` has: a pass takes the rest of the run the earliest event left is in
    (every event of that run left is at its queue's head or behind ones of the same run)."""
    queues: dict[tuple[str, int], deque[tuple[int, D]]] = {}
    for n, item in enumerate(decoded):
        queues.setdefault((item[0].topic, item[0].partition), deque()).append((n, item))
    out: list[D] = []
    while queues:
        kind = kind_of(min(q[0] for q in queues.values())[1][1])
        for key in list(queues):
            queue = queues[key]
            while queue and kind_of(queue[0][1][1]) == kind:
                out.append(queue.popleft()[1])
            if not queue:
                del queues[key]
    return out
