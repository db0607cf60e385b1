"""Toxiproxy on loopback, driven through its HTTP API: the network between a service and
Kafka, PostgreSQL, the registry or OpenSearch, cut, slowed or closed on demand.

The server is built from its Go module by scripts/toxiproxy (into .cache/, once) and started
here on a free port; each proxy listens on another free loopback port. A fault is a toxic:
`cut()` drops every byte both ways and leaves connections open (what a partition looks like
to a client: nothing answers, nothing fails, only the client's own timeouts end the wait;
Toxiproxy resets the connections that lived through it when the cut is removed),
`latency(ms)` delays every reply, `refuse()` closes the proxy (connections refused),
`reopen()` lets bytes through again without closing the links a cut left half-open, and
`heal()` undoes them all.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.endpoints import ROOT
from tests.processes import free_port, stop_group


class Proxy:
    def __init__(self, api: httpx.Client, name: str, listen: int) -> None:
        self._api, self.name, self.port = api, name, listen

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _toxic(self, name: str, kind: str, stream: str, **attributes: int) -> None:
        self._api.post(f"/proxies/{self.name}/toxics", json={
            "name": name, "type": kind, "stream": stream, "toxicity": 1.0,
            "attributes": attributes}).raise_for_status()

    def cut(self) -> None:
        """Every byte dropped both ways, connections held open (timeout 0: never closed)."""
        for stream in ("upstream", "downstream"):
            self._toxic(f"cut-{stream}", "timeout", stream, timeout=0)

    def latency(self, ms: int) -> None:
        """Each reply delayed by `ms` (the upstream is answered that much later)."""
        self._toxic("latency", "latency", "downstream", latency=ms, jitter=0)

    def reopen(self) -> None:
        """The route back, but the links that lived through a cut left as they are, as a real
        partition leaves them: each toxic's toxicity set to 0, so bytes flow again, new links
        untouched, and nothing is reset, while what was dropped stays dropped (a request
        whose bytes were lost is answered never). heal() closes such links; this does not."""
        for toxic in self._api.get(f"/proxies/{self.name}/toxics").json():
            self._api.post(f"/proxies/{self.name}/toxics/{toxic['name']}",
                           json={"toxicity": 0.0}).raise_for_status()

    def refuse(self) -> None:
        """The proxy closed: open connections are reset, new ones refused."""
        self._api.patch(f"/proxies/{self.name}", json={"enabled": False}).raise_for_status()

    def heal(self) -> None:
        """Every toxic removed and the proxy open again."""
        for toxic in self._api.get(f"/proxies/{self.name}/toxics").json():
            self._api.delete(f"/proxies/{self.name}/toxics/{toxic['name']}").raise_for_status()
        self._api.patch(f"/proxies/{self.name}", json={"enabled": True}).raise_for_status()


class Toxiproxy:
    """One toxiproxy-server process; `proxy(name, upstream)` puts a proxy in front of a
    host:port and `url_through` rewrites a URL to go through it."""

    def __init__(self, binary: Path) -> None:
        self.port = free_port()
        self._log = Path(tempfile.mkdtemp(prefix="cairn-toxiproxy-")) / "toxiproxy.log"
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(binary), "-host", "127.0.0.1", "-port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api.get("/version").raise_for_status()
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"toxiproxy did not start; see {self._log}") from None
                time.sleep(0.2)

    def proxy(self, name: str, upstream: str, listen: int | None = None) -> Proxy:
        listen = listen or free_port()
        self.api.post("/proxies", json={"name": name, "listen": f"127.0.0.1:{listen}",
                                        "upstream": upstream, "enabled": True}
                      ).raise_for_status()
        return Proxy(self.api, name, listen)

    def url_through(self, name: str, url: str) -> tuple[str, Proxy]:
        """`url` with its host:port replaced by a new proxy to it."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        proxy = self.proxy(name, f"{parts.hostname}:{parts.port}")
        netloc = f"{userinfo}@{proxy.address}" if userinfo else proxy.address
        return urlunsplit(parts._replace(netloc=netloc)), proxy

    def close(self) -> None:
        self.api.close()
        stop_group(self.proc, 5)


def binary() -> Path:
    """scripts/toxiproxy's build (made on first use: minutes, then cached)."""
    out = subprocess.run([str(ROOT / "scripts" / "toxiproxy")], check=True, text=True,
                         stdout=subprocess.PIPE, timeout=900)
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[Toxiproxy]:
    server = Toxiproxy(binary())
    try:
        yield server
    finally:
        server.close()
