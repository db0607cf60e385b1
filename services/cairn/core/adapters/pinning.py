"""Outgoing HTTP that connects only to addresses a target check saw (no DNS rebinding).

`cairn.core.adapters.targets.check_address` resolves a hook's or webhook's host and checks every
address; `pinned(checked)` then lets the request, for its duration, connect to those addresses
and nothing else. The client from `pinned_client()` never resolves a name itself: its network
backend looks the URL's host up among the pins of the running task (a context variable) and
refuses a host that has none, so a request nobody checked cannot go anywhere.

Why at the connection and not by putting the IP in the URL: the URL keeps its host, so the
Host header, TLS SNI and certificate verification stay those of the name, and the connection
pool stays keyed by the name. An IP URL would pool connections by address, and a TLS
connection verified for one subscriber's host could then carry another host's webhook.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpcore
import httpx

from cairn.core.adapters.targets import Checked

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's
_PINS: contextvars.ContextVar[Mapping[str, tuple[str, ...]] | None] = contextvars.ContextVar(
    "cairn_pinned_addresses", default=None)


def host_key(url: str) -> str:
    """The host as the connection layer sees it (IDNA-encoded, IPv6 without brackets)."""
    return httpx.URL(url).raw_host.decode("ascii").lower()


@contextlib.contextmanager
def pinned(target: Checked) -> Iterator[None]:
    """Within the block, connections to the target's host go to its checked addresses only."""
    token = _PINS.set({**(_PINS.get() or {}), host_key(target.url): target.addresses})
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's backend with name resolution replaced by the task's pins."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's API
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINS.get() or {}).get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting: refused")
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order, like a plain connect
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str,
                                  timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not a hook or webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose backend is PinnedBackend (httpx takes
    no backend argument, so the pool it built is replaced by the same pool with ours)."""

    def __init__(self, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=PinnedBackend())


def pinned_client(limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """A client for hooks and webhooks: pinned connections, no redirects, no proxies from the
    environment (a proxy would resolve the name again)."""
    return httpx.AsyncClient(transport=PinnedTransport(limits), follow_redirects=False,
                             trust_env=False)
