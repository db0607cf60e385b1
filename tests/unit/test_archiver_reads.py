"""The archiver decodes only what it reads of a changelog record (`placing.READS`): the same
blobs to place as from the whole record, without the rest of the version's state."""

from __future__ import annotations

import io
import random
import struct
from typing import Any

import fastavro
from cairn.archiver.placing import READS, digests_to_place
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import MAGIC, AvroCodec
from cairn.core.domain.events import NAMESPACE
from fastavro.utils import generate_many, generate_one

WRITER_ID = 7


class Registry:
    """The schema registry as a codec that only decodes asks it: one writer schema."""

    def schema(self, schema_id: int) -> Any:
        assert schema_id == WRITER_ID
        return schemas.parsed(schemas.RECORDED)


def framed(record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", MAGIC, WRITER_ID))
    fastavro.schemaless_writer(buf, schemas.parsed(schemas.RECORDED), record)
    return buf.getvalue()


def payloads() -> dict[str, Any]:
    """Each named type of the changelog's schema, parsed, by short name."""
    named: dict[str, Any] = {}
    fastavro.parse_schema(schemas.expanded(schemas.RECORDED), named_schemas=named)
    return {name.rsplit(".", 1)[-1]: schema for name, schema in named.items()}


def records(n: int) -> list[dict[str, Any]]:
    """Whole changelog records of random content: publishes, lifecycle changes and alias
    moves, applied or not, each with its state's files."""
    rng, branches = random.Random(5), payloads()
    out = []
    for r in generate_many(schemas.parsed(schemas.RECORDED), n):
        kind = rng.choice(["Published", "LifecycleRequested", "AliasMoved"])
        body = (r["state"]["content"] if kind == "Published"
                else generate_one(branches[kind]))
        r["event"]["payload"] = (f"{NAMESPACE}.{kind}", body)
        r["outcome"] = rng.choice(["applied", "applied", "duplicate"])
        out.append(r)
    return out


def test_the_projection_places_the_same_blobs_as_the_whole_record() -> None:
    whole = AvroCodec[Any](Registry(), "changelog", schemas.RECORDED)  # type: ignore[arg-type]
    cut = AvroCodec[Any](Registry(), "changelog", schemas.RECORDED,  # type: ignore[arg-type]
                         schemas.projected(schemas.RECORDED, READS))
    sample = [framed(r) for r in records(16)]
    full = [whole.decode(b) for b in sample]
    read = [cut.decode(b) for b in sample]
    assert any(moved or published for moved, published in [digests_to_place(full)])
    assert digests_to_place(read) == digests_to_place(full)
    for one in read:  # nothing else of the state was decoded
        assert set(one) == {"outcome", "event", "state"}
        assert set(one["state"]) == {"content"} and set(one["state"]["content"]) == {"files"}
        assert all(set(f) == {"sha256"} for f in one["state"]["content"]["files"])
