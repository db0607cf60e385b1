"""What the notifier reads from the ledger's PostgreSQL (through cairn.readmodel): read-only,
never a write.

Subscriptions come from `config_items` (kind 'subscription'), cached and reloaded only when
their highest `seq` moves (a creation, a change and a removal each bump it). Each carries the
seq of its creation, so a subscription hears about changes recorded after it existed, never
about the history before it (a new notifier group starts from the changelog's beginning).
The delivery log tells a restarted notifier which deliveries already ended, and how many
attempts the others had.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from cairn.core.domain.subscriptions import matches
from cairn.core.domain.webhook_payloads import Facts
from cairn.readmodel.deliveries import delivery_progress
from cairn.readmodel.subscriptions import active_subscriptions, subscriptions_marker

Pool = Callable[[], Awaitable[asyncpg.Pool]]


@dataclass(frozen=True)
class Subscription:
    id: str
    team: str
    url: str
    format: str = "json"
    filter: Mapping[str, list[str]] = field(default_factory=dict)
    active: bool = True
    since: int = 0  # the seq that created it: it hears about later changes only
    owner: str = ""

    def wants(self, seq: int, facts: Facts) -> bool:
        return self.active and seq > self.since and matches(
            self.filter, project=facts.project, kind=facts.kind, stage=facts.stage,
            tags=facts.tags, event_type=facts.event_type)


def from_row(key: str, body: Mapping[str, Any], since: int, owner: str) -> Subscription:
    return Subscription(key, body["team"], body["url"], body.get("format", "json"),
                        body.get("filter") or {}, bool(body.get("active", True)), since, owner)


class SubscriptionStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._marker: int | None = None
        self._subscriptions: list[Subscription] = []

    async def current(self) -> list[Subscription]:
        """The active subscriptions, reloaded when config_items' subscriptions changed."""
        pool = await self._pool()
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            marker = await subscriptions_marker(conn)
            if marker != self._marker:
                rows = await active_subscriptions(conn)
                self._subscriptions = [
                    from_row(r["key"], r["body"], r["since"], r["owner"]) for r in rows]
                self._marker = marker
        return self._subscriptions

    def __len__(self) -> int:
        return len(self._subscriptions)


async def progress(pool: Pool, delivery_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """delivery id → (attempts recorded, ended) for the ids the delivery log knows."""
    if not delivery_ids:
        return {}
    async with (await pool()).acquire() as conn:
        return await delivery_progress(conn, delivery_ids)
