"""Blobs on the real stack, as those outside a private project meet them: a download counts
only for a version the caller may read; uploading (`missing`, PUT) a blob only a private
project holds answers exactly as for a blob that is not there; downloads are attachments
that no shared cache keeps when a private project holds them or a token fetched them; and
every picture and download carries nosniff and a Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from cairn.api.ui.html import CSP
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import API_TOKEN, Namespace
from tests.ledger_helpers import settings_for

STRANGERS = ("anonymous", "outsider")
UNSTABLE = {"date"}  # the only header two identical answers may differ in


@dataclass(frozen=True)
class Blobs:
    shared: bytes  # private/shared-data (page.html) and public/shared-copy (copy.html)
    hidden: bytes  # only in private/secret-data (secret.html)
    public: bytes  # only in public/open-data, under a name that needs RFC 5987
    shared_ref: str
    hidden_ref: str
    public_ref: str
    public_name: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def blobs(world: World, cairn_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Blobs]:
    work = tmp_path_factory.mktemp("blob-security")
    page = b"<html><script>alert(1)</script>" + uuid.uuid4().hex.encode() + b"</html>"
    hidden, public = uuid.uuid4().bytes * 40, uuid.uuid4().bytes * 41
    odd_name = 'rapport "final" \u00e9.html'
    meta = {"creator": "tests", "license": "MIT"}

    def write(name: str, data: bytes) -> list[str]:
        (work / name).write_bytes(data)
        return [name]

    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        shared_ref = sdk.publish("dataset", world.private, "shared-data",
                                 write("page.html", page), metadata=meta, root=work).ref
        sdk.publish("dataset", world.public, "shared-copy", write("copy.html", page),
                    metadata=meta, root=work)
        hidden_ref = sdk.publish("dataset", world.private, "secret-data",
                                 write("secret.html", hidden), metadata=meta, root=work).ref
        public_ref = sdk.publish("dataset", world.public, "open-data",
                                 write(odd_name, public), root=work,
                                 metadata={**meta, "metrics": {"accuracy": 0.9}}).ref
    yield Blobs(page, hidden, public, shared_ref, hidden_ref, public_ref, odd_name)


def _same_answer(a: httpx.Response, b: httpx.Response, *, swap: tuple[str, str] = ("", "")
                 ) -> None:
    """Status, headers (but Date) and body equal, once `swap[0]` in `a` reads `swap[1]`."""
    def seen(reply: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = sorted((k, v) for k, v in reply.headers.items() if k not in UNSTABLE)
        return reply.status_code, headers, reply.content

    status, headers, body = seen(a)
    if swap[0]:
        body = body.replace(swap[0].encode(), swap[1].encode())
        headers = sorted((k, v.replace(swap[0], swap[1])) for k, v in headers)
    assert (status, headers, body) == seen(b)


async def _download_actors(ns: Namespace, ref: str) -> list[str]:
    artifact, _, selector = ref.partition("@")
    project, _, name = artifact.partition("/")
    conn = await asyncpg.connect(ns.database_url)
    try:
        rows = await conn.fetch(
            "SELECT u.actor FROM usage_events u JOIN versions v ON v.id = u.version_id "
            "JOIN artifacts a ON a.id = v.artifact_id WHERE a.project = $1 AND a.name = $2 "
            "AND v.version_number = $3 AND u.action = 'download' ORDER BY u.at",
            project, name, int(selector.removeprefix("v")))
    finally:
        await conn.close()
    return [r["actor"] for r in rows]


async def test_a_download_counts_only_for_a_version_the_caller_may_read(
        world: World, blobs: Blobs, namespace: Namespace) -> None:
    """The shared blob is public through shared-copy, so strangers may fetch it; through
    the private shared-data it counts for nobody, and the private ref changes nothing in
    the answer (as a ref into a project that does not exist)."""
    sha = _sha(blobs.shared)
    for caller in STRANGERS:
        with world.client(caller) as http:
            through_private = http.get(f"/v1/blobs/{sha}", params={"ref": blobs.shared_ref})
            through_nothing = http.get(f"/v1/blobs/{sha}",
                                       params={"ref": f"nope-{world.tag}/shared-data@v1"})
        assert through_private.status_code == 200 and through_private.content == blobs.shared
        _same_answer(through_private, through_nothing)
    with world.client("viewer") as http:  # a member's download counts, and names the file
        mine = http.get(f"/v1/blobs/{sha}", params={"ref": blobs.shared_ref})
    assert mine.status_code == 200
    assert mine.headers["content-disposition"] == 'attachment; filename="page.html"'
    # One artifact's usage is one partition, read in order: once the member's download is
    # recorded, a stranger's made before it would be too.
    viewer = world.users["viewer"]
    for _ in range(120):
        actors = await _download_actors(namespace, blobs.shared_ref)
        if viewer in actors:
            break
        await asyncio.sleep(0.5)
    assert actors == [viewer]


def test_missing_and_put_answer_a_hidden_blob_as_an_absent_one(world: World, blobs: Blobs
                                                               ) -> None:
    """`secret.html` is stored, but only the private project lists it: to an outsider, as
    HEAD already says, it is not there. Its bytes are checked as a first upload's; a wrong
    body is refused as for a blob not stored, the right one answered 201 as a first store."""
    hidden = _sha(blobs.hidden)
    absent_bytes = uuid.uuid4().bytes * 40  # as long as the hidden blob
    absent = _sha(absent_bytes)
    wrong = b"not these bytes" * 40
    with world.client("outsider") as http:
        assert http.head(f"/v1/blobs/{hidden}").status_code == 404
        asked = http.post("/v1/blobs/missing", json={"sha256": [hidden, absent]})
        assert asked.status_code == 200 and asked.json() == {"missing": [hidden, absent]}
        _same_answer(http.post("/v1/blobs/missing", json={"sha256": [hidden]}),
                     http.post("/v1/blobs/missing", json={"sha256": [absent]}),
                     swap=(hidden, absent))
        bad_hidden = http.put(f"/v1/blobs/{hidden}", content=wrong)
        bad_absent = http.put(f"/v1/blobs/{absent}", content=wrong)
        assert bad_hidden.status_code == 400, bad_hidden.text
        assert bad_hidden.json()["error"]["reason"] == "digest_mismatch"
        _same_answer(bad_hidden, bad_absent, swap=(hidden, absent))
        stored_hidden = http.put(f"/v1/blobs/{hidden}", content=blobs.hidden)
        stored_absent = http.put(f"/v1/blobs/{absent}", content=absent_bytes)
        assert stored_hidden.status_code == 201, stored_hidden.text
        _same_answer(stored_hidden, stored_absent, swap=(hidden, absent))
        assert http.head(f"/v1/blobs/{hidden}").status_code == 404  # still not theirs
    with world.client("contributor") as http:  # a member is told it is there
        assert http.post("/v1/blobs/missing", json={"sha256": [hidden]}).json() == {
            "missing": []}
        again = http.put(f"/v1/blobs/{hidden}", content=blobs.hidden)
        assert again.status_code == 200 and again.json() == {"sha256": hidden,
                                                              "size": len(blobs.hidden)}


def test_downloads_are_attachments_that_no_cache_shares_when_private(world: World,
                                                                     blobs: Blobs) -> None:
    def get(caller: str, data: bytes, ref: str | None = None) -> httpx.Response:
        with world.client(caller) as http:
            reply = http.get(f"/v1/blobs/{_sha(data)}", params={"ref": ref} if ref else None)
        assert reply.status_code == 200 and reply.content == data, reply.text
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["content-type"] == "application/octet-stream"
        assert "default-src 'none'" in reply.headers["content-security-policy"]
        return reply

    private = get("viewer", blobs.hidden, blobs.hidden_ref)
    assert private.headers["content-disposition"] == 'attachment; filename="secret.html"'
    assert private.headers["cache-control"].startswith("private")
    shared = get("anonymous", blobs.shared)  # two versions list it: no name, no count
    assert shared.headers["content-disposition"] == "attachment"
    assert shared.headers["cache-control"].startswith("private")  # a private project has it
    public = get("anonymous", blobs.public)  # only a public version: shared caches may keep it
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert public.headers["content-disposition"] == (
        "attachment; filename=\"rapport__final___.html\"; "
        "filename*=UTF-8''rapport%20%22final%22%20%C3%A9.html")
    assert get("viewer", blobs.public).headers["cache-control"].startswith("private")


def test_pictures_carry_the_uis_csp_and_nosniff(world: World, blobs: Blobs) -> None:
    name = blobs.public_ref.partition("@")[0].partition("/")[2]
    pictures = [f"/v1/lineage/{blobs.public_ref}.{fmt}" for fmt in ("svg", "png", "dot")]
    pictures.append(f"/v1/artifacts/{world.public}/{name}/metrics.svg?metric=accuracy")
    with world.client("anonymous") as http:
        for path in pictures:
            reply = http.get(path)
            assert reply.status_code == 200, (path, reply.text)
            assert reply.headers["content-security-policy"] == CSP, path
            assert reply.headers["x-content-type-options"] == "nosniff", path
        data = http.get(f"/v1/lineage/{blobs.public_ref}")  # JSON: nosniff, no page policy
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in data.headers
