"""`cairn export` against the real api, ledger, indexer, validator, Kafka and PostgreSQL: a
project with a lineage chain (raw dataset → clean dataset → model → evaluation log) becomes
an RO-Crate that the `rocrate` library reads back with every version, id, file digest, the
metadata and the lineage as provenance."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cairn.sdk import Client
from cairn.sdk.retention import archive
from rocrate.rocrate import ROCrate

from tests.conftest import (
    API_ACTOR,
    API_TOKEN,
    Namespace,
    api_env,
    private_namespace,
    service_env,
)
from tests.endpoints import Endpoints
from tests.integration.test_sdk_cli import CAIRN, Cli
from tests.integration.test_sdk_cli import cli as cli  # noqa: F401  (its fixture, by name)
from tests.ledger_helpers import settings_for, wait_recorded
from tests.processes import Service

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}

ENV = {"python": "3.12.4", "os": "Linux", "packages": {"numpy": "2.1.0"},
       "git_remote": "https://example.org/t/v.git", "git_commit": "c" * 40}


@pytest.fixture
def sdk(api: Service, indexer: Service, validator: Service, api_token: str,
        cairn_env: dict[str, str]) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


def write(root: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def chain(sdk: Client, tmp_path: Path) -> tuple[str, list[str]]:
    """raw@v1 → clean@v1 (derived_from) → model@v1, v2 (trained_on) → eval@v1 (evaluates)."""
    p = f"val-crate-{uuid.uuid4().hex[:8]}"
    made = []
    steps: list[tuple[str, str, dict[str, bytes], dict[str, Any], list[tuple[str, str]]]] = [
        ("dataset", "raw", {"raw.csv": b"a,b\n1,2\n"}, {"license": "MIT", "tags": ["tab"]},
         []),
        ("dataset", "clean", {"clean.csv": b"a\n1\n", "parts/p0.bin": os.urandom(70_000)},
         {"description": "deduplicated"}, [("derived_from", f"{p}/raw@v1")]),
        ("model", "net", {"model.bin": os.urandom(120_000)},
         {"metrics": {"top1": 0.5}, "params": {"lr": 0.1}, "seeds": {"torch": 7}},
         [("trained_on", f"{p}/clean@v1")]),
        ("model", "net", {"model.bin": os.urandom(120_000)},
         {"metrics": {"top1": 0.75}, "params": {"lr": 0.01}, "license": "Apache-2.0"},
         [("trained_on", f"{p}/clean@v1")]),
        ("eval_log", "eval", {"eval.jsonl": b'{"top1": 0.75}\n'}, {},
         [("evaluates", f"{p}/net@v2")]),
    ]
    for i, (kind, name, files, meta, links) in enumerate(steps):
        root = write(tmp_path / f"src{i}", files)
        result = sdk.publish(kind, p, name, [root], root=root, metadata=meta, links=links,
                             environment=ENV)
        assert result.ref
        made.append(result.ref)
    sdk.set_alias(f"{p}/net", "best", 2)
    sdk.set_stage(f"{p}/net@v2", "staging")
    return p, made


def settled(sdk: Client, p: str, refs: list[str]) -> list[dict[str, Any]]:
    """Every version judged by the validator and every artifact in the index."""
    deadline = time.monotonic() + 90
    while True:
        details = [sdk.show(r) for r in refs]
        indexed = {h.artifact for h in sdk.search(project=p, size=100).hits}
        if (all(d["validation"] != "pending" for d in details)
                and indexed == {r.split("@")[0] for r in refs}) or time.monotonic() > deadline:
            return details


def by_id(crate: ROCrate) -> dict[str, dict[str, Any]]:
    return {e.id: e.as_jsonld() for e in crate.get_entities()}


def ids(value: Any) -> set[str]:
    return {v["@id"] for v in (value if isinstance(value, list) else [value])}


def test_a_project_exports_as_a_crate_rocrate_reads(sdk: Client, cli: Cli,
                                                   tmp_path: Path) -> None:
    p, refs = chain(sdk, tmp_path)
    details = settled(sdk, p, refs)
    out = tmp_path / "export.zip"
    cli("export", p, "-o", str(out), cwd=tmp_path)

    crate = ROCrate(out)
    entities = by_id(crate)
    with zipfile.ZipFile(out) as zf:
        archived = {n: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()
                    if n != "ro-crate-metadata.json"}
    expected_files = {}
    for d in details:
        vid = f"{p}/{d['name']}/v{d['version_number']}/"
        version = entities[vid]
        assert "Dataset" in version["@type"] and version["name"] == d["ref"]
        assert version["identifier"] == [d["ref"], d["digest"]]
        assert version["version"] == str(d["version_number"])
        assert json.loads(version["cairn:metadata"]) == d["metadata"]
        assert d["verdicts"] and {e["name"]: e["value"] for e in (
            entities[i] for i in ids(version["cairn:verdict"]))} == {
            v["check"]: v["status"] for v in d["verdicts"]}
        for f in d["files"]:
            entity = entities[vid + f["path"]]
            assert entity["@type"] == "File" and entity["sha256"] == f["sha256"]
            assert entity["contentSize"] == str(f["size"]) and entity["encodingFormat"]
            expected_files[vid + f["path"]] = f["sha256"]
        assert ids(version["hasPart"]) == {vid + f["path"] for f in d["files"]}
        action = entities[f"#create-{d['ref']}"]
        assert ids(action["result"]) == {vid}
        environment = entities[action["instrument"]["@id"]]
        assert environment["softwareRequirements"] == ["numpy==2.1.0"]
        assert environment["codeRepository"] == ENV["git_remote"]
    assert archived == expected_files  # every byte in the zip is the version's, verified
    parts = {e["@id"] for e in crate.root_dataset.as_jsonld()["hasPart"]}  # rocrate lists
    assert parts == {f"{p}/{d['name']}/v{d['version_number']}/" for d in details} | set(
        expected_files)  # every data entity it reached from the root

    # lineage as provenance: each CreateAction's object is what its result was made from
    raw, clean, net1, net2, ev = (f"{p}/raw/v1/", f"{p}/clean/v1/", f"{p}/net/v1/",
                                  f"{p}/net/v2/", f"{p}/eval/v1/")
    made_from = {next(iter(ids(e["result"]))): ids(e["object"]) if e["object"] else set()
                 for e in entities.values() if e["@type"] == "CreateAction"}
    assert made_from == {raw: set(), clean: {raw}, net1: {clean}, net2: {clean}, ev: {net2}}
    assert ids(entities[clean]["wasDerivedFrom"]) == {raw}
    assert ids(entities[ev]["cairn:evaluates"]) == {net2}
    # metadata, stage and alias
    v2 = entities[net2]
    assert v2["license"] == {"@id": "https://spdx.org/licenses/Apache-2.0"}
    assert entities[raw]["license"] == {"@id": "https://spdx.org/licenses/MIT"}
    assert v2["creativeWorkStatus"] == "staging" and set(v2["alternateName"]) == {f"{p}/net:best",
                                                                     f"{p}/net:latest"}
    assert {entities[i]["name"]: entities[i]["value"] for i in ids(v2["variableMeasured"])
            } == {"top1": 0.75}
    assert entities[v2["creator"]["@id"]]["@type"] == "Person"


def test_one_version_with_its_lineage_and_no_files(sdk: Client, tmp_path: Path) -> None:
    p, refs = chain(sdk, tmp_path)
    out = sdk.export(refs[-1], tmp_path / "crate", with_lineage=1, files=False)
    assert out.refs == [f"{p}/eval@v1", f"{p}/net@v2"] and out.files == 0
    assert [c.name for c in (tmp_path / "crate").iterdir()] == ["ro-crate-metadata.json"]
    entities = by_id(ROCrate(tmp_path / "crate"))
    model = entities[f"{p}/net/v2/"]
    assert ids(entities[f"#create-{p}/net@v2"]["object"]) == {f"#version-{p}/clean@v1"}
    outside = entities[f"#version-{p}/clean@v1"]  # beyond one link: named by ref and digest
    assert outside["identifier"][0] == f"{p}/clean@v1" and len(outside["identifier"][1]) > 40
    (f,) = ids(model["hasPart"])
    assert f.startswith(f"{sdk.api_url}/v1/blobs/") and f.endswith("#model.bin")


@dataclass(frozen=True)
class Fresh:
    """A second registry: its own database, topics, blob directory, ledger and api."""

    ns: Namespace
    api: Service

    def cli(self, *args: str, cwd: Path, token: str = API_TOKEN
            ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.api.env, "CAIRN_API_URL": self.api.url, "CAIRN_TOKEN": token}
        return subprocess.run([CAIRN, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=180)

    def admin(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """An administrator's write, waited for until the ledger recorded it."""
        reply = httpx.request(method, f"{self.api.url}{path}", json=body, headers=ADMIN,
                              timeout=30)
        assert reply.status_code < 300, reply.text
        answer: dict[str, Any] = reply.json()
        asyncio.run(wait_recorded(self.ns.database_url, [answer["event_id"]]))
        return answer

    def user_token(self, user: str, project: str, role: str) -> str:
        self.admin("PUT", f"/v1/users/{user}", {})
        self.admin("PUT", f"/v1/projects/{project}", {"members": {user: role}})
        return str(self.admin("POST", "/v1/tokens", {"owner": user, "scopes": ["admin"]})["token"])


@pytest.fixture(scope="module")
def fresh(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    """A registry that has never seen the exported projects: another database and topic
    namespace, with a ledger and an api of its own."""
    with private_namespace(endpoints) as ns:
        env = service_env(endpoints, ns, tmp_path_factory.mktemp("fresh-blobs"))
        logs = tmp_path_factory.mktemp("fresh-logs")
        ledger = Service("ledger", env, logs).start()
        try:
            api = Service("api", api_env(env), logs).start()
            try:
                yield Fresh(ns, api)
            finally:
                api.stop()
        finally:
            ledger.stop()


def test_an_exported_project_imports_into_a_fresh_registry_with_the_same_ids(
        sdk: Client, fresh: Fresh, tmp_path: Path) -> None:
    p, refs = chain(sdk, tmp_path)
    settled(sdk, p, refs)
    archive(sdk, f"{p}/net@v1")  # its files are in the archive tier: exported without them
    before = [sdk.show(r) for r in refs]
    out = tmp_path / "export.zip"
    exported = sdk.export(p, out)
    assert exported.refs == sorted(refs) and exported.metadata_only == [f"{p}/net@v1"]
    entities = by_id(ROCrate(out))  # what the rocrate library reads back
    with zipfile.ZipFile(out) as zf:
        members = set(zf.namelist())
    for d in before:
        vid = f"{p}/{d['name']}/v{d['version_number']}/"
        assert entities[vid]["identifier"] == [d["ref"], d["digest"]]
        files = {ids(entities[vid]["hasPart"]) == {vid + f["path"] for f in d["files"]}}
        if d["status"] == "archived":
            assert json.loads(entities[vid]["cairn:metadata"]) == d["metadata"]
            assert not any(m.startswith(vid) for m in members) and files == {False}
            continue
        assert {entities[vid + f["path"]]["sha256"] for f in d["files"]} == {
            f["sha256"] for f in d["files"]} and files == {True}
    before = [d for d in before if d["status"] != "archived"]
    q = f"imported-{uuid.uuid4().hex[:8]}"
    # the target gates staging on a valid verdict, which nothing there gives: as recorded
    fresh.admin("PUT", f"/v1/projects/{q}", {"lifecycle": {
        "stages": ["development", "staging", "production"],
        "gates": {"staging": {"role": "contributor", "valid": True}}}})
    done = fresh.cli("import", str(out), "--project-map", f"{p}={q}", "--as-recorded",
                     "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["source"], r["status"]) for r in rows if not r["ref"]] == [
        (f"{p}/net@v1", "skipped")]  # archived: nothing to publish
    assert [r["source"] for r in rows if r["ref"]] == sorted({d["ref"] for d in before})
    assert not any(r["renumbered"] for r in rows)

    def moved(value: Any) -> Any:
        return json.loads(json.dumps(value).replace(f"{p}/", f"{q}/"))

    with Client(fresh.api.url, API_TOKEN, progress=False) as there:
        for was in before:
            now = there.show(was["ref"].replace(p, q, 1))
            for key in ("digest", "version_number", "kind", "files", "metadata", "environment",
                        "extra", "stage", "aliases"):
                assert now[key] == was[key], key
            assert [(lk["relation"], lk["target"]) for lk in now["links_out"]] == [
                (lk["relation"], {"ref": moved(lk["target"]["ref"]),
                                  "digest": lk["target"]["digest"]}) for lk in was["links_out"]]
            assert [(lk["relation"], lk["source"]) for lk in now["links_in"]] == [
                (lk["relation"], moved(lk["source"])) for lk in was["links_in"]
                if lk["source"]["ref"] != f"{p}/net@v1"]  # archived: not imported
            there_dir, here_dir = tmp_path / "there" / now["ref"], tmp_path / "here" / was["ref"]
            done = fresh.cli("pull", now["ref"], str(there_dir), cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            sdk.pull(was["ref"], here_dir)
            assert {f["path"]: (there_dir / f["path"]).read_bytes() for f in was["files"]} == {
                f["path"]: (here_dir / f["path"]).read_bytes() for f in was["files"]}
        audit = httpx.get(f"{fresh.api.url}/v1/audit", params={"project": q, "limit": 100},
                          headers=ADMIN, timeout=30).json()
        published = [e for e in audit["entries"] if e["action"] == "Published"]
        assert {(e["actor"], e["detail"]) for e in published} == {
            (API_ACTOR, f"imported as recorded as v{d['version_number']}"
             + (f", stage {d['stage']}" if d["stage"] else "")) for d in before}

        artifacts = ("raw", "clean", "net", "eval")
        versions = {a: there.versions(f"{q}/{a}")["versions"] for a in artifacts}
        again = fresh.cli("import", str(out), "--project-map", f"{p}={q}", "--json",
                          cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert [r["ref"] for r in json.loads(again.stdout)] == [r["ref"] for r in rows]
        assert {a: there.versions(f"{q}/{a}")["versions"] for a in artifacts} == versions

        # one version alone keeps its number too, and publishes after it continue from it
        alone = tmp_path / "alone.zip"
        sdk.export(f"{p}/net@v2", alone)
        r = f"alone-{uuid.uuid4().hex[:8]}"
        done = fresh.cli("import", str(alone), "--project-map", f"{p}={r}", "--json",
                         cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert [row["ref"] for row in json.loads(done.stdout)] == [f"{r}/net@v2"]
        later = write(tmp_path / "later", {"model.bin": b"retrained"})
        assert there.publish("model", r, "net", [later], root=later).ref == f"{r}/net@v3"


def test_only_an_admin_keeps_numbers_or_imports_as_recorded(
        sdk: Client, fresh: Fresh, tmp_path: Path) -> None:
    p, refs = chain(sdk, tmp_path)
    out = tmp_path / "export.zip"
    sdk.export(p, out)
    q = f"contrib-{uuid.uuid4().hex[:8]}"
    token = fresh.user_token(f"importer-{uuid.uuid4().hex[:6]}", q, "contributor")
    for extra in ([], ["--as-recorded", "--renumber"]):
        done = fresh.cli("import", str(out), "--project-map", f"{p}={q}", *extra,
                         cwd=tmp_path, token=token)
        assert done.returncode != 0
        assert "[forbidden]" in done.stderr and f"admin role on project {q}" in done.stderr, \
            done.stderr
    item = {"kind": "dataset", "project": q, "name": "d", "version_number": 4,
            "metadata": {"creator": "c"}, "files": [{"path": "a", "size": 1, "sha256": "0" * 64}]}
    reply = httpx.post(f"{fresh.api.url}/v1/artifacts", json=item,
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"]["permission"] == "admin"
    with Client(fresh.api.url, API_TOKEN, progress=False) as there:
        done = fresh.cli("import", str(out), "--project-map", f"{p}={q}", "--renumber",
                         "--json", cwd=tmp_path, token=token)  # the target's numbers: allowed
        assert done.returncode == 0, done.stderr
        assert sorted(r["ref"] for r in json.loads(done.stdout)) == sorted(
            ref.replace(p, q, 1) for ref in refs), done.stdout
        assert there.show(f"{q}/net@v2")["stage"] == "staging"  # its gates: none on staging


def test_a_crate_the_rocrate_library_wrote_imports(sdk: Client, cli: Cli,
                                                  tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"iris.csv": b"a,b\n1,2\n", "images/x.png": b"\x89PNG1",
                                   "images/y.png": b"\x89PNG2"})
    made = ROCrate()
    made.add_file(src / "iris.csv", "iris.csv", properties={
        "description": "the iris table", "license": {"@id": "https://spdx.org/licenses/CC0-1.0"},
        "keywords": "flowers, tabular"})
    made.add_tree(src / "images", "images/")
    made.write(tmp_path / "foreign")
    p = f"foreign-{uuid.uuid4().hex[:8]}"
    rows = json.loads(cli("import", str(tmp_path / "foreign"), "--project", p, "--json",
                          cwd=tmp_path).stdout)
    assert sorted((r["source"], r["ref"]) for r in rows) == [
        ("images/", f"{p}/images@v1"), ("iris.csv", f"{p}/iris.csv@v1")]
    iris = sdk.show(f"{p}/iris.csv@v1")
    assert [(f["path"], f["sha256"]) for f in iris["files"]] == [
        ("iris.csv", hashlib.sha256(b"a,b\n1,2\n").hexdigest())]
    assert (iris["metadata"]["description"], iris["metadata"]["license"]) == (
        "the iris table", "CC0-1.0")
    assert iris["metadata"]["tags"] == ["flowers", "tabular"]
    sdk.pull(f"{p}/images@v1", tmp_path / "pulled")
    assert {q.name: q.read_bytes() for q in (tmp_path / "pulled").iterdir()} == {
        "x.png": b"\x89PNG1", "y.png": b"\x89PNG2"}
