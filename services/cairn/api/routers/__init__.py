"""One router per resource, gathered by `include_all`."""

from __future__ import annotations

from fastapi import FastAPI

from cairn.api.routers import (
    aliases,
    artifacts,
    blobs,
    events,
    health,
    lineage,
    search,
    subscriptions,
    usage,
    versions,
)


def include_all(app: FastAPI) -> None:
    for module in (health, blobs, artifacts, versions, aliases, events, lineage, search, usage,
                   subscriptions):
        app.include_router(module.router)
