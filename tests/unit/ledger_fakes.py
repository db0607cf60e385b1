"""Hand-written fakes of the ledger's ports for its handlers' unit tests: no Kafka, no
PostgreSQL. Each fake writes what it did to one shared journal, in order, so a test can check
that nothing is produced before the batch committed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import UndecodableRecord
from cairn.core.domain.identity import InvalidInput

Dead = list[tuple[RawRecord, str, str]]


class Journal(list[tuple[str, Any]]):
    """What the fakes did, in order."""

    def kinds(self) -> list[str]:
        return [what for what, _ in self]


def raw(offset: int, body: dict[str, Any] | bytes, topic: str = "t.cairn.usage",
        signed: bool = True) -> RawRecord:
    """An input record: `body` as JSON (what the fake decoder reads) or raw bytes."""
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawRecord(b"k%d" % offset, value, topic, 0, offset,
                     (("cairn.signature", b"ok"),) if signed else ())


def decode_json(value: bytes | None) -> Any:
    """Stands for AvroCodec.decode: JSON in, the event out; anything else is undecodable."""
    try:
        return json.loads(value or b"")
    except ValueError as exc:
        raise UndecodableRecord(f"not JSON: {exc}") from exc


def signed_only(raws: Sequence[RawRecord], dead: Dead) -> list[RawRecord]:
    """Stands for origins.internal_records: an unsigned record goes to `dead`."""
    kept = []
    for record in raws:
        if dict(record.headers).get("cairn.signature") == b"ok":
            kept.append(record)
        else:
            error = InvalidInput("unsigned", "no signature")
            dead.append((record, error.reason, str(error)))
    return kept


class DeadLetters:
    """Stands for dead_letters.dead_letter: notes what it would produce (nothing if empty)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def __call__(self, dead: Dead) -> None:
        if dead:
            self.journal.append(("dead", [(r.offset, reason) for r, reason, _ in dead]))


class Log:
    def __init__(self) -> None:
        self.infos: list[dict[str, Any]] = []

    def info(self, what: str, **fields: Any) -> None:
        self.infos.append({"what": what, **fields})
