"""The api's OpenAPI spec: FastAPI's generated schema plus what the routes cannot declare.

Every refusal goes through cairn.api.errors (one body: `{"error": {"reason", "message"}}`),
from the policy guard, the input guard and middleware as much as from the routes, so the
error answers are documented here, once, for every operation, rather than route by route.
FastAPI's own 422 body (`HTTPValidationError`) is never sent (errors.py translates it), so
its entry is replaced too. The stable codes an error's `reason` can hold, each with its status
and meaning, are published once as the spec's `x-error-codes` (from cairn.core.domain.error_codes).
Clients and schemathesis (tests/integration/test_openapi_fuzz.py) hold the api to this spec.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from cairn.api.errors import ErrorBody
from cairn.api.models import Publish
from cairn.core.domain.error_codes import CODES, FAMILIES, Where

REF = "#/components/schemas/{model}"

# Status -> when it is answered. Writes (WRITES) may also answer BODY_ONLY.
ERRORS: dict[int, str] = {
    400: "bad input (a malformed name, ref, value or character): `reason` says which",
    401: "no token, or an unknown, expired or revoked one (`WWW-Authenticate: Bearer`)",
    403: "the caller lacks a permission: `permission` names it",
    404: "no such thing, or one the caller may not see: both are answered alike",
    409: "the name is taken by another kind of principal",
    413: "the body or a file is over its limit",
    422: "the request does not fit this operation's parameters, body or rules",
    503: "PostgreSQL, Kafka or the search engine did not answer; retry the same request",
}
BODY_ONLY = {409, 413}
WRITES = {"post", "put", "patch"}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Serve `contract(app)` as the app's /openapi.json (built once, on first request)."""
    app.openapi = lambda: contract(app)  # type: ignore[method-assign]


def contract(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                             routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_hand_read_models())
        for name in FASTAPI_VALIDATION:
            schemas.pop(name, None)
        schemas["ErrorDetail"]["properties"]["reason"]["description"] = (
            "a stable code to branch on: one of `x-error-codes` (or http_<status>)")
        schema["x-error-codes"] = error_codes()
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                _document_errors(method, operation)
        app.openapi_schema = schema
    return app.openapi_schema


def error_codes() -> dict[str, dict[str, Any]]:
    """Every code the api answers with: its status and what it means."""
    return {code: {"status": c.status, "meaning": c.meaning}
            for code, c in {**CODES, **{f"{k}<status>": v for k, v in FAMILIES.items()}}.items()
            if c.where is Where.API and c.answered_as is None}


def _hand_read_models() -> dict[str, Any]:
    """Publish, which the publish route reads by hand (JSON or multipart) and so never
    declares as a parameter, and the error body."""
    _, defs = models_json_schema([(Publish, "validation"), (ErrorBody, "serialization")],
                                 ref_template=REF)
    found: dict[str, Any] = defs["$defs"]
    return found


def _document_errors(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    error = {"application/json": {"schema": {"$ref": REF.format(model=ErrorBody.__name__)}}}
    for status, meaning in ERRORS.items():
        if status in BODY_ONLY and method not in WRITES:
            continue
        entry = responses.setdefault(str(status), {"description": meaning})
        if status == 422:  # FastAPI's entry, for a body errors.py never sends
            entry.update(description=meaning, content=error)
        entry.setdefault("content", error)
