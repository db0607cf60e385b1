"""Signed Kafka events: who may produce what, decided without a broker."""

from __future__ import annotations

import pytest
from cairn.core.identity import InvalidInput
from cairn.core.settings import Settings
from cairn.core.signing import (
    DEVELOPMENT_KEY,
    check_internal,
    check_origin,
    master_key,
    producer_key,
    sign,
    signer,
)

MASTER = b"registry-master-key-for-tests"
ACCOUNTS = {"orch": {"trusted": False}, "airflow": {"trusted": True},
            "old": {"disabled": True}}


def signed(value: bytes, producer: str, master: bytes = MASTER) -> list[tuple[str, bytes]]:
    return sign(value, producer, producer_key(master, producer))


def reason(headers: list[tuple[str, bytes]], actor: str, value: bytes = b"v") -> str:
    with pytest.raises(InvalidInput) as caught:
        check_origin(headers, value, actor, MASTER, ACCOUNTS)
    return caught.value.reason


def test_services_and_accounts_are_told_apart() -> None:
    assert check_origin(signed(b"v", "cairn-api"), b"v", "ana", MASTER, {}) == "cairn-api"
    assert check_origin(signed(b"v", "orch"), b"v", "orch", MASTER, ACCOUNTS) == "orch"
    assert check_origin(signed(b"v", "airflow"), b"v", "ana", MASTER, ACCOUNTS) == "airflow"


def test_unsigned_forged_and_unknown_events_are_refused() -> None:
    assert reason([], "ana") == "unsigned"
    assert reason(signed(b"v", "orch"), "ana") == "forged_actor"
    assert reason(signed(b"other", "orch"), "orch") == "bad_signature"  # changed on the way
    assert reason(signed(b"v", "cairn-api", DEVELOPMENT_KEY), "ana") == "bad_signature"
    assert reason(signed(b"v", "old"), "old") == "unknown_producer"
    assert reason(signed(b"v", "nobody"), "nobody") == "unknown_producer"
    stolen = [("cairn.producer", b"cairn-api"), signed(b"v", "orch")[1]]
    assert reason(stolen, "ana") == "bad_signature"  # an account's key cannot pose as Cairn


def test_who_signs_with_which_key() -> None:
    dev = Settings(environment="development")
    assert master_key(dev) == DEVELOPMENT_KEY
    assert master_key(Settings(environment="production", signing_key="")) is None
    assert master_key(Settings(signing_key="s3cret")) == b"s3cret"
    assert signer(dev, "bench") == ("cairn-bench", producer_key(DEVELOPMENT_KEY, "cairn-bench"))
    own = producer_key(MASTER, "orch")
    assert signer(Settings(producer="orch", producer_key=own.hex()), "cairn-sdk") == ("orch", own)


def test_only_cairns_services_may_write_usage_and_delivery_reports() -> None:
    assert check_internal(signed(b"v", "cairn-api"), b"v", MASTER) == "cairn-api"
    for headers, value, why in ((signed(b"v", "orch"), b"v", "not_internal"),
                                ([], b"v", "unsigned"),
                                (signed(b"v", "cairn-api"), b"w", "bad_signature"),
                                (signed(b"v", "cairn-api", b"other"), b"v", "bad_signature")):
        with pytest.raises(InvalidInput) as caught:
            check_internal(headers, value, MASTER)
        assert caught.value.reason == why
