"""One signed webhook POST to a checked target: what the notifier's every attempt and the
api's `subscriptions test` send, so a test looks exactly like a real delivery on the wire.

The request connects only to the addresses the target check saw (`pinning`), follows no
redirect (it could lead to an address the check never saw) and lasts at most `seconds` in all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from cairn.core.adapters.pinning import pinned
from cairn.core.adapters.targets import Checked
from cairn.core.domain import webhook_signing as signing


async def post_signed(http: httpx.AsyncClient, target: Checked, *, secret: str, delivery: str,
                      event_type: str, body: bytes, seconds: float,
                      extra_headers: Mapping[str, str] | None = None) -> httpx.Response:
    """The receiver's answer; raises httpx errors or TimeoutError as they come."""
    headers = {**signing.signed_headers(secret, delivery, event_type, body, int(time.time())),
               **(extra_headers or {})}
    async with asyncio.timeout(seconds):
        with pinned(target):
            return await http.post(target.url, content=body, headers=headers, timeout=seconds,
                                   follow_redirects=False)
