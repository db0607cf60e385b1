"""One batch of changelog records → one bulk request (plus dead letters).

Order of effects, so a crash anywhere loses nothing: decode (undecodable records become
dead letters); read the batch's usage counts; bulk-index with the state's `updated_seq`
as external version (engine down: retried until it answers); only then does the caller
acknowledge the offsets. Redelivery re-applies identical documents; an older state than
the indexed one is a version conflict, counted and skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, UndecodableRecord
from cairn.readmodel import index_rows as reads
from cairn.search.backend import BulkResult, IndexMissing, SearchBackend
from cairn.search.documents import version_document

PG_TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


@dataclass
class Outcome:
    result: BulkResult = field(default_factory=BulkResult)
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)
    artifacts: set[str] = field(default_factory=set)
    last_seq: int = 0


def decode(raws: Sequence[RawRecord], codec: AvroCodec, out: Outcome) -> list[dict[str, Any]]:
    """Changelog records whose state can become a document; the rest go to `out.dead`."""
    records = []
    for raw in raws:
        try:
            record = codec.decode(raw.value)
            version_document(record["state"])  # a state that cannot be a document is refused
        except UndecodableRecord as exc:
            out.dead.append((raw, "undecodable", str(exc)))
        except (KeyError, TypeError, ValueError) as exc:
            out.dead.append((raw, "malformed", f"not a version state: {exc!r}"))
        else:
            records.append(record)
    return records


async def usage_of(pool: Callable[[], Awaitable[asyncpg.Pool]], keys: list[reads.Key]
                   ) -> dict[reads.Key, reads.Usage]:
    """The batch's usage counts; PostgreSQL away: wait for it (the batch is not acked)."""
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(PG_TRANSIENT),
                                       wait=wait_exponential(max=10)):
        with attempt:
            async with (await pool()).acquire() as conn:
                try:
                    return await reads.usage_by_key(conn, keys)
                except asyncpg.UndefinedTableError:
                    return {}
    raise AssertionError("unreachable")


async def index_batch(raws: Sequence[RawRecord], codec: AvroCodec, backend: SearchBackend,
                      alias: str, pool: Callable[[], Awaitable[asyncpg.Pool]],
                      ensure: Callable[[], Awaitable[Any]]) -> Outcome:
    out = Outcome()
    records = decode(raws, codec, out)
    if not records:
        return out
    latest: dict[str, tuple[int, dict[str, Any]]] = {}  # doc id → newest state in the batch
    for record in records:
        state = record["state"]
        content = state["content"]
        key = f"{content['project']}/{content['name']}@v{state['version_number']}"
        if key not in latest or state["updated_seq"] >= latest[key][0]:
            latest[key] = (state["updated_seq"], state)
        out.artifacts.add(record["event"]["artifact"])
        out.last_seq = max(out.last_seq, record["seq"])
    usage = await usage_of(pool, [(s["content"]["project"], s["content"]["name"],
                                   s["version_number"]) for _, s in latest.values()])
    docs = []
    for _, state in latest.values():
        content = state["content"]
        doc_id, body = version_document(
            state, usage.get((content["project"], content["name"], state["version_number"])))
        docs.append((doc_id, body["seq"], body))
    try:
        out.result = await backend.bulk_index(alias, docs)
    except IndexMissing:  # deleted under us, or never made: make it, then write
        await ensure()
        out.result = await backend.bulk_index(alias, docs)
    return out
