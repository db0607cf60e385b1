"""The pure parts of target pinning: what the check returns, and where a pinned backend
connects (a recording backend stands in for sockets; real loopback traffic is in
tests/integration/test_target_pinning.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import pytest
from cairn.core.adapters.pinning import PinnedBackend, host_key, pinned
from cairn.core.adapters.targets import Checked, Refused, allowed_origins, check_address

SETTING = "CAIRN_ALLOW_PRIVATE_WEBHOOKS"


def answers(*addresses: str) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


async def test_the_check_returns_every_address_it_checked() -> None:
    checked = await check_address("https://hooks.example.org/x", False, setting=SETTING,
                                  resolve=answers("93.184.216.34", "2606:2800:220:1::1"))
    assert checked == Checked("https://hooks.example.org/x", "hooks.example.org",
                              ("93.184.216.34", "2606:2800:220:1::1"))


@pytest.mark.parametrize("bad", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1",
                                 "::ffff:127.0.0.1", "fe80::1%eth0", "fd00::1"])
async def test_one_non_public_address_among_public_ones_refuses_the_target(bad: str) -> None:
    with pytest.raises(Refused, match=f"{SETTING}=true"):
        await check_address("http://hooks.example.org/", False, setting=SETTING,
                            resolve=answers("93.184.216.34", bad))
    allowed = await check_address("http://hooks.example.org/", True, setting=SETTING,
                                  resolve=answers(bad))
    assert allowed.addresses == (bad,)  # allowed, and still pinned to what was resolved


async def test_an_allow_list_lets_exactly_its_origins_through() -> None:
    allowed = allowed_origins(" http://127.0.0.1:18090 ,HTTP://LocalHost:9/ ")
    assert allowed == {"http://127.0.0.1:18090", "http://localhost:9"}
    ok = await check_address("http://127.0.0.1:18090/hook?x=1", False, setting=SETTING,
                             resolve=answers("127.0.0.1"), allowed=allowed)
    assert ok.addresses == ("127.0.0.1",)
    for other in ("http://127.0.0.1:18091/hook", "https://127.0.0.1:18090/hook",
                  "http://127.0.0.2:18090/"):  # another port, scheme or host: refused
        with pytest.raises(Refused):
            await check_address(other, False, setting=SETTING, resolve=answers("127.0.0.1"),
                                allowed=allowed)


@pytest.mark.parametrize("entry", ["127.0.0.1:80", "http://127.0.0.1:80/hooks", "ftp://h:1",
                                   "http://"])
def test_an_allow_list_entry_must_be_an_origin(entry: str) -> None:
    with pytest.raises(ValueError, match="must be an origin"):
        allowed_origins(entry)


async def test_a_name_without_addresses_is_unresolvable() -> None:
    with pytest.raises(OSError):
        await check_address("http://hooks.example.org/", True, setting=SETTING,
                            resolve=answers())


def test_the_pin_key_is_the_host_as_the_connection_layer_sees_it() -> None:
    assert host_key("https://Hooks.Example.org:8443/x") == "hooks.example.org"
    assert host_key("http://[::1]:8080/x") == "::1"
    assert host_key("https://bücher.example/x") == "xn--bcher-kva.example"


class Recording(httpcore.AsyncNetworkBackend):
    """Where a connection would have gone; every address but `up` refuses."""

    def __init__(self, up: str) -> None:
        self.up, self.tried = up, list[str]()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's API
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        self.tried.append(host)
        if host != self.up:
            raise httpcore.ConnectError(f"{host} refused")
        return httpcore.AsyncNetworkStream()


async def test_the_backend_connects_only_to_the_pinned_addresses_in_order() -> None:
    inner = Recording(up="93.184.216.35")
    backend = PinnedBackend(inner)
    with pytest.raises(httpcore.ConnectError, match="not checked"):
        await backend.connect_tcp("hooks.example.org", 443)
    assert inner.tried == []  # no pin: no connection at all, not a lookup of its own
    target = Checked("https://hooks.example.org/x", "hooks.example.org",
                     ("93.184.216.34", "93.184.216.35"))
    with pinned(target):
        await backend.connect_tcp("hooks.example.org", 443)
        with pytest.raises(httpcore.ConnectError, match="not checked"):
            await backend.connect_tcp("other.example.org", 443)
    assert inner.tried == ["93.184.216.34", "93.184.216.35"]
    with pytest.raises(httpcore.ConnectError, match="not checked"):  # the pin ended
        await backend.connect_tcp("hooks.example.org", 443)
