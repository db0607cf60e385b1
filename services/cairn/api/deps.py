"""Dependencies as `Annotated` aliases, so a route reads `def put(actor: CurrentActor, ...)`.

Everything comes from `app.state`, filled by the lifespan in app.py; nothing is global.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cairn.api.errors import ApiError, Reason, not_found
from cairn.api.principals import principal_of
from cairn.api.usage import UsageEmitter
from cairn.api.visibility import Hidden, hidden_projects
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.settings import Settings
from cairn.core.domain.access import Principal
from cairn.core.domain.identity import InvalidInput, check_alias, check_name, is_version_selector
from cairn.readmodel.commits import CommitSignal
from cairn.readmodel.projects import has_artifact
from cairn.search.backend import SearchBackend


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def _emitter(request: Request) -> Emitter:
    return request.app.state.emitter  # type: ignore[no-any-return]


def _blobs(request: Request) -> BlobStore:
    return request.app.state.blobs  # type: ignore[no-any-return]


def _usage(request: Request) -> UsageEmitter:
    return request.app.state.usage  # type: ignore[no-any-return]


def _search(request: Request) -> SearchBackend:
    return request.app.state.search  # type: ignore[no-any-return]


def _commits(request: Request) -> CommitSignal:
    return request.app.state.commits  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
CommitsDep = Annotated[CommitSignal, Depends(_commits)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
EmitterDep = Annotated[Emitter, Depends(_emitter)]
BlobsDep = Annotated[BlobStore, Depends(_blobs)]
SearchDep = Annotated[SearchBackend, Depends(_search)]
UsageDep = Annotated[UsageEmitter, Depends(_usage)]

_bearer = HTTPBearer(auto_error=False, description="A Cairn token (`cairn token create`, "
                     "`cairn login`) or a bootstrap token; reads of public projects need none")


async def _principal(request: Request,
                     _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                     ) -> Principal:
    """The caller (cairn.api.principals; the policy dependency resolved it already)."""
    return await principal_of(request)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


async def _current_actor(principal: CurrentPrincipal) -> str:
    """The caller's name: the `actor` of every event this request emits. The policy table
    already refused the anonymous wherever a route needs an actor; this is the backstop."""
    if principal.anonymous:
        why = f" (the token presented is {principal.token_problem})" \
            if principal.token_problem else ""
        raise ApiError(401, Reason.UNAUTHENTICATED,
                       f"this needs 'Authorization: Bearer <token>'{why}: set CAIRN_TOKEN or "
                       "run `cairn login`", headers={"WWW-Authenticate": "Bearer"})
    return principal.name


CurrentActor = Annotated[str, Depends(_current_actor)]


async def _hidden(principal: CurrentPrincipal, pool: PoolDep) -> Hidden:
    return await hidden_projects(pool, principal)


HiddenProjects = Annotated[Hidden, Depends(_hidden)]  # private, not the caller's; and unseen


async def _existing_artifact(project: str, name: str, pool: PoolDep) -> str:
    """`project/name` if the ledger knows it: writes to an unknown artifact get 404 at once
    instead of an event the ledger would only reject later."""
    check_name(project, "project")
    check_name(name)
    if not await has_artifact(pool, project, name):
        raise not_found(f"artifact {project}/{name}")
    return f"{project}/{name}"


ExistingArtifact = Annotated[str, Depends(_existing_artifact)]


def check_selector(selector: str) -> str:
    """vN, a digest prefix (7+ hex, `sha256:` optional) or an alias, as the ledger resolves it."""
    bare = selector.removeprefix("sha256:")
    if is_version_selector(bare):
        return bare
    try:
        return check_alias(selector)
    except InvalidInput:
        raise InvalidInput(
            "invalid_selector",
            f"{selector!r} is not a version: use vN, 7+ hex digits of a digest, or an alias",
        ) from None


def _selector(selector: str) -> str:
    return check_selector(selector)


Selector = Annotated[str, Depends(_selector)]
