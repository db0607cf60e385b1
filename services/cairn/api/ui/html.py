"""Rendering for the UI: one autoescaping Jinja2 environment, security headers on every
/ui response, and errors under /ui as readable pages (the JSON handlers decide status,
reason and message; this only changes how the answer looks).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.api.principals import principal_of

HERE = Path(__file__).parent
# Scripts only from our own static file (no inline script can run), which may fetch only
# from this origin (the search box's suggestions).
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin", "x-frame-options": "DENY"}


def under_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def version_url(ref: str) -> str:
    """`project/name@vN` → its page (any other text → the search page)."""
    artifact, _, selector = ref.partition("@")
    project, _, name = artifact.partition("/")
    if not (project and name and selector):
        return "/ui"
    return f"/ui/artifacts/{quote(project)}/{quote(name)}/versions/{quote(selector)}"


def blank(value: object) -> bool:
    """Shown as nothing: None, and empty text, lists and mappings."""
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def flat(value: object) -> bool:
    """A list or mapping of plain values only (drawn as chips or a small table, not JSON)."""
    items = value.values() if isinstance(value, dict) else value
    return isinstance(items, Iterable) and not isinstance(items, str) and all(
        blank(x) or isinstance(x, str | int | float | bool) for x in items)


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
_env.filters["version_url"] = version_url
_env.filters["url"] = lambda text: quote(str(text), safe="")
_env.filters["urlpath"] = lambda text: quote(str(text), safe="/")  # a file's path
_env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)
_env.tests["blank"] = blank
_env.tests["flat"] = flat
templates = Jinja2Templates(env=_env)


async def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, name,
                                      {"who": await principal_of(request), **context},
                                      status_code=status)


class UiHeaders:
    """Adds HEADERS (a strict Content-Security-Policy first) to every /ui response, and
    `Cache-Control: no-store` unless the route chose one: pages may show private projects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not under_ui(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = list(message.get("headers", []))
                names = {k.lower() for k, _ in given}
                extra = {**HEADERS, "cache-control": "no-store"}
                given += [(k.encode(), v.encode()) for k, v in extra.items()
                          if k.encode() not in names]
                message["headers"] = given
            await send(message)

        await self.app(scope, receive, with_headers)


Handler = Callable[[Request, Exception], Awaitable[Response]]
# An entry of app.exception_handlers as Starlette types it (ours are all async).
JsonHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def _as_page(json_handler: JsonHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = json_handler(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        if not under_ui(request.url.path) or request.url.path.endswith(".svg"):
            return answer
        error = json.loads(bytes(answer.body)).get("error", {})
        # no lookup here: the error may be that the database is away
        who = getattr(request.state, "principal", None)
        reply = templates.TemplateResponse(request, "error.html", {
            "who": who, "error": error, "status": answer.status_code},
            status_code=answer.status_code)
        if "www-authenticate" in answer.headers:
            reply.headers["www-authenticate"] = answer.headers["www-authenticate"]
        return reply

    return handle


def install_error_pages(app: FastAPI) -> None:
    """Wrap each JSON error handler (cairn.api.errors.install ran first)."""
    for exc_type, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(exc_type, _as_page(handler))
