"""ASGI middleware: the body limit of JSON endpoints, request metrics, and the headers that
keep a browser from sniffing or running what the api answers.

All are plain ASGI rather than BaseHTTPMiddleware, so streamed uploads and downloads pass
through untouched.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.api.errors import Reason, error_response
from cairn.api.ui.html import CSP

REQUESTS = Counter("cairn_api_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cairn_api_request_seconds", "HTTP request latency", ["method", "route"])


def streams_itself(scope: Scope) -> bool:
    """Routes that stream their body into the blob store and count it against their own
    limits (CAIRN_MAX_FILE_BYTES, CAIRN_MAX_FILES) instead of CAIRN_MAX_EVENT_BYTES."""
    method, path = str(scope["method"]), str(scope["path"])
    if method == "PUT" and path.startswith("/v1/blobs/"):
        return True
    content_type: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return method == "POST" and path == "/v1/artifacts" and content_type.startswith(
        b"multipart/form-data")


class JsonBodyLimit:
    """Refuse (413) a body over `max_bytes` before any of it is parsed.

    The body is read here, at most `max_bytes` of it, and replayed to the app: every JSON
    body becomes at most one event, which may not exceed CAIRN_MAX_EVENT_BYTES anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or streams_itself(scope):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # disconnected: nothing to answer
                return None
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._refuse(scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, Reason.TOO_LARGE, f"the request body exceeds "
                                  f"{self.max_bytes} bytes (CAIRN_MAX_EVENT_BYTES)")
        await response(scope, receive, send)


class Metrics:
    """Count and time requests by route template (not raw path: bounded label values)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)


# FastAPI's documentation pages load Swagger UI and ReDoc from a CDN: the UI's policy would
# leave them blank.
DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every response, and the web UI's
    Content-Security-Policy (cairn.api.ui.html.CSP) on every one a browser could render
    as a page or picture (all but JSON and the docs pages): an SVG drawn from a label or a
    blob named `.html` runs no script. A header the route set itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["path"] in DOCS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower(): v for k, v in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                json = names.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json")
                if not (json or docs or b"content-security-policy" in names):
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
