"""Refuse hostile bytes once, before routing, authentication or any query.

PostgreSQL cannot store NUL (asyncpg raised CharacterNotInRepertoireError: a 500 on every
route that looked a name up), and nothing Cairn names — projects, artifacts, refs, aliases,
users, tokens, query filters — ever holds a control character. So this one ASGI layer answers
400 instead of every route checking:

- path segments and query values (after percent-decoding, as UTF-8): `invalid_characters` for
  invalid UTF-8 (which also covers encoded surrogates) or a C0 control (NUL included), DEL or
  C1 control; `value_too_long` past MAX_VALUE_CHARS characters;
- JSON bodies: `invalid_characters` for NUL (`\\u0000`) or a lone surrogate (`\\ud800`) in any
  string or key — the characters PostgreSQL's text and jsonb, and Avro's UTF-8, refuse; other
  controls stay allowed there (a model card has newlines and tabs);
- form bodies (`/ui/login`) like query values.

The body names the parameter (`parameter`) and where it was (`where`: path, query or body).
Under /ui the answer is the UI's error page. Bodies the api streams (blob uploads, multipart
publishes) are not read here.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.api.errors import Reason, error_response
from cairn.api.middleware import streams_itself
from cairn.api.policy import routes
from cairn.api.ui.html import templates, under_ui

# Longer than any name, ref or filter Cairn accepts (names 128, a full ref under 330, file
# path components 255 bytes) with room to spare; a 10,000-character value is refused here.
MAX_VALUE_CHARS = 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # what text, jsonb and UTF-8 cannot hold
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_CHECKED_BODIES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Problem:
    """Why a request is refused: reason code, the parameter, where it was, and a message."""

    reason: str
    parameter: str
    where: str
    message: str


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def text_problem(raw: bytes, parameter: str, where: str) -> Problem | None:
    """The problem with one percent-decoded path segment or query value, if any."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Problem(Reason.INVALID_CHARACTERS, parameter, where,
                       f"{where} parameter {parameter!r} is not valid UTF-8 once "
                       "percent-decoded; send text, percent-encoded as UTF-8")
    bad = _CONTROL.search(text)
    if bad:
        return Problem(Reason.INVALID_CHARACTERS, parameter, where,
                       f"{where} parameter {parameter!r} ({_shown(text)}) contains the control "
                       f"character U+{ord(bad.group()):04X}; remove it")
    if len(text) > MAX_VALUE_CHARS:
        return Problem(Reason.VALUE_TOO_LONG, parameter, where,
                       f"{where} parameter {parameter!r} is {len(text)} characters long; at "
                       f"most {MAX_VALUE_CHARS} are accepted")
    return None


def path_problem(raw_path: bytes, templates: Sequence[str], path: str) -> Problem | None:
    """The first bad segment of the (still percent-encoded) path, named by the route
    template (`/v1/artifacts/{project}/{name}`) that the decoded `path` matches."""
    for index, segment in enumerate(raw_path.split(b"/")):
        raw = unquote_to_bytes(segment)
        if text_problem(raw, "path", "path") is not None:
            return text_problem(raw, _path_parameter(templates, path, index), "path")
    return None


def _path_parameter(templates: Sequence[str], path: str, index: int) -> str:
    """The name of the parameter at segment `index` ("path" when no route matches)."""
    for template in templates:
        if compile_path(template)[0].match(path):
            for at, part in enumerate(template.split("/")):
                found = _PARAM.search(part)
                if found and (at == index or at < index and ":path}" in part):
                    return found.group(1)
            break
    return "path"


def _pairs(encoded: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Percent-decoded (name, value) pairs of a query string or form body, as bytes."""
    for item in encoded.split(b"&"):
        if item:
            name, _, value = item.partition(b"=")
            yield (unquote_to_bytes(name.replace(b"+", b" ")),
                   unquote_to_bytes(value.replace(b"+", b" ")))


def query_problem(encoded: bytes, where: str = "query") -> Problem | None:
    for raw_name, raw_value in _pairs(encoded):
        problem = text_problem(raw_name, where, where)
        if problem is not None:
            return problem
        name = raw_name.decode("utf-8")
        problem = text_problem(raw_value, name, where)
        if problem is not None:
            return problem
    return None


def json_problem(value: Any, at: str = "") -> Problem | None:
    """A NUL or lone surrogate in any string or key of a parsed JSON value."""
    if isinstance(value, str):
        bad = _UNSTORABLE.search(value)
        if bad:
            where = at or "the body"
            return Problem(Reason.INVALID_CHARACTERS, at or "body", "body",
                           f"{where} contains U+{ord(bad.group()):04X}, which cannot be "
                           "stored; remove it")
        return None
    if isinstance(value, dict):
        items: Iterator[tuple[str, Any]] = iter(value.items())
    elif isinstance(value, list):
        items = ((str(i), item) for i, item in enumerate(value))
    else:
        return None
    for key, item in items:
        path = f"{at}.{key}" if at else key
        problem = json_problem(key, path) if isinstance(value, dict) else None
        problem = problem or json_problem(item, path)
        if problem is not None:
            return problem
    return None


def body_problem(content_type: bytes, body: bytes) -> Problem | None:
    """Form bodies like query strings; anything else that parses as JSON, as JSON (the
    publish route parses a body of any content type as JSON). Unparsable bodies are the
    route's to refuse."""
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        return query_problem(body, "form")
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return json_problem(value)


class InputGuard:
    """The ASGI layer that applies the checks above. Register it inside JsonBodyLimit, which
    bounds the bodies read here; `max_bytes` bounds them again should that ever change."""

    def __init__(self, app: ASGIApp, served: Any, max_bytes: int) -> None:
        self.app, self.served, self.max_bytes = app, served, max_bytes

    @functools.cached_property
    def templates(self) -> list[str]:
        """The path of every route `served` (the FastAPI app), to name a bad parameter."""
        return sorted({path for _, path in routes(self.served)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw_path = scope.get("raw_path") or str(scope["path"]).encode()
        problem = path_problem(raw_path, self.templates, scope["path"]) or query_problem(
            scope.get("query_string", b""))
        if problem is not None:
            return await _refuse(problem, scope, receive, send)
        if scope["method"] not in _CHECKED_BODIES or streams_itself(scope):
            return await self.app(scope, receive, send)
        content_type: bytes = dict(scope["headers"]).get(b"content-type", b"")
        if content_type.startswith(b"multipart/"):
            return await self.app(scope, receive, send)
        body, more, first = bytearray(), True, True
        while more and len(body) <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":  # disconnected: nothing to answer
                return None
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
        problem = None if more or not body else body_problem(content_type, bytes(body))
        if problem is not None:
            return await _refuse(problem, scope, receive, send)

        async def replay() -> Message:
            nonlocal first
            if not first:
                return await receive()
            first = False
            return {"type": "http.request", "body": bytes(body), "more_body": more}

        await self.app(scope, replay, send)


async def _refuse(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    """400 in the api's error shape; under /ui (but its pictures) the UI's error page."""
    response: Response = error_response(400, problem.reason, problem.message,
                                        parameter=problem.parameter, where=problem.where)
    path = str(scope["path"])
    if under_ui(path) and not path.endswith(".svg"):
        error = {"reason": problem.reason, "message": problem.message,
                 "parameter": problem.parameter}
        response = templates.TemplateResponse(Request(scope), "error.html", {
            "who": None, "error": error, "status": 400}, status_code=400)
    await response(scope, receive, send)
