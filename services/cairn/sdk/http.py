"""The api over HTTP: base URL, bearer token (needed for writes, sent on reads too: private
projects are readable by their members only), and errors as CairnError.

Every request goes through `request`/`stream`, so the `{"error": {"reason", "message"}}`
body and an unreachable api are translated in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import httpx
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from cairn.sdk.errors import CairnError

WRITES = ("PUT", "POST", "PATCH", "DELETE")
# a query string: names to one value or several, or (name, value) pairs in order
Params: TypeAlias = Mapping[str, str | int | Sequence[str]] | tuple[tuple[str, str], ...]
T = TypeVar("T")

# A blob store that is down may be back in seconds: the api's 503, or the store itself (a
# presigned PUT/GET) not answering or answering 5xx. Wrong credentials or a missing bucket
# (blob_store_denied, blob_store_no_bucket) stay wrong however often one asks.
_OUTAGES = {"blob_store_unreachable", "store_unreachable"}


def store_outage(exc: BaseException) -> bool:
    """Whether `exc` says the blob store is down for now (worth asking again)."""
    if not isinstance(exc, CairnError):
        return False
    return exc.reason in _OUTAGES or (exc.reason == "store_refused"
                                      and (exc.status or 0) >= 500)


@dataclass(frozen=True)
class StoreRetry:
    """How uploads and downloads ride out a blob store outage: up to `attempts` tries
    within `within` seconds, waiting `first_wait`, twice that, ... (at most `max_wait`)
    between them; then a CairnError saying what failed and what to do.
    `on_retry(error, attempt)` is called before each wait (to log it, say)."""

    attempts: int = 4
    within: float = 10.0
    first_wait: float = 0.5
    max_wait: float = 4.0
    on_retry: Callable[[CairnError, int], None] | None = None

    def run(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()`, again while the store is down; `what` ("upload", "download") names the
        transfer in the final error."""
        started = time.monotonic()

        def told(state: Any) -> None:
            error = state.outcome.exception()
            if self.on_retry is not None and isinstance(error, CairnError):
                self.on_retry(error, state.attempt_number)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.within),
            wait=wait_exponential(multiplier=self.first_wait, max=self.max_wait),
            retry=retry_if_exception(store_outage), before_sleep=told, reraise=True)
        try:
            return retrying(fn)
        except CairnError as exc:
            if not store_outage(exc):
                raise
            raise CairnError(exc.reason, f"the {what} failed: {exc.message}; still so after "
                             f"{retrying.statistics.get('attempt_number', 1)} attempts in "
                             f"{time.monotonic() - started:.0f} s. The blob store is down or "
                             "not reachable from here: check that it is up and that the "
                             "api's CAIRN_BLOB_URL and AWS_ENDPOINT_URL point at it (and that "
                             "this machine reaches that endpoint), then run this again",
                             exc.status, exc.detail) from exc


class Http:
    def __init__(self, url: str, token: str | None, client: httpx.Client | None = None,
                 timeout: float = 60.0, store_retry: StoreRetry | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.store_retry = store_retry or StoreRetry()
        # None until the api answers whether its store hands out presigned URLs; False
        # spares every later publish the request (cairn.sdk.transfer)
        self.direct_transfers: bool | None = None
        self._client = client or httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(timeout, connect=5.0))

    def require_token(self) -> str:
        if not self.token:
            raise CairnError("unauthenticated", "writing to Cairn needs a token: run "
                             "`cairn login`, or set CAIRN_TOKEN (in Python: "
                             "cairn.Client(token=...))")
        return self.token

    def _headers(self, method: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if method in WRITES:
            self.require_token()
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def request(self, method: str, path: str, *, json: Any = None,
                params: Params | None = None, content: bytes | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None, timeout: float | None = None
                ) -> httpx.Response:
        sent = self._headers(method, headers)
        limit = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            reply = self._client.request(method, self._full(path), json=json, params=params,
                                         content=content, headers=sent, timeout=limit)
        except httpx.TransportError as exc:
            raise CairnError.transport(self.url, exc) from exc
        if not reply.is_success:
            raise CairnError.from_response(reply)
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, *, params: Params | None = None,
               headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        try:
            with self._client.stream(method, self._full(path), params=params,
                                     headers=self._headers(method, headers)) as reply:
                if not reply.is_success:
                    reply.read()
                    raise CairnError.from_response(reply)
                yield reply
        except httpx.TransportError as exc:
            raise CairnError.transport(self.url, exc) from exc

    def _full(self, path: str) -> str:
        # an injected client may have no base_url; an absolute URL works with either
        return f"{self.url}{path}"

    def close(self) -> None:
        self._client.close()
