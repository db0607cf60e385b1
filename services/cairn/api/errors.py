"""One error body for every failure: {"error": {"reason": <stable code>, "message": <what to fix>}}.

Clients branch on `reason`, never on the message or on FastAPI's own error shapes, so every
exception a route can raise is translated here. Every code and its status are listed once, in
cairn.core.domain.error_codes: an InvalidInput's status comes from there, and
tests/unit/test_error_codes.py holds every literal `ApiError(status, reason)` to it.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cairn.core.adapters.blobstore import BlobStoreUnavailable
from cairn.core.adapters.kafka import DeliveryFailed
from cairn.core.domain import error_codes
from cairn.core.domain.identity import InvalidInput

log = structlog.get_logger("api")


class Reason(StrEnum):
    """Reasons the api itself gives (each one in cairn.core.domain.error_codes.CODES, with its
    status);
    InvalidInput reasons from cairn.core pass through as the table says."""

    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    TOO_LARGE = "too_large"
    INVALID_REQUEST = "invalid_request"
    INVALID_CHARACTERS = "invalid_characters"  # cairn.api.input_guard
    VALUE_TOO_LONG = "value_too_long"  # cairn.api.input_guard
    MISSING_BLOBS = "missing_blobs"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_READY = "not_ready"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


_BY_STATUS = {404: Reason.NOT_FOUND, 405: Reason.METHOD_NOT_ALLOWED, 413: Reason.TOO_LARGE,
              401: Reason.UNAUTHENTICATED, 403: Reason.FORBIDDEN}


class ApiError(Exception):
    """An HTTP failure with a reason code; `extra` adds machine-readable detail to the body."""

    def __init__(self, status: int, reason: str, message: str, *,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers, self.extra = headers, extra


class ErrorDetail(BaseModel):
    """`reason` and `message` always; some reasons add detail (`permission`, `missing`...)."""

    model_config = ConfigDict(extra="allow")
    reason: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer, as the OpenAPI spec documents it."""

    error: ErrorDetail


def error_response(status: int, reason: str, message: str,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"error": {"reason": str(reason), "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, Reason.NOT_FOUND, f"{what} does not exist")


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.reason, exc.message, exc.headers, **exc.extra)


def _coded(reason: Reason, message: str) -> JSONResponse:
    """An answer whose status is the one cairn.core.domain.error_codes gives `reason`."""
    return error_response(error_codes.answer(reason)[0], reason, message)


async def _invalid_input(_: Request, exc: Exception) -> JSONResponse:
    """400 with the reason, unless the table says otherwise (413 too_large for a blob or event
    over its limit, 422 for a stage off the ladder)."""
    assert isinstance(exc, InvalidInput)
    status, reason = error_codes.answer(exc.reason)
    return error_response(status, reason, str(exc))


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:10]
    ]
    return _coded(Reason.INVALID_REQUEST, "; ".join(problems) or "invalid request")


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    reason = _BY_STATUS.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, reason, str(exc.detail), exc.headers)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable", path=request.url.path, error=repr(exc))
    return _coded(Reason.UNAVAILABLE,
                  "Kafka or PostgreSQL did not answer; retry with the same request")


async def _blob_store(request: Request, exc: Exception) -> JSONResponse:
    """503 with what is wrong with the blob store (unreachable, credentials, bucket)."""
    assert isinstance(exc, BlobStoreUnavailable)
    log.warning("blob store unavailable", path=request.url.path, reason=exc.reason,
                error=str(exc))
    return error_response(503, exc.reason, f"{exc}; retry once it is fixed")


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


async def _os_error(request: Request, exc: Exception) -> JSONResponse:
    """A full blob directory (or quota) is 507 blob_store_full: nothing was kept (blobs are
    renamed into place only once whole), and the same upload works once space is freed.
    Any other OSError is an internal error."""
    assert isinstance(exc, OSError)
    if exc.errno not in NO_SPACE:
        return await _internal(request, exc)
    log.warning("blob store full", path=request.url.path, error=str(exc))
    return error_response(507, "blob_store_full", "the api's blob store has no space left; "
                          "retry the same upload once space is freed")


async def _disconnected(_: Request, exc: Exception) -> JSONResponse:
    return _coded(Reason.INVALID_REQUEST, "the client went away mid-request")


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return _coded(Reason.INTERNAL, "internal error; the api log has the details")


UNAVAILABLE = (DeliveryFailed, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
               asyncpg.TooManyConnectionsError, ConnectionError, TimeoutError)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(BlobStoreUnavailable, _blob_store)
    for exc_type in UNAVAILABLE:
        app.add_exception_handler(exc_type, _unavailable)
    app.add_exception_handler(OSError, _os_error)  # after its subclasses above: they win
    app.add_exception_handler(Exception, _internal)
