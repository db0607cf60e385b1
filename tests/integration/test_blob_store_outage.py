"""A blob store that is down for a moment: the SDK tries again with backoff and the transfer
goes through once the store is back; a store that stays down is reported as such after a few
attempts (blob_store_unreachable); an upload in parts cut by the outage resumes with the parts
the store lacks. The api runs on S3 (the stack's s3proxy) behind a small TCP proxy on
loopback that refuses connections until the test brings it up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cairn.sdk import CairnError, Client, parts
from cairn.sdk.http import StoreRetry

from tests.conftest import API_TOKEN, api_env
from tests.ledger_helpers import settings_for
from tests.processes import Service
from tests.s3_server import fresh_url, require_s3, service_s3_env

OUTAGES = {"blob_store_unreachable", "store_unreachable"}


class Outage:
    """The S3 server as the api and the SDK see it: while down, the port is bound but not
    listening (a connection is refused, as by a stopped server) and open connections are
    cut; while up, every connection is forwarded to the real server."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = 0
        self.live: list[socket.socket] = []
        self.listening = False
        self.sock = self._bound()
        self.url = f"http://127.0.0.1:{self.port}"

    def _bound(self) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        return sock

    def up(self) -> None:
        if not self.listening:
            self.listening = True
            self.sock.listen()
            threading.Thread(target=self._serve, args=(self.sock,), daemon=True).start()

    def down(self) -> None:
        if self.listening:  # shutdown wakes the accept() that close alone would not
            self.sock.shutdown(socket.SHUT_RDWR)
        self.listening = False
        self.sock.close()
        for conn in self.live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.live.clear()
        self.sock = self._bound()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.live += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@contextlib.contextmanager
def api_behind_outage(cairn_env: dict[str, str], tmp_path: Path,
                      **extra: str) -> Iterator[tuple[Outage, Service]]:
    """An api whose S3 store sits behind an Outage that starts down."""
    s3 = require_s3()
    store = Outage(s3["AWS_ENDPOINT_URL"])
    env = {**api_env(cairn_env, **extra),
           **service_s3_env({**s3, "AWS_ENDPOINT_URL": store.url}, fresh_url(s3, "outage"))}
    (tmp_path / "logs").mkdir()
    api = Service("api", env, tmp_path / "logs").start()
    try:
        yield store, api
    finally:
        api.stop()
        store.down()
        store.sock.close()


@pytest.fixture
def outage(cairn_env: dict[str, str], ledger: Service, tmp_path: Path
           ) -> Iterator[tuple[Outage, Service]]:
    with api_behind_outage(cairn_env, tmp_path) as running:
        yield running


def a_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(2 * 1024 * 1024 + 3)
    (tmp_path / "w.bin").write_bytes(data)
    return tmp_path / "w.bin", data


def test_a_publish_and_a_pull_ride_out_a_store_that_comes_back(
        outage: tuple[Outage, Service], cairn_env: dict[str, str], tmp_path: Path) -> None:
    store, api = outage
    retried: list[str] = []

    def back(error: CairnError, attempt: int) -> None:  # the store returns after one failure
        retried.append(error.reason)
        store.up()

    path, data = a_file(tmp_path)
    with Client(api.url, API_TOKEN, settings_for(cairn_env), progress=False,
                store_retry=StoreRetry(on_retry=back)) as sdk:
        published = sdk.publish("model", f"outage-{uuid.uuid4().hex[:8]}", "m", [str(path)],
                                root=tmp_path)
        assert len(retried) == 1 and retried[0] in OUTAGES, retried
        store.down()
        [pulled] = sdk.pull(published.ref, tmp_path / "out")
    assert pulled.read_bytes() == data
    assert len(retried) == 2 and retried[1] in OUTAGES, retried


def test_a_bulk_publish_rides_out_a_store_that_comes_back(
        outage: tuple[Outage, Service], cairn_env: dict[str, str], tmp_path: Path) -> None:
    """publish_many uploads through the api (PUT /v1/blobs/...), retried as well."""
    from cairn.sdk import Item

    store, api = outage
    retried: list[str] = []

    def back(error: CairnError, attempt: int) -> None:
        retried.append(error.reason)
        store.up()

    path, _ = a_file(tmp_path)
    (tmp_path / "x.bin").write_bytes(os.urandom(1000))
    project = f"outage-{uuid.uuid4().hex[:8]}"
    with Client(api.url, API_TOKEN, settings_for(cairn_env), progress=False,
                store_retry=StoreRetry(on_retry=back)) as sdk:
        results = sdk.publish_many([Item("model", project, name, [file], root=tmp_path)
                                    for name, file in (("m", "w.bin"), ("n", "x.bin"))])
    assert [r.status for r in results] == ["recorded", "recorded"], results
    assert len(retried) == 1 and retried[0] in OUTAGES, retried


def test_a_store_that_stays_down_is_reported_after_the_attempts(
        outage: tuple[Outage, Service], cairn_env: dict[str, str], tmp_path: Path) -> None:
    _, api = outage
    attempts: list[int] = []
    path, _ = a_file(tmp_path)
    with Client(api.url, API_TOKEN, settings_for(cairn_env), progress=False,
                store_retry=StoreRetry(attempts=3, first_wait=0.2,
                                       on_retry=lambda e, n: attempts.append(n))) as sdk, \
            pytest.raises(CairnError) as failed:
        sdk.publish("model", f"outage-{uuid.uuid4().hex[:8]}", "m", [str(path)], root=tmp_path)
    assert failed.value.reason == "blob_store_unreachable"
    assert failed.value.status == 503
    assert "after 3 attempts" in failed.value.message
    assert "CAIRN_BLOB_URL" in failed.value.message
    assert attempts == [1, 2]


def test_an_upload_cut_by_the_store_going_down_resumes_with_the_missing_parts(
        cairn_env: dict[str, str], ledger: Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file in four parts, sent one at a time: the store goes down once two are in; the
    SDK's next attempt, once it is back, resumes the upload and sends only parts 3 and 4."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(parts, "PARTS_IN_FLIGHT", 1)
    sent: list[list[int]] = [[]]
    real = parts.put_part

    with api_behind_outage(cairn_env, tmp_path,
                           CAIRN_MULTIPART_PART_BYTES=str(5 * 1024 * 1024)) as (store, api):
        def counted(client: Any, url: str, source: Path, number: int, *args: Any) -> None:
            real(client, url, source, number, *args)
            sent[-1].append(number)
            if number == 2 and len(sent) == 1:
                store.down()

        def back(error: CairnError, attempt: int) -> None:
            sent.append([])
            store.up()

        monkeypatch.setattr(parts, "put_part", counted)
        store.up()
        data = os.urandom(3 * 5 * 1024 * 1024 + 999)
        (tmp_path / "w.bin").write_bytes(data)
        with Client(api.url, API_TOKEN, settings_for(cairn_env), progress=False,
                    store_retry=StoreRetry(on_retry=back)) as sdk:
            published = sdk.publish("model", f"outage-{uuid.uuid4().hex[:8]}", "m",
                                    [str(tmp_path / "w.bin")], root=tmp_path)
            assert sent == [[1, 2], [3, 4]]
            [entry] = sdk.show(published.ref)["files"]
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            [pulled] = sdk.pull(published.ref, tmp_path / "out")
    assert pulled.read_bytes() == data
