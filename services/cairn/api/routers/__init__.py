"""One router per resource, gathered by `include_all`."""

from __future__ import annotations

from fastapi import FastAPI

from cairn.api.routers import (
    access,
    aliases,
    artifacts,
    audit,
    blobs,
    environments,
    events,
    health,
    lineage,
    openlineage,
    pictures,
    projects,
    search,
    subscriptions,
    usage,
    versions,
)


def include_all(app: FastAPI) -> None:
    # pictures before lineage: /v1/lineage/{ref:path} would take `p/n@v1.svg` as a ref
    for module in (health, blobs, artifacts, versions, aliases, events, pictures, lineage,
                   search, usage, subscriptions, access, projects, audit, openlineage,
                   environments):
        app.include_router(module.router)
