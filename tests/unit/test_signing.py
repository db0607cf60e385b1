"""Signed Kafka events: who may produce what, decided without a broker."""

from __future__ import annotations

import pytest
from cairn.core.adapters.settings import PUBLIC_SECRETS, Settings
from cairn.core.adapters.signing import (
    MissingKey,
    check_internal,
    check_origin,
    master_key,
    producer_key,
    required_master,
    sign,
    signer,
)
from cairn.core.domain.identity import InvalidInput
from pydantic import ValidationError

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
    for public in PUBLIC_SECRETS:  # keys written in the source sign nothing
        assert reason(signed(b"v", "cairn-api", public.encode()), "ana") == "bad_signature"
    assert reason(signed(b"v", "old"), "old") == "unknown_producer"
    assert reason(signed(b"v", "nobody"), "nobody") == "unknown_producer"
    stolen = [("cairn.producer", b"cairn-api"), signed(b"v", "orch")[1]]
    assert reason(stolen, "ana") == "bad_signature"  # an account's key cannot pose as Cairn


def test_who_signs_with_which_key() -> None:
    dev = Settings(environment="development", signing_key="s3cret")
    assert master_key(dev) == b"s3cret"
    assert signer(dev, "bench") == ("cairn-bench", producer_key(b"s3cret", "cairn-bench"))
    own = producer_key(MASTER, "orch")
    assert signer(Settings(producer="orch", producer_key=own.hex()), "cairn-sdk") == ("orch", own)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_no_key_no_signing_in_any_environment(environment: str) -> None:
    """No development key: a Cairn service without CAIRN_SIGNING_KEY cannot sign or check."""
    keyless = Settings(environment=environment, signing_key="")  # type: ignore[arg-type]
    assert master_key(keyless) is None
    with pytest.raises(MissingKey, match="CAIRN_SIGNING_KEY is not set"):
        required_master(keyless, "the ledger")
    with pytest.raises(MissingKey, match="CAIRN_PRODUCER_KEY"):
        signer(keyless, "bench")


@pytest.mark.parametrize("secret", sorted(PUBLIC_SECRETS))
@pytest.mark.parametrize("setting", ["signing_key", "webhook_key", "admin_token"])
def test_secrets_published_in_the_source_are_refused_everywhere(setting: str, secret: str
                                                                 ) -> None:
    for environment in ("development", "production"):
        with pytest.raises(ValidationError, match="published in Cairn's source"):
            Settings(environment=environment, **{setting: secret})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="CAIRN_API_TOKENS"):
        Settings(environment="development", api_tokens=f"ok={'a1' * 16},demo={secret.upper()}")


def test_a_weak_signing_key_is_refused_outside_development() -> None:
    with pytest.raises(MissingKey, match="shorter than"):
        required_master(Settings(environment="production", signing_key="s3cret"), "the api")
    assert required_master(Settings(environment="development", signing_key="s3cret"), "x")


def test_only_cairns_services_may_write_usage_and_delivery_reports() -> None:
    assert check_internal(signed(b"v", "cairn-api"), b"v", MASTER) == "cairn-api"
    for headers, value, why in ((signed(b"v", "orch"), b"v", "not_internal"),
                                ([], b"v", "unsigned"),
                                (signed(b"v", "cairn-api"), b"w", "bad_signature"),
                                (signed(b"v", "cairn-api", b"other"), b"v", "bad_signature")):
        with pytest.raises(InvalidInput) as caught:
            check_internal(headers, value, MASTER)
        assert caught.value.reason == why
