"""What both engine backends share: request shapes and retries.

Transient failures (errors.py says which; also 429/5xx per bulk item) are retried with
exponential backoff for `patience` seconds — None: until they succeed, which is what the
indexer wants, as it never acknowledges a batch the engine did not take — then
SearchUnavailable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import orjson
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

from cairn.search.errors import (
    Classify,
    IndexMissing,
    Outcome,
    SearchRefused,
    SearchUnavailable,
)

log = structlog.get_logger("search")
T = TypeVar("T")
Doc = tuple[str, int, Mapping[str, Any]]  # (id, external version, body)
# A bulk request's size: large enough that a batch is one or a few requests, small enough
# for the engine's http.max_content_length (100 MB) and its memory.
BULK_BYTES = 5 * 1024 * 1024
# Only what tally reads: the engine then neither writes nor we parse _shards, _seq_no, ...
BULK_FIELDS = "items.*._id,items.*.status,items.*.result,items.*.error"


class _Transient(Exception):
    pass


@dataclass
class BulkResult:
    indexed: int = 0
    conflicts: int = 0  # an equal-or-newer version was already there: nothing to do
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)


def tally(result: BulkResult, item: Mapping[str, Any]) -> None:
    """Count one bulk item (transient and missing-index items were raised before)."""
    entry = next(iter(item.values()))  # {"index": ...} or {"update": ...}
    status = int(entry.get("status", 500))
    if entry.get("result") == "noop" or status == 409:
        result.conflicts += 1
    elif status < 300:
        result.indexed += 1
    else:
        result.rejected.append((entry["_id"], str(entry.get("error"))[:500]))


def physical_name(alias: str) -> str:
    return f"{alias}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S%f}"


class EngineBackend:
    """The request shapes both clients share; subclasses give the client and error mapping."""

    engine = "?"
    classify: Classify

    def __init__(self, client: Any, patience: float | None) -> None:
        self.client = client
        self.patience = patience

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        stop = stop_never if self.patience is None else stop_after_delay(self.patience)
        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception_type(_Transient),
                                               wait=wait_exponential(0.2, max=5),
                                               stop=stop, reraise=True,
                                               before_sleep=self._retrying):
                with attempt:
                    try:
                        return await fn()
                    except Exception as exc:
                        self._translate(exc)
        except _Transient as exc:
            raise SearchUnavailable(f"{self.engine} did not answer: {exc}") from exc
        raise AssertionError("unreachable")

    def _retrying(self, state: RetryCallState) -> None:
        if state.attempt_number in (1, 5) or state.attempt_number % 20 == 0:
            error = state.outcome.exception() if state.outcome else None
            log.warning("search engine unavailable; retrying", engine=self.engine,
                        attempt=state.attempt_number, error=str(error)[:300])

    def _translate(self, exc: Exception) -> None:
        outcome: Outcome = type(self).classify(exc)
        if outcome == "transient":
            raise _Transient(repr(exc)) from exc
        if outcome == "missing":
            raise IndexMissing(str(exc)) from exc
        if outcome == "refused":
            raise SearchRefused(str(exc)) from exc
        raise exc

    async def _do(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        reply = await self._call(fn)
        return getattr(reply, "body", reply)

    async def ensure_alias(self, alias: str, index_body: Mapping[str, Any]) -> str:
        """The alias's index, creating `<alias>-<timestamp>` first if there is none.

        Creators may race (two indexers starting, or an indexer and `cairn reindex`): the
        engine then refuses the losers, or — OpenSearch 3.6, truly concurrent creates — lets
        two indices both be the write index, after which every write fails. So whoever sees
        more than one index behind the alias keeps the oldest and removes the others; no
        document can have been written to them (writes fail in that state)."""
        return await self._call(lambda: self._ensure_once(alias, index_body))

    async def _ensure_once(self, alias: str, index_body: Mapping[str, Any]) -> str:
        if not await self._aliased(alias):
            body = {**index_body, "aliases": {alias: {"is_write_index": True}}}
            try:  # one attempt: a refusal or a 500 may just mean a racer won
                await self.client.indices.create(index=physical_name(alias), body=body)
            except Exception as exc:
                if type(self).classify(exc) == "other":
                    raise
        current = await self._aliased(alias)
        if not current:
            raise _Transient(f"no index behind {alias} yet")
        keep, *extra = current
        for name in extra:
            await self._unalias(name, alias)
            await self.delete_index(name)
        await self._add_fields(keep, index_body.get("mappings") or {})
        return keep

    async def _add_fields(self, index: str, mappings: Mapping[str, Any]) -> None:
        """Fields the mapping gained since `index` was made (legal_hold, ...), added in place
        (engines allow adding a field to a live index). Documents written before have no value
        for them until `cairn reindex` rebuilds them; queries must allow for that."""
        reply = await self.client.indices.get_mapping(index=index)
        have = getattr(reply, "body", reply)[index]["mappings"].get("properties", {})
        missing = {k: v for k, v in (mappings.get("properties") or {}).items() if k not in have}
        if missing:
            await self.client.indices.put_mapping(index=index, body={"properties": missing})

    async def _aliased(self, alias: str) -> list[str]:
        """Indices behind the alias; `_cat/aliases` still answers when the alias has two
        write indices, where `_alias` fails."""
        reply = await self.client.cat.aliases(name=alias, format="json")
        return sorted({row["index"] for row in getattr(reply, "body", reply)})

    async def _unalias(self, name: str, alias: str) -> None:
        actions = [{"remove": {"index": name, "alias": alias}}]
        with contextlib.suppress(IndexMissing, SearchRefused):  # another racer did it first
            await self._do(lambda: self.client.indices.update_aliases(body={"actions": actions}))

    async def create_index(self, name: str, index_body: Mapping[str, Any]) -> None:
        await self._do(lambda: self.client.indices.create(index=name, body=dict(index_body)))

    async def bulk_index(self, target: str, docs: Sequence[Doc], *,
                         require_alias: bool = True) -> BulkResult:
        """`require_alias`: never auto-create a concrete index named like the alias (the
        stack allows auto-creation); False only to fill a new physical index by its name."""
        ops = [pair for doc_id, version, body in docs for pair in (
            {"index": {"_index": target, "_id": doc_id, "version": version,
                       "version_type": "external_gte"}}, body)]
        return await self._bulk_ops(ops, require_alias)

    async def bulk_merge(self, target: str, updates: Sequence[tuple[str, Mapping[str, Any]]],
                         *, require_alias: bool = True) -> BulkResult:
        """(id, update body) pairs as `update`s (documents.merge makes them); a no-op (an
        older state, no new usage) counts as a conflict."""
        ops = [pair for doc_id, body in updates for pair in (
            {"update": {"_index": target, "_id": doc_id, "retry_on_conflict": 5}}, body)]
        return await self._bulk_ops(ops, require_alias)

    async def _bulk_ops(self, ops: list[Mapping[str, Any]], require_alias: bool
                        ) -> BulkResult:
        """Send (action, source) pairs in requests of at most BULK_BYTES (a pair over it goes
        alone), each retried alone while transient."""
        result = BulkResult()
        pairs = [orjson.dumps(ops[i]) + b"\n" + orjson.dumps(ops[i + 1]) + b"\n"
                 for i in range(0, len(ops), 2)]
        start = 0
        while start < len(pairs):
            end, size = start + 1, len(pairs[start])
            while end < len(pairs) and size + len(pairs[end]) <= BULK_BYTES:
                size += len(pairs[end])
                end += 1
            body = b"".join(pairs[start:end])
            for item in await self._call(partial(self._bulk_once, body, require_alias)):
                tally(result, item)
            start = end
        return result

    async def _bulk_once(self, body: bytes, require_alias: bool) -> list[dict[str, Any]]:
        """One bulk request's items (only the fields tally reads, by filter_path); transient
        item failures make the whole request transient (it is idempotent)."""
        reply = await self._bulk(body, require_alias)
        items: list[dict[str, Any]] = getattr(reply, "body", reply).get("items", [])
        for item in items:
            entry = next(iter(item.values()))
            status = int(entry.get("status", 500))
            if status == 429 or status >= 500:
                raise _Transient(f"bulk item {entry.get('_id')}: {status} {entry.get('error')}")
            if status == 404:
                raise IndexMissing(str(entry.get("error")))
        return items

    async def _bulk(self, body: bytes, require_alias: bool) -> Any:
        return await self.client.bulk(body=body, require_alias=require_alias,
                                      filter_path=BULK_FIELDS)

    async def search(self, alias: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._do(lambda: self.client.search(index=alias, body=dict(body))))

    async def count(self, alias: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": dict(query)} if query else None
        reply = await self._do(lambda: self.client.count(index=alias, body=body))
        return int(reply["count"])

    async def refresh(self, alias: str) -> None:
        await self._do(lambda: self.client.indices.refresh(index=alias))

    async def indices_of(self, alias: str) -> list[str]:
        return await self._call(lambda: self._aliased(alias))

    async def swap_alias(self, alias: str, new_index: str) -> list[str]:
        """Point the alias at `new_index` alone in one atomic `_aliases` request."""
        old = [name for name in await self.indices_of(alias) if name != new_index]
        actions: list[dict[str, Any]] = [{"remove": {"index": n, "alias": alias}} for n in old]
        actions.append({"add": {"index": new_index, "alias": alias, "is_write_index": True}})
        await self._do(lambda: self.client.indices.update_aliases(body={"actions": actions}))
        return old

    async def delete_index(self, name: str) -> None:
        with contextlib.suppress(IndexMissing):
            await self._do(lambda: self.client.indices.delete(index=name))

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self.client.close()
