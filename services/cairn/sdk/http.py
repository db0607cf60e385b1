"""The api over HTTP: base URL, bearer token (needed for writes, sent on reads too: private
projects are readable by their members only), and errors as CairnError.

Every request goes through `request`/`stream`, so the `{"error": {"reason", "message"}}`
body and an unreachable api are translated in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import httpx

from cairn.sdk.errors import CairnError

WRITES = ("PUT", "POST", "PATCH", "DELETE")
# a query string: names to one value or several, or (name, value) pairs in order
Params: TypeAlias = Mapping[str, str | int | Sequence[str]] | tuple[tuple[str, str], ...]


class Http:
    def __init__(self, url: str, token: str | None, client: httpx.Client | None = None,
                 timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
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
                params: Params | None = None, content: Iterable[bytes] | None = None,
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
