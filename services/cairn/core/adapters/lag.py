"""Consumer lag of Cairn's stream consumers: how far each is behind the topics it reads.

Lag is what an operator looks at first when search or notifications feel late, so it is
read from Kafka itself (committed offsets against each partition's end), not from the
services, which may be the ones stuck. `lag_rows` is the pure part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partitions: int
    committed: int  # sum of committed offsets (a partition never committed counts its start)
    end: int  # sum of end offsets
    behind: int  # records not yet processed


def lag_rows(committed: Mapping[tuple[str, str, int], int | None],
             bounds: Mapping[tuple[str, int], tuple[int, int]]) -> list[Lag]:
    """(group, topic, partition) → committed offset (None: never committed) and (topic,
    partition) → (low, high) watermarks, summed per group and topic."""
    sums: dict[tuple[str, str], list[int]] = {}
    for (group, topic, partition), offset in sorted(committed.items()):
        low, high = bounds.get((topic, partition), (0, 0))
        at = low if offset is None or offset < 0 else offset
        row = sums.setdefault((group, topic), [0, 0, 0, 0])
        row[0] += 1
        row[1] += at
        row[2] += high
        row[3] += max(high - at, 0)
    return [Lag(g, t, *v) for (g, t), v in sorted(sums.items())]


def cairn_groups(admin: AdminClient, prefix: str, timeout: float = 10.0) -> list[str]:
    """Consumer groups of this deployment (faust app ids start with the topic prefix)."""
    listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
    wanted = f"{prefix}cairn-"
    return sorted(g.group_id for g in listed.valid if g.group_id.startswith(wanted))


def consumer_lag(bootstrap: str, prefix: str = "", timeout: float = 10.0) -> list[Lag]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    committed: dict[tuple[str, str, int], int | None] = {}
    for group in cairn_groups(admin, prefix, timeout):
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                    request_timeout=timeout)
        for tp in futures[group].result(timeout).topic_partitions or []:
            committed[(group, tp.topic, tp.partition)] = tp.offset
    # A partition the group never committed on is missing above; it is behind by all it holds.
    topics = {t for _, t, _ in committed}
    meta = admin.list_topics(timeout=timeout).topics
    for group in {g for g, _, _ in committed}:
        for topic in topics & {t for g, t, _ in committed if g == group}:
            for partition in meta[topic].partitions if topic in meta else ():
                committed.setdefault((group, topic, partition), None)
    return lag_rows(committed, _watermarks(bootstrap, {(t, p) for _, t, p in committed},
                                           timeout))


def _watermarks(bootstrap: str, partitions: Iterable[tuple[str, int]], timeout: float
                ) -> dict[tuple[str, int], tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cairn-lag-probe",
                         "enable.auto.commit": False})
    try:
        return {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=timeout)
                for t, p in partitions}
    finally:
        consumer.close()
