"""Liveness, readiness (PostgreSQL and Kafka answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cairn.api.deps import EmitterDep, PoolDep
from cairn.api.errors import Reason, error_response
from cairn.readmodel.health import ping

router = APIRouter(tags=["health"])
TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency does not answer"}})
async def readyz(pool: PoolDep, emitter: EmitterDep) -> Any:
    problems = []
    try:
        await asyncio.wait_for(ping(pool), TIMEOUT)
    except Exception as exc:
        problems.append(f"postgresql: {exc!r}")
    try:
        await asyncio.to_thread(emitter.producer.list_topics, emitter.topics.events,
                                timeout=TIMEOUT)
    except Exception as exc:
        problems.append(f"kafka: {exc!r}")
    if problems:
        return error_response(503, Reason.NOT_READY, "; ".join(problems))
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
