"""Where Cairn's outgoing HTTP may go: validator hooks and notifier webhooks.

URLs are registered by users (project rules, subscriptions), so a target resolving to a
private, loopback, link-local or otherwise non-public address is refused unless the operator
allows it with a setting: a hook or a webhook must not become a way into the internal network.
The check resolves the name each time it is called: DNS can change between registration and
delivery, so callers check at both.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class Refused(ValueError):
    """The target may not be called (a non-public address, or not an http(s) URL)."""


async def check_address(url: str, allow_private: bool, *, setting: str) -> None:
    """Refused if `url` is not http(s) or resolves to a non-public address; OSError if the
    name does not resolve. `setting` names the variable that would allow private targets."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"url {url!r} must be http(s)://host/…")
    if allow_private:
        return
    infos = await asyncio.get_running_loop().getaddrinfo(
        parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
        type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever 3.11 says
        if not address.is_global:
            raise Refused(f"{parts.hostname} resolves to the non-public address {address} "
                          f"(allowed only with {setting}=true)")


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what logs and delivery records show of a target, whose
    path and query may carry a secret (a Slack webhook's path is its credential)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"
