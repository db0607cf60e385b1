"""One router per resource, gathered by `include_all`."""

from __future__ import annotations

from fastapi import FastAPI

from cairn.api.routers import (
    access,
    aliases,
    artifacts,
    audit,
    blobs,
    events,
    health,
    lineage,
    projects,
    search,
    subscriptions,
    usage,
    versions,
)


def include_all(app: FastAPI) -> None:
    for module in (health, blobs, artifacts, versions, aliases, events, lineage, search, usage,
                   subscriptions, access, projects, audit):
        app.include_router(module.router)
