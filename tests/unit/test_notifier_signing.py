"""Webhook signing: secrets derived per subscription, stable delivery ids, HMAC headers."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cairn.core.domain import webhook_signing as signing

KEY = b"master"
BODY = b'{"seq":1}'


def test_each_subscription_has_its_own_secret_derived_from_the_master_key() -> None:
    a, b = signing.secret_for(KEY, "sub-a"), signing.secret_for(KEY, "sub-b")
    assert a != b and len(a) == 64
    assert a == hmac.new(KEY, b"sub-a", hashlib.sha256).hexdigest()
    assert signing.secret_for(b"other", "sub-a") != a
    assert signing.master_key("k") == b"k"
    with pytest.raises(signing.MissingWebhookKey, match="CAIRN_WEBHOOK_KEY is not set"):
        signing.master_key("")  # no development key: anyone could compute the secrets


def test_delivery_id_is_stable_per_subscription_and_seq() -> None:
    assert signing.delivery_id("s", 7) == signing.delivery_id("s", 7)
    assert len({signing.delivery_id("s", 7), signing.delivery_id("s", 8),
                signing.delivery_id("t", 7)}) == 3


def test_signature_covers_timestamp_and_body_and_verifies() -> None:
    secret = signing.secret_for(KEY, "s")
    headers = signing.signed_headers(secret, "d1", "Published", BODY, 1_700_000_000)
    expected = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Cairn-Signature"] == f"sha256={expected}"
    assert headers["X-Cairn-Timestamp"] == "1700000000"
    assert headers["X-Cairn-Delivery"] == "d1" and headers["X-Cairn-Event"] == "Published"
    lowered = {k.lower(): v for k, v in headers.items()}
    assert signing.verify(secret, lowered, BODY, now=1_700_000_010)
    assert not signing.verify(secret, headers, BODY + b" ", now=1_700_000_010)  # body changed
    assert not signing.verify("wrong", headers, BODY, now=1_700_000_010)
    assert not signing.verify(secret, headers, BODY, now=1_700_000_000 + 301)  # replayed late
    assert not signing.verify(secret, {}, BODY, now=1_700_000_000)
