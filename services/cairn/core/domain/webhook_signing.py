"""Webhook signatures: per-subscription secrets, signed headers, and their verification.

A subscription's secret is HMAC-SHA256(master key, subscription id), hex: the notifier and the
api derive it from CAIRN_WEBHOOK_KEY whenever they need it, so no secret is ever stored in
PostgreSQL or sent through Kafka. A delivery is signed like Stripe's and Slack's webhooks:

    X-Cairn-Timestamp: <unix seconds>
    X-Cairn-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Cairn-Delivery:  <the same id for every attempt at one notification: dedupe on it>

A receiver recomputes the signature over the raw body it received (`verify` does exactly that)
and refuses old timestamps, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_S = 300


class MissingWebhookKey(RuntimeError):
    """CAIRN_WEBHOOK_KEY is not set: the api and the notifier refuse to start without it."""


def master_key(configured: str) -> bytes:
    """The webhook master key. There is no development key: with a key written in the source,
    anyone could compute every subscription's secret and forge deliveries."""
    if not configured:
        raise MissingWebhookKey("CAIRN_WEBHOOK_KEY is not set: webhook secrets derive from it; "
                                "set a random one (openssl rand -hex 32), the same for the api "
                                "and the notifier (scripts/stack and compose make one)")
    return configured.encode()


def secret_for(master: bytes, subscription: str) -> str:
    return hmac.new(master, subscription.encode(), hashlib.sha256).hexdigest()


def delivery_id(subscription: str, seq: int) -> str:
    """Stable per (subscription, changelog seq): every retry and every redelivery after a
    restart carries the same id."""
    return hashlib.sha256(f"{subscription}:{seq}".encode()).hexdigest()[:32]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, delivery: str, event_type: str, body: bytes, timestamp: int
                   ) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "cairn-notifier/1",
        "X-Cairn-Event": event_type,
        "X-Cairn-Delivery": delivery,
        "X-Cairn-Timestamp": str(timestamp),
        "X-Cairn-Signature": signature(secret, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance: float = TOLERANCE_S) -> bool:
    """What a receiver does: the signature matches the raw body and the timestamp is fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered["x-cairn-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    given = lowered.get("x-cairn-signature", "")
    return hmac.compare_digest(given, signature(secret, timestamp, body))
