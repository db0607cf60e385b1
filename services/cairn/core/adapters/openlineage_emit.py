"""Emit what one OpenLineage event maps to (cairn.core.domain.openlineage.Mapped), the same
way for the api's /api/v1/lineage and the openlineage topic's consumer: each version's
descriptor file stored as a blob first (a version names only stored blobs), then its
Published event, the archive requests after it (same artifact, same partition: in order),
and the run or job state as a config event. Every event id is derived from the OpenLineage
event, so sending it again changes nothing (the ledger dedupes by event_id)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.domain.event_types import ArtifactEvent, Payload
from cairn.core.domain.events import new_config_event, new_event
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.openlineage import Mapped, Routing, mapped


async def mapped_live(event: Mapping[str, Any], routing: Routing, kinds: tuple[str, ...],
                      live_digests: Callable[[str], Awaitable[list[str]]]) -> Mapped:
    """`mapped`, and for a DROP again with the live versions of each dropped dataset
    (`live_digests(artifact)`, from the read model), so the DROP archives them all."""
    result = mapped(event, routing, kinds)
    if not result.archives:
        return result
    dropped = {a.artifact for a in result.archives}
    return mapped(event, routing, kinds, live={a: await live_digests(a) for a in dropped})


async def emit_mapped(emitter: Emitter, blobs: BlobStore, mapped: Mapped, *, actor: str,
                      tool: str) -> list[str]:
    """The ids of the events emitted, once Kafka acknowledged each; a body that does not fit
    its Avro schema is InvalidInput (invalid_payload)."""
    for version in mapped.versions:
        sha = version.body["files"][0]["sha256"]
        await asyncio.to_thread(blobs.put, [version.descriptor], sha)
    events: list[ArtifactEvent[Payload]] = [
        new_event(v.artifact, "Published", v.body, actor=actor, tool=tool, event_id=v.event_id)
        for v in mapped.versions]
    archives: list[ArtifactEvent[Payload]] = [
        new_event(a.artifact, "LifecycleRequested", a.body, actor=actor, tool=tool,
                  event_id=a.event_id) for a in mapped.archives]
    try:
        if events or archives:
            await emitter.emit_async(*events, *archives)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # fastavro's refusals
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("invalid_payload", f"the event does not fit its Avro schema: {exc}"
                           ) from exc
    ids = [str(e["event_id"]) for e in (*events, *archives)]
    if mapped.state is not None:
        state = mapped.state
        config = new_config_event(state.kind, state.key, state.body, actor=actor, tool=tool)
        config["event_id"] = state.event_id
        await emitter.emit_config_async(config)
        ids.append(state.event_id)
    return ids
