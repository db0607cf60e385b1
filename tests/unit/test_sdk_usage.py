"""The SDK's pull reports itself once, marks its reads as reported, and never fails for it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cairn.core.adapters.settings import Settings
from cairn.core.domain.usage import REPORTED, REPORTED_HEADER
from cairn.sdk import Client

from tests.unit.fake_api import TOKEN, FakeApi

ENV = {"python": "3.11", "packages": {}}


@pytest.fixture
def published(tmp_path: Path) -> tuple[FakeApi, str]:
    fake = FakeApi()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "src" / "b.bin").write_bytes(b"b" * 200)
    with Client("http://api.test", TOKEN, Settings(), http=fake.client(), progress=False) as c:
        ref = c.publish("dataset", "p", "d", ["a.bin", "b.bin"], root=tmp_path / "src",
                        environment=ENV).ref
    assert ref is not None
    fake.requests.clear()
    return fake, ref


def test_a_pull_is_reported_once_with_its_time(published: tuple[FakeApi, str],
                                               tmp_path: Path) -> None:
    fake, ref = published
    with Client("http://api.test", TOKEN, Settings(), http=fake.client(), progress=False) as c:
        c.pull(ref, tmp_path / "out")
    reads = [r for r in fake.requests if r.method == "GET"]
    assert len(reads) == 4  # resolve, a presigned URL asked once (501: a local store), two blobs
    assert all(r.headers.get(REPORTED_HEADER) == REPORTED for r in reads)
    assert all(r.url.params.get("ref") == ref for r in reads if "/blobs/" in r.url.path)
    [report] = [r for r in fake.requests if r.url.path == "/v1/usage"]
    body = json.loads(report.content)
    assert (body["ref"], body["action"]) == (ref, "download")
    assert isinstance(body["retrieve_ms"], int) and body["retrieve_ms"] >= 0


def test_a_failing_report_does_not_fail_the_pull(published: tuple[FakeApi, str],
                                                 tmp_path: Path) -> None:
    fake, ref = published

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/usage":
            raise httpx.ConnectError("api gone", request=request)
        return fake.handle(request)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    with Client("http://api.test", TOKEN, Settings(), http=http, progress=False) as c:
        assert len(c.pull(ref, tmp_path / "out")) == 2


def test_without_a_token_nothing_is_reported_and_reads_count(
        published: tuple[FakeApi, str], tmp_path: Path) -> None:
    fake, ref = published
    with Client("http://api.test", "", Settings(), http=fake.client(), progress=False) as c:
        c.pull(ref, tmp_path / "out")
    assert not [r for r in fake.requests if r.url.path == "/v1/usage"]
    assert not [r for r in fake.requests if REPORTED_HEADER in r.headers]
