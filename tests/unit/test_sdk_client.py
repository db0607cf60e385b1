"""The Client's flow against an in-memory fake of the api contract (no services)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cairn.core.adapters.settings import Settings
from cairn.sdk import CairnError, Client
from cairn.sdk.errors import UNREACHABLE

from tests.unit.fake_api import FakeApi

ENV = {"python": "3.11", "packages": {}}


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(fake: FakeApi) -> Client:
    return fake.sdk()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n1\n")
    (tmp_path / "data" / "b.csv").write_text("x\n2\n")
    return tmp_path


def test_publish_uploads_blobs_then_waits_for_the_version(client: Client, fake: FakeApi,
                                                          files: Path) -> None:
    result = client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV,
                            metadata={"creator": "ann", "metrics": {"rows": 2}})
    assert (result.ref, result.version_number, result.outcome) == ("p/d@v1", 1, "applied")
    assert len(fake.uploads) == 2
    assert fake.versions["p/d"][0]["metadata"]["metrics"] == {"rows": 2.0}


def test_only_missing_blobs_are_uploaded_and_same_content_is_one_version(
        client: Client, fake: FakeApi, files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files too large to ride inside the publish (cairn.sdk.inline): only missing ones go up."""
    monkeypatch.setattr("cairn.sdk.inline.INLINE_BYTES", 0)
    first = client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    again = client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    assert (again.ref, again.outcome, again.digest) == ("p/d@v1", "duplicate", first.digest)
    assert len(fake.uploads) == 2
    (files / "data" / "b.csv").write_text("x\n3\n")
    changed = client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    assert changed.ref == "p/d@v2"
    assert len(fake.uploads) == 3  # only the changed file went up


def test_creator_defaults_to_the_os_user(client: Client, fake: FakeApi, files: Path) -> None:
    client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    assert fake.versions["p/d"][0]["metadata"]["creator"]


@pytest.mark.parametrize("kwargs,reason", [
    ({"links": [("trained_on", "not a ref")]}, "invalid_ref"),
    ({"links": [("eats", "p/d@v1")]}, "invalid_relation"),
    ({"stage": "Prod!"}, "invalid_stage"),  # any ladder may have `prod`: syntax only
    ({"metadata": {"colour": "red"}}, "unknown_field"),
])
def test_bad_input_fails_before_any_request(client: Client, fake: FakeApi, files: Path,
                                            kwargs: dict, reason: str) -> None:
    with pytest.raises(CairnError) as err:
        client.publish("model", "p", "m", ["data"], root=files, environment=ENV, **kwargs)
    assert err.value.reason == reason and err.value.local
    assert fake.requests == []


def test_no_token_fails_before_hashing_or_sending(fake: FakeApi, files: Path) -> None:
    anonymous = Client("http://api.test", "", Settings(), http=fake.client())
    with pytest.raises(CairnError) as err:
        anonymous.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    assert err.value.reason == "unauthenticated" and "CAIRN_TOKEN" in err.value.message
    assert fake.requests == []


def test_a_rejected_event_raises_with_reason_and_message(client: Client, fake: FakeApi,
                                                         files: Path) -> None:
    fake.reject_next = ("naming_convention", "names in p must end in -ds")
    with pytest.raises(CairnError) as err:
        client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    assert (err.value.reason, err.value.message) == ("naming_convention",
                                                     "names in p must end in -ds")


def test_api_errors_carry_reason_message_and_status(client: Client) -> None:
    with pytest.raises(CairnError) as err:
        client.show("p/none@v1")
    assert (err.value.reason, err.value.status) == ("not_found", 404)


def test_pull_restores_every_byte(client: Client, files: Path, tmp_path: Path) -> None:
    client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    dest = tmp_path / "restored"
    paths = client.pull("p/d@v1", dest)
    assert sorted(p.relative_to(dest).as_posix() for p in paths) == ["data/a.csv", "data/b.csv"]
    for p in paths:
        original = files / p.relative_to(dest)
        assert hashlib.sha256(p.read_bytes()).digest() == \
            hashlib.sha256(original.read_bytes()).digest()
    assert client.pull("p/d@v1", dest) == paths  # again: files already identical are kept
    assert not [p for p in dest.rglob("*") if p.name.endswith(".part")]


def test_pull_refuses_a_manifest_escaping_dest(client: Client, fake: FakeApi, files: Path,
                                               tmp_path: Path) -> None:
    client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    fake.versions["p/d"][0]["files"][0]["path"] = "../../escaped.csv"
    with pytest.raises(CairnError) as err:
        client.pull("p/d@v1", tmp_path / "dest")
    assert err.value.reason == "path_traversal"
    assert not (tmp_path / "escaped.csv").exists()
    assert not (tmp_path.parent / "escaped.csv").exists()


def test_pull_verifies_sha256_and_leaves_nothing_on_mismatch(
        client: Client, fake: FakeApi, files: Path, tmp_path: Path) -> None:
    client.publish("dataset", "p", "d", ["data"], root=files, environment=ENV)
    sha = fake.versions["p/d"][0]["files"][0]["sha256"]
    fake.blobs[sha] = b"x\n9\n"  # same size, different bytes
    with pytest.raises(CairnError) as err:
        client.pull("p/d@v1", tmp_path / "dest")
    assert err.value.reason == "corrupt_download"
    assert [p.name for p in (tmp_path / "dest").rglob("*") if p.is_file()] == []


def test_writes_wait_for_the_ledger(client: Client, files: Path) -> None:
    client.publish("model", "p", "m", ["data"], root=files, environment=ENV)
    assert client.set_stage("p/m@v1", "staging")["status"] == "recorded"
    assert client.set_alias("p/m", "prod", 1)["status"] == "recorded"
    assert client.edit_metadata("p/m@v1", description="better")["status"] == "recorded"
    with pytest.raises(CairnError) as err:
        client.edit_metadata("p/m@v1", digest="x")
    assert err.value.reason == "not_editable"


def test_an_unreachable_api_says_so() -> None:
    with Client("http://127.0.0.1:9", "t", Settings()) as client, \
            pytest.raises(CairnError) as err:
        client.versions("p", "n")
    assert err.value.reason == UNREACHABLE
    assert "scripts/stack up" in err.value.message


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(CairnError):
        Client("http://api.test", "t", Settings(), transport="carrier-pigeon")  # type: ignore[arg-type]


def test_import_cairn_exports_the_client() -> None:
    import cairn

    assert cairn.Client is Client and cairn.CairnError is CairnError
    with pytest.raises(AttributeError):
        cairn.Nope  # noqa: B018

