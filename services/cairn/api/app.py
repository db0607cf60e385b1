"""The composition root: `create_app(settings)` wires PostgreSQL, Kafka and the blob store.

The lifespan opens every client and closes them in `finally`, so a failed start-up or a
shutdown never leaks a pool or leaves produced events unflushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import Depends, FastAPI
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from cairn.api import errors, openapi_contract
from cairn.api.auth import bootstrap_tokens
from cairn.api.denials import Bucket
from cairn.api.guard import enforce
from cairn.api.input_guard import InputGuard
from cairn.api.middleware import JsonBodyLimit, Metrics, SecurityHeaders
from cairn.api.routers import include_all, retention
from cairn.api.ui import html as ui_html
from cairn.api.ui import pages as ui_pages
from cairn.api.ui import session as ui_session
from cairn.api.usage import UsageEmitter
from cairn.core.adapters import postgres
from cairn.core.adapters.blob_stores import hot_store
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.logs import configure
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import MissingKey, required_master
from cairn.core.adapters.topics import Topics, ensure_topics
from cairn.core.domain.webhook_signing import MissingWebhookKey
from cairn.core.domain.webhook_signing import master_key as webhook_master
from cairn.readmodel.commits import CommitSignal
from cairn.search.backend import backend_for

log = configure("api")
SEARCH_PATIENCE = 5.0


async def _open_pool(settings: Settings) -> asyncpg.Pool:
    """Wait for PostgreSQL (it may still be starting beside us) rather than fail at once."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((OSError, asyncpg.PostgresConnectionError,
                                       asyncpg.CannotConnectNowError)),
        stop=stop_after_delay(60), wait=wait_exponential(max=5), reraise=True,
    ):
        with attempt:
            return await postgres.create_pool(settings, min_size=1, max_size=10)
    raise AssertionError("unreachable")


def _open_emitter(settings: Settings) -> Emitter:
    """Create the topics if the ledger has not yet (so the first event cannot auto-create
    one with the wrong partition count) and register the event schema once, up front."""
    ensure_topics(settings.kafka_bootstrap_servers, Topics(settings.topic_prefix),
                  replication=settings.topic_replication, min_isr=settings.topic_min_isr)
    emitter = Emitter(settings, "cairn-api")
    emitter.codec.register()
    emitter.config_codec.register()
    return emitter


def _open_usage(emitter: Emitter) -> UsageEmitter:
    """Usage events share the emitter's producer (flushed when it closes) and registry."""
    usage = UsageEmitter(emitter.registry, emitter.producer, emitter.topics, emitter.signed)
    usage.register()
    return usage


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    pool = await _open_pool(settings)
    try:
        emitter = await asyncio.to_thread(_open_emitter, settings)
        try:
            app.state.pool, app.state.emitter = pool, emitter
            app.state.usage = await asyncio.to_thread(_open_usage, emitter)
            app.state.blobs = hot_store(settings)  # CAIRN_BLOB_DIR or CAIRN_BLOB_URL
            # The engine is not contacted here: the api starts (and writes work) while it is
            # down; a search then waits SEARCH_PATIENCE seconds and answers 503.
            app.state.search = backend_for(settings, patience=SEARCH_PATIENCE)
            app.state.commits = CommitSignal()  # the ledger's commits wake long polls
            await app.state.commits.start(settings)
            log.info("api ready", host=settings.http_host, port=settings.http_port,
                     events=emitter.topics.events, actors=len(app.state.tokens))
            try:
                yield
            finally:
                await app.state.commits.close()
                await app.state.search.close()
        finally:
            await asyncio.to_thread(emitter.close)
    finally:
        await pool.close()


def create_app(settings: Settings) -> FastAPI:
    # Every route goes through the policy table first (cairn.api.policy).
    app = FastAPI(title="Cairn", version="1", lifespan=lifespan, dependencies=[Depends(enforce)],
                  summary="Reproducible experiment artifact registry")
    app.state.settings = settings
    try:
        app.state.tokens = bootstrap_tokens(settings)
    except ValueError as exc:
        log.error("refusing to start", problem=str(exc))
        raise SystemExit(2) from None
    try:  # no key from the source: each install has its own (cairn.core.adapters.signing)
        required_master(settings, "the api")
        webhook_master(settings.webhook_key.get_secret_value())
    except (MissingKey, MissingWebhookKey) as exc:
        log.error("refusing to start", problem=str(exc))
        raise SystemExit(2) from None
    if not app.state.tokens:
        log.warning("no bootstrap token (CAIRN_API_TOKENS, CAIRN_ADMIN_TOKEN): only tokens "
                    "made through the api are accepted")
    app.state.denial_bucket = Bucket()
    errors.install(app)
    include_all(app)
    app.include_router(retention.router)
    app.include_router(ui_pages.router)  # the read-only web UI under /ui
    app.include_router(ui_session.router)
    ui_html.install_error_pages(app)  # errors under /ui as pages
    # refuses NUL, controls, bad UTF-8, overlong values before any query; inside the limit
    app.add_middleware(InputGuard, served=app, max_bytes=settings.max_event_bytes)
    app.add_middleware(JsonBodyLimit, max_bytes=settings.max_event_bytes)
    app.add_middleware(Metrics)
    app.add_middleware(ui_html.UiHeaders)  # CSP and friends on /ui responses
    app.add_middleware(SecurityHeaders)  # nosniff on all, CSP on what a browser renders
    openapi_contract.install(app)  # error answers documented on every operation
    return app
