"""One batch of changelog records, or of usage totals → one bulk of merges (plus dead letters).

Everything a document needs arrives on Kafka; the indexer reads no table:

- a changelog record (RecordedEvent) carries its version's state after the event, the
  states of the versions the event took an alias from (`alias_losers`) and of those its
  links reached (`link_targets`: made into, evaluated by), all as of its seq;
- a usage totals record (UsageTotals) carries a version's views and downloads and its state,
  as of the ledger's chain head when it read them.

Each becomes a documents.merge (state ordered by `as_of`, usage the larger count), so
redelivery, a replay by a new consumer group, and the two topics' interleaving all end in
the ledger's state. Order of effects: decode (undecodable or malformed records become dead
letters); bulk-merge (engine down: retried until it answers); only then does the caller
acknowledge the offsets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.adapters.batches import RawRecord
from cairn.core.adapters.codec import AvroCodec, UndecodableRecord
from cairn.search.backend import BulkResult, IndexMissing, SearchBackend
from cairn.search.documents import merge

Merge = tuple[str, dict[str, Any]]  # (doc id, update body)
ToMerges = Callable[[dict[str, Any]], Iterator[tuple[int, Merge]]]  # record → (as_of, merge)s


@dataclass
class Outcome:
    result: BulkResult = field(default_factory=BulkResult)
    dead: list[tuple[RawRecord, str, str]] = field(default_factory=list)
    last_seq: int = 0


def changelog_merges(record: Mapping[str, Any]) -> Iterator[tuple[int, Merge]]:
    """The record's version, each version it took an alias from and each its links reached,
    as of its seq."""
    seq = int(record["seq"])
    for state in (record["state"], *(record.get("alias_losers") or ()),
                  *(record.get("link_targets") or ())):
        yield seq, merge(state, seq)


def usage_merges(record: Mapping[str, Any]) -> Iterator[tuple[int, Merge]]:
    """The version's state and usage totals, as of the ledger's chain head when read."""
    as_of = int(record["as_of"])
    yield as_of, merge(record["state"], as_of, {"views": record["views"],
                                                "downloads": record["downloads"]})


def decode(raws: Sequence[RawRecord], codec: AvroCodec, to_merges: ToMerges, out: Outcome
           ) -> list[Merge]:
    """One merge per document (the newest state in the batch; usage merges all kept, as each
    count only grows); records that cannot become documents go to `out.dead`."""
    newest: dict[str, tuple[int, Merge]] = {}
    usage: list[Merge] = []
    for raw in raws:
        try:
            merges = list(to_merges(codec.decode(raw.value)))
        except UndecodableRecord as exc:
            out.dead.append((raw, "undecodable", str(exc)))
            continue
        except (KeyError, TypeError, ValueError) as exc:
            out.dead.append((raw, "malformed", f"not a version state: {exc!r}"))
            continue
        for as_of, (doc_id, body) in merges:
            out.last_seq = max(out.last_seq, as_of)
            if body["script"]["params"]["usage"] is not None:
                usage.append((doc_id, body))
            elif doc_id not in newest or as_of >= newest[doc_id][0]:
                newest[doc_id] = (as_of, (doc_id, body))
    return [m for _, m in newest.values()] + usage


async def index_batch(raws: Sequence[RawRecord], codec: AvroCodec, to_merges: ToMerges,
                      backend: SearchBackend, alias: str,
                      ensure: Callable[[], Awaitable[Any]]) -> Outcome:
    out = Outcome()
    merges = decode(raws, codec, to_merges, out)
    if not merges:
        return out
    try:
        out.result = await backend.bulk_merge(alias, merges)
    except IndexMissing:  # deleted under us, or never made: make it, then write
        await ensure()
        out.result = await backend.bulk_merge(alias, merges)
    return out
