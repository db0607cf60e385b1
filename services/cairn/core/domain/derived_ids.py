"""Deterministic event ids: the same input always gives the same id, so an event emitted
again (a repeated changelog record, two replicas planning the same step) is recorded once by
the ledger, which dedupes by event_id. Used by the validator (verdicts) and by retention's
LifecycleRequested events (the api and the archiver)."""

from __future__ import annotations

import hashlib
import uuid


def derived_uuid7(time_ms: int, seq: int, digest: str, name: str) -> str:
    """A deterministic UUIDv7: 48 bits of `time_ms`, version 7, variant 10, and 74 bits hashed
    from (seq, digest, name); still a valid, time-ordered UUIDv7."""
    h = int.from_bytes(hashlib.sha256(f"{seq}:{digest}:{name}".encode()).digest()[:10], "big")
    value = ((time_ms & (2**48 - 1)) << 80 | 0x7 << 76 | (h >> 62 & 0xFFF) << 64
             | 0b10 << 62 | h & (2**62 - 1))
    return str(uuid.UUID(int=value))
