"""Blobs on the real stack, as those outside a private project meet them: a download counts
only for a version the caller may read; uploading (`missing`, PUT) a blob only a private
project holds answers exactly as for a blob that is not there, and so does a publish naming
it without the receipt of the caller's own upload (knowing a sha256 is no proof of having
the bytes); downloads are attachments that no shared cache keeps when a private project
holds them or a token fetched them; and every picture and download carries nosniff and a
Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.api.ui.html import CSP
from cairn.core.domain import blob_receipts
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import API_TOKEN, SIGNING_KEY, Namespace
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


def _same_answer(a: httpx.Response, b: httpx.Response, *,
                 swap: tuple[str, str] | Sequence[tuple[str, str]] = ()) -> None:
    """Status, headers (but Date) and body equal, once each `old` in `a` reads `new`
    (`swap`: one (old, new) pair or several)."""
    def seen(reply: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = sorted((k, v) for k, v in reply.headers.items() if k not in UNSTABLE)
        return reply.status_code, headers, reply.content

    status, headers, body = seen(a)
    pairs = [swap] if swap and isinstance(swap[0], str) else list(swap)
    for old, new in pairs:
        body = body.replace(str(old).encode(), str(new).encode())
        headers = sorted((k, v.replace(str(old), str(new))) for k, v in headers)
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
        receipts = [r.headers[blob_receipts.HEADER] for r in (stored_hidden, stored_absent)]
        _same_answer(stored_hidden, stored_absent, swap=[(hidden, absent), tuple(receipts)])
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


# -- publishing a blob by its sha256 alone -------------------------------------------------


@dataclass(frozen=True)
class Vault:
    """Blobs only the private project lists, and a public project the outsider contributes
    to (so only hiding, not the project's rule, stands between them and a publish)."""

    exact: bytes  # named at publish by sha alone, with wrong sizes and a forged receipt
    honest: bytes  # the outsider has the same bytes: missing, PUT, publish with the receipt
    sdk: bytes  # the same through cairn.Client.publish
    project: str


def _wait(http: httpx.Client, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = dict(http.get(f"/v1/events/{event_id}").json())
        if status["status"] != "pending":
            return status
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} still pending")


@pytest.fixture(scope="module")
def vault(world: World, cairn_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Vault:
    work = tmp_path_factory.mktemp("vault")
    found = Vault(uuid.uuid4().bytes * 3, uuid.uuid4().bytes * 3, uuid.uuid4().bytes * 3,
                  f"outpub-{world.tag}")
    files = {"exact.bin": found.exact, "honest.bin": found.honest, "sdk.bin": found.sdk}
    for name, data in files.items():
        (work / name).write_bytes(data)
    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        sdk.publish("dataset", world.private, "vault", list(files), root=work,
                    metadata={"creator": "tests"})
    with world.client("site_admin") as admin:
        made = admin.put(f"/v1/projects/{found.project}", json={
            "visibility": "public", "members": {world.users["outsider"]: "contributor"},
            "teams": {}, "read_only_after_days": None, "description": "the outsider's"})
        assert made.status_code in (200, 201, 202), made.text
        assert _wait(admin, made.json()["event_id"])["status"] == "recorded"
    return found


def _publish_body(vault: Vault, name: str, sha: str, size: int, **fields: Any
                  ) -> dict[str, Any]:
    return {"kind": "dataset", "project": vault.project, "name": name,
            "metadata": {"creator": "outsider"},
            "files": [{"path": "data.bin", "size": size, "sha256": sha}], **fields}


def test_a_publish_naming_a_hidden_blob_answers_as_for_an_absent_one(world: World,
                                                                    vault: Vault) -> None:
    """The outsider knows the private blob's sha256, not its bytes: listing it, with the
    right size, a wrong one, or a receipt made for another actor, answers as for a blob of
    that size that was never uploaded (missing_blobs, no size_mismatch naming the stored
    size); nothing is recorded and the blob stays unreadable to anonymous callers."""
    hidden, size = _sha(vault.exact), len(vault.exact)
    absent = _sha(uuid.uuid4().bytes * 3)  # as long, never uploaded
    others = blob_receipts.receipt(SIGNING_KEY.encode(), world.users["viewer"], hidden)
    cases: list[tuple[int, dict[str, Any], dict[str, Any]]] = [
        (size, {}, {}), (size + 1, {}, {}), (1, {}, {}),
        (size, {"receipts": {hidden: others}}, {"receipts": {absent: others}}),
        (size, {"receipts": {hidden: "0" * 64}}, {"receipts": {absent: "0" * 64}}),
    ]
    with world.client("outsider") as http:
        for wanted, extra_hidden, extra_absent in cases:
            named = http.post("/v1/artifacts", json=_publish_body(
                vault, "stolen", hidden, wanted, **extra_hidden))
            unknown = http.post("/v1/artifacts", json=_publish_body(
                vault, "stolen", absent, wanted, **extra_absent))
            assert named.status_code == 400, (wanted, named.text)
            error = named.json()["error"]
            assert error["reason"] == "missing_blobs" and error["missing"] == [hidden]
            _same_answer(named, unknown, swap=(hidden, absent))
    with world.client("site_admin") as admin:
        assert admin.get(f"/v1/artifacts/{vault.project}/stolen").status_code == 404
    with world.client("anonymous") as http:
        assert http.get(f"/v1/blobs/{hidden}").status_code == 404


def test_an_outsider_with_the_bytes_publishes_them_with_the_receipt(world: World,
                                                                    vault: Vault) -> None:
    """Having the same bytes is enough: `missing` lists the blob, the PUT hashes them and
    answers 201 with a receipt, and a publish carrying it is recorded (without it, the
    blob is still missing to them)."""
    sha, size = _sha(vault.honest), len(vault.honest)
    with world.client("outsider") as http:
        assert http.post("/v1/blobs/missing", json={"sha256": [sha]}).json() == {
            "missing": [sha]}
        stored = http.put(f"/v1/blobs/{sha}", content=vault.honest)
        assert stored.status_code == 201, stored.text
        receipt = stored.headers[blob_receipts.HEADER]
        assert receipt == blob_receipts.receipt(SIGNING_KEY.encode(),
                                                world.users["outsider"], sha)
        bare = http.post("/v1/artifacts", json=_publish_body(vault, "honest", sha, size))
        assert bare.status_code == 400 and bare.json()["error"]["missing"] == [sha]
        accepted = http.post("/v1/artifacts", json=_publish_body(
            vault, "honest", sha, size, receipts={sha: receipt}))
        assert accepted.status_code == 202, accepted.text
        assert _wait(http, accepted.json()["event_id"])["status"] == "recorded"
    with world.client("anonymous") as http:  # theirs to share now: they had the bytes
        assert http.get(f"/v1/blobs/{sha}").content == vault.honest


def test_the_sdk_sends_the_receipts_of_its_uploads(world: World, vault: Vault,
                                                   cairn_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    (tmp_path / "mine.bin").write_bytes(vault.sdk)
    token = world.tokens["outsider"]
    with Client(world.api.url, token, settings_for(cairn_env), progress=False) as sdk:
        result = sdk.publish("dataset", vault.project, "by-sdk", ["mine.bin"], root=tmp_path,
                             metadata={"creator": "outsider"})
    assert result.ref == f"{vault.project}/by-sdk@v1"
