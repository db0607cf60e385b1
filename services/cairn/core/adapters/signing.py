"""Who produced an event to Kafka: an HMAC-SHA256 over the record's value, in its headers.

    cairn.producer:  the producer's name
    cairn.signature: sha256=<hex HMAC-SHA256(producer key, value)>

Every key derives from one registry secret, CAIRN_SIGNING_KEY (the master): a producer's key
is HMAC-SHA256(master, "producer:" + name), so none is stored anywhere. Cairn's own services
hold the master and sign as `cairn-<service>` (trusted: they may name any actor, the api
names the user it authenticated). A service account signs with its own key (an
administrator gets it from GET /v1/service-accounts/{name}/key) and may name only itself as
the actor unless its item says `trusted`. The ledger checks every artifact and config event
and dead-letters the unsigned, the badly signed, the unknown and the forged.

There is no development key: a key written in the source would let anyone who reaches Kafka
sign as a Cairn service. A Cairn service without a master refuses to start (MissingKey);
scripts/stack makes a random one per stack, compose one per install, the tests one per run.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from cairn.core.adapters.settings import Settings
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.tokens import weakness

PRODUCER_HEADER = "cairn.producer"
SIGNATURE_HEADER = "cairn.signature"
INTERNAL = "cairn-"  # names of Cairn's own services; no service account may take one
Headers = list[tuple[str, bytes]]


class MissingKey(RuntimeError):
    """A process that must sign or check as Cairn has no usable CAIRN_SIGNING_KEY."""


def master_key(settings: Settings) -> bytes | None:
    """The registry's signing secret, None when CAIRN_SIGNING_KEY is not set (Settings has
    already refused one published in the source)."""
    configured = settings.signing_key.get_secret_value()
    return configured.encode() if configured else None


def required_master(settings: Settings, who: str) -> bytes:
    """The master for a Cairn service (`who`), which cannot work without one; MissingKey says
    what to set. Outside development a short or placeholder-like key is refused too."""
    master = master_key(settings)
    if master is None:
        raise MissingKey(f"CAIRN_SIGNING_KEY is not set: {who} cannot sign or check Cairn's "
                         "events without it; set a random one (openssl rand -hex 32), the same "
                         "for every Cairn service (scripts/stack and compose make one)")
    problem = weakness(master.decode()) if settings.environment != "development" else None
    if problem:
        raise MissingKey(f"CAIRN_SIGNING_KEY is refused because {problem}: set a random one "
                         "(openssl rand -hex 32)")
    return master


def producer_key(master: bytes, producer: str) -> bytes:
    return hmac.new(master, f"producer:{producer}".encode(), hashlib.sha256).digest()


def internal_name(client_id: str) -> str:
    return client_id if client_id.startswith(INTERNAL) else f"{INTERNAL}{client_id}"


def signer(settings: Settings, client_id: str) -> tuple[str, bytes]:
    """(producer, key) a process signs with: its service account's key if it has one
    (CAIRN_PRODUCER, CAIRN_PRODUCER_KEY), else as a Cairn service with the master's key
    (MissingKey without one)."""
    own = settings.producer_key.get_secret_value()
    if settings.producer and own:
        return settings.producer, bytes.fromhex(own)
    name = internal_name(client_id)
    try:
        return name, producer_key(required_master(settings, name), name)
    except MissingKey as exc:
        raise MissingKey(f"{exc}; a producer outside Cairn sets CAIRN_PRODUCER and "
                         "CAIRN_PRODUCER_KEY (GET /v1/service-accounts/{name}/key)") from None


def sign(value: bytes, producer: str, key: bytes) -> Headers:
    mac = hmac.new(key, value, hashlib.sha256).hexdigest()
    return [(PRODUCER_HEADER, producer.encode()), (SIGNATURE_HEADER, f"sha256={mac}".encode())]


def _header(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    found = [v for k, v in headers if k == name]
    return found[-1].decode(errors="replace") if found and found[-1] is not None else None


def producer_of(headers: Sequence[tuple[str, bytes | None]]) -> str | None:
    return _header(headers, PRODUCER_HEADER)


def check_origin(headers: Sequence[tuple[str, bytes | None]], value: bytes, actor: str,
                 master: bytes, accounts: Mapping[str, Mapping[str, object]]) -> str:
    """The producer, if it signed `value` and may name `actor`; else InvalidInput with the
    reason (unsigned, bad_signature, unknown_producer, forged_actor). `accounts`: the service
    accounts among the producers, by name (their config items)."""
    producer = _signed_by(headers, value, master)
    if producer.startswith(INTERNAL):
        return producer
    account = accounts.get(producer)
    if account is None or account.get("disabled"):
        raise InvalidInput("unknown_producer", f"{producer} is no enabled service account")
    if actor != producer and not account.get("trusted"):
        raise InvalidInput("forged_actor", f"{producer} may only produce events as itself, "
                           f"not as {actor!r} (an administrator can make it trusted)")
    return producer


def check_internal(headers: Sequence[tuple[str, bytes | None]], value: bytes,
                   master: bytes) -> str:
    """The Cairn service that signed `value`, for topics only Cairn's own services write
    (usage events from the api, delivery reports from the notifier): anyone else could
    inflate usage figures or forge a delivery log. InvalidInput: unsigned, bad_signature,
    not_internal."""
    producer = _signed_by(headers, value, master)
    if not producer.startswith(INTERNAL):
        raise InvalidInput("not_internal", f"{producer} may not produce here: only Cairn's "
                           "own services do (report usage through POST /v1/usage)")
    return producer


def _signed_by(headers: Sequence[tuple[str, bytes | None]], value: bytes, master: bytes
               ) -> str:
    """The producer whose key signed `value`; InvalidInput unsigned or bad_signature."""
    producer, signature = producer_of(headers), _header(headers, SIGNATURE_HEADER)
    if not producer or not signature:
        raise InvalidInput("unsigned", "the event carries no cairn.producer and "
                           "cairn.signature headers: produce through "
                           "cairn.core.adapters.emitter with "
                           "CAIRN_PRODUCER and CAIRN_PRODUCER_KEY")
    expected = sign(value, producer, producer_key(master, producer))[1][1].decode()
    if not hmac.compare_digest(expected, signature):
        raise InvalidInput("bad_signature", f"the signature of {producer} does not match the "
                           "event: a wrong key, or the event was changed on the way")
    return producer
