"""Where Cairn's outgoing HTTP may go: validator hooks and notifier webhooks.

URLs are registered by users (project rules, subscriptions), so a target resolving to a
private, loopback, link-local or otherwise non-public address is refused unless the operator
allows it with a setting: a hook or a webhook must not become a way into the internal network.
The check resolves the name each time it is called (DNS can change between registration and
delivery, so callers check at both) and returns the addresses it checked: the request must
then connect to one of those (`cairn.core.adapters.pinning`), never resolve the name again,
or a name
that answers a public address to the check and a private one a moment later (DNS rebinding)
would get through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolve = Callable[[str, int], Awaitable[list[str]]]  # (host, port) → addresses, or OSError


class Refused(ValueError):
    """The target may not be called (a non-public address, or not an http(s) URL)."""


@dataclass(frozen=True)
class Checked:
    """A target that passed the check, with the addresses the check saw for its host."""

    url: str
    host: str
    addresses: tuple[str, ...]


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


def non_public(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address if it is not a public one (loopback, private, link-local, ...), else None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the scope is no help
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever 3.11 says
    return None if ip.is_global else ip


def allowed_origins(configured: str) -> frozenset[str]:
    """`CAIRN_WEBHOOK_ALLOW`'s origins, each as `origin` spells it (so `HTTP://127.0.0.1:80/`
    and `http://127.0.0.1:80` are the same entry); a malformed entry is a start-up error."""
    entries = [e.strip() for e in configured.split(",") if e.strip()]
    for entry in entries:
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError(f"allow-list entry {entry!r} must be an origin: http(s)://host:port")
    return frozenset(origin(e) for e in entries)


async def check_address(url: str, allow_private: bool, *, setting: str,
                        resolve: Resolve = resolve_host,
                        allowed: frozenset[str] = frozenset()) -> Checked:
    """The target with the addresses to connect to; Refused if `url` is not http(s) or any
    address of its host is not public (unless `allow_private`, or the URL's exact origin is
    in `allowed`); OSError if the name does not resolve. `setting` names the variable that
    would allow private targets. The name is resolved even when private targets are allowed,
    so the request goes where it was resolved to, once."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"url {url!r} must be http(s)://host/…")
    addresses = await resolve(parts.hostname, parts.port or (443 if parts.scheme == "https"
                                                            else 80))
    if not addresses:
        raise OSError(f"{parts.hostname} resolves to no address")
    if origin(url) in allowed:
        allow_private = True  # named one by one by the operator (CAIRN_WEBHOOK_ALLOW)
    for address in addresses if not allow_private else ():
        if (bad := non_public(address)) is not None:
            raise Refused(f"{parts.hostname} resolves to the non-public address {bad} "
                          f"(allowed only with {setting}=true)")
    return Checked(url, parts.hostname, tuple(addresses))


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what logs and delivery records show of a target, whose
    path and query may carry a secret (a Slack webhook's path is its credential)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"
