"""A loopback webhook receiver that shows what Cairn's notifier (or `cairn subscriptions
test`) sent: `scripts/stack` starts it and names its origin in CAIRN_WEBHOOK_ALLOW, so a
user can subscribe to http://127.0.0.1:<port>/hook and watch deliveries arrive at `/`.

It keeps the last `KEEP` deliveries in memory and checks each one's signature the way a real
receiver should (`webhook_signing.verify`, with the subscription's secret derived from the
stack's webhook key and the `subscription` named in a JSON body). `POST /status/<code>`
answers that status instead of 204, to watch the notifier retry and give up.
"""

from __future__ import annotations

import html
import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from cairn.core.domain import webhook_signing as signing

KEEP = 200
MAX_BODY = 1_000_000  # bytes; a larger body is refused with 413 and not kept
SHOWN_HEADERS = ("content-type", "user-agent", "x-cairn-event", "x-cairn-delivery", "x-cairn-test",
                 "x-cairn-timestamp", "x-cairn-signature")


@dataclass(frozen=True)
class Received:
    at: float  # epoch seconds
    path: str
    answered: int
    signature: str  # valid | invalid | unchecked (no key or no subscription in the body)
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON


def signature_state(master: str, headers: dict[str, str], raw: bytes, body: Any,
                    now: float) -> str:
    """valid/invalid against the subscription's derived secret; unchecked when we cannot
    know the secret (no webhook key here, or a Slack-format body that names no subscription)."""
    sub = body.get("subscription") if isinstance(body, dict) else None
    if not master or not isinstance(sub, str):
        return "unchecked"
    secret = signing.secret_for(master.encode(), sub)
    return "valid" if signing.verify(secret, headers, raw, now) else "invalid"


def parsed(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def create_app(webhook_key: str) -> FastAPI:
    app = FastAPI(title="Cairn webhook receiver (development)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    seen: deque[Received] = deque(maxlen=KEEP)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        """Newest first, as JSON (what the page shows)."""
        return [asdict(r) for r in reversed(seen)]

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(render(list(reversed(seen))),
                            headers={"Content-Security-Policy": "default-src 'none'; "
                                     "style-src 'unsafe-inline'"})

    @app.post("/{path:path}")
    async def receive(path: str, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return Response(status_code=413)
        headers = {k: v for k, v in request.headers.items() if k.lower() in SHOWN_HEADERS}
        body = parsed(raw)
        answered = _asked_status(path)
        seen.append(Received(time.time(), "/" + path, answered,
                             signature_state(webhook_key, headers, raw, body, time.time()),
                             headers, body))
        return Response(status_code=answered)

    return app


def _asked_status(path: str) -> int:
    """`status/503` answers 503 (to try retries); anything else 204."""
    head, _, code = path.partition("/")
    if head == "status" and code.isdigit() and 200 <= int(code) <= 599:
        return int(code)
    return 204


def render(rows: list[Received]) -> str:
    """The page: one block per delivery, newest first, refreshed every 3 seconds."""
    items = "".join(_row(r) for r in rows) or (
        "<p>Nothing yet. Subscribe a team to this receiver, e.g.<br><code>cairn subscriptions "
        "add TEAM http://127.0.0.1:18090/hook --project PROJECT</code>, then publish.</p>")
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='3'><title>Cairn webhook receiver</title>"
            "<style>body{font:14px system-ui;margin:2em;max-width:70em}"
            "section{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:1em 0}"
            "pre{background:#f6f6f6;padding:.6em;overflow:auto}.valid{color:#176e2c}"
            ".invalid{color:#b00020}.unchecked{color:#666}</style></head><body>"
            f"<h1>Webhook deliveries received ({len(rows)})</h1>{items}</body></html>")


def _row(r: Received) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.at))
    event = r.headers.get("x-cairn-event", "?")
    body = r.body if isinstance(r.body, str) else json.dumps(r.body, indent=2)
    heads = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
    return (f"<section><b>{html.escape(event)}</b> to {html.escape(r.path)} at {when} UTC "
            f"· answered {r.answered} · signature <span class='{r.signature}'>{r.signature}"
            f"</span><pre>{html.escape(heads)}</pre><pre>{html.escape(body)}</pre></section>")
