"""Topic names (with a configurable prefix) and their creation."""

from __future__ import annotations

from dataclasses import dataclass

# NewTopic is documented under confluent_kafka.admin, which imports it without re-exporting
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Topics:
    prefix: str = ""
    partitions: int = 6

    @property
    def events(self) -> str:
        return f"{self.prefix}cairn.artifact.events"

    @property
    def changelog(self) -> str:
        return f"{self.prefix}cairn.artifact.changelog"

    @property
    def usage(self) -> str:
        """Views and downloads: counted by the ledger, never chained or indexed as changes."""
        return f"{self.prefix}cairn.usage"

    @property
    def usage_totals(self) -> str:
        """A version's usage totals (with its state), produced by the ledger after it counted
        a batch of usage events; the indexer's only source of usage, keyed by artifact."""
        return f"{self.prefix}cairn.usage.totals"

    @property
    def config(self) -> str:
        """Configuration changes (subscriptions, retention policies): chained by the ledger."""
        return f"{self.prefix}cairn.config.events"

    @property
    def deliveries(self) -> str:
        """The notifier's delivery attempts: recorded by the ledger into its delivery log."""
        return f"{self.prefix}cairn.notifier.deliveries"

    def dead_letter(self, consumer: str) -> str:
        return f"{self.prefix}cairn.deadletter.{consumer}"

    def all(self) -> list[str]:
        return [self.events, self.changelog, self.usage, self.usage_totals, self.config,
                self.deliveries, self.dead_letter("ledger")]


def ensure_topics(bootstrap: str, topics: Topics, *, replication: int = 1,
                  min_isr: int = 1) -> None:
    """Create missing topics; an existing topic is fine (idempotent start-up).

    `replication` copies of each, and `min_isr` of them in sync for a write to be
    acknowledged (CAIRN_TOPIC_REPLICATION, CAIRN_TOPIC_MIN_ISR): with the producers' acks=all,
    3 and 2 lose no acknowledged event when one broker dies. An existing topic keeps what it
    was made with."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=15).topics)
    config = {"min.insync.replicas": str(min_isr)}
    wanted = [
        NewTopic(name, num_partitions=topics.partitions, replication_factor=replication,
                 config=config)
        for name in topics.all()
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted).items():
        try:
            future.result(timeout=30)
        except Exception as exc:  # a concurrent creator won the race
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create topic {name}: {exc}") from exc
