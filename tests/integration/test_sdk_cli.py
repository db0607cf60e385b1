"""The SDK and the `cairn` command against the real api, ledger, Kafka and PostgreSQL.

Each test publishes under its own project. The CLI runs as a real subprocess with
CAIRN_API_URL and CAIRN_TOKEN, exactly as a user or a CI job would run it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cairn.sdk import CairnError, Client

from tests.ledger_helpers import settings_for
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
Cli = Callable[..., subprocess.CompletedProcess[str]]


def project() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    """relative POSIX path -> sha256 of every file under root."""
    return {p.relative_to(root).as_posix(): sha(p) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A dataset directory, a model file and an evaluation log, with real bytes."""
    (tmp_path / "imagenet-mini" / "val").mkdir(parents=True)
    (tmp_path / "imagenet-mini" / "train.csv").write_text("path,label\na.jpg,1\n")
    (tmp_path / "imagenet-mini" / "val" / "shard-0.bin").write_bytes(os.urandom(300_000))
    (tmp_path / "model.pt").write_bytes(os.urandom(2_000_000))
    (tmp_path / "config.json").write_text('{"layers": 50}')
    (tmp_path / "eval.jsonl").write_text('{"top1": 0.76}\n')
    return tmp_path


@pytest.fixture
def sdk(api: Service, api_token: str, cairn_env: dict[str, str]) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


@pytest.fixture
def cli(api: Service, api_token: str, cairn_env: dict[str, str]) -> Cli:
    def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **cairn_env, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": api_token}
        done = subprocess.run([CAIRN, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=180)
        if check:
            assert done.returncode == 0, f"cairn {' '.join(args)}: {done.stderr}"
        return done

    return run


def ref_of(detail: dict[str, Any], key: str) -> set[tuple[str, str]]:
    if key == "links_in":
        return {(lk["relation"], lk["source"]["ref"]) for lk in detail["links_in"]}
    return {(lk["relation"], (lk["target"] or {}).get("ref")) for lk in detail["links_out"]}


def test_lineage_through_the_sdk(sdk: Client, work: Path, tmp_path: Path) -> None:
    p = project()
    data = sdk.publish("dataset", p, "imagenet-mini", ["imagenet-mini"], root=work,
                       metadata={"description": "a small ImageNet", "tags": ["vision"]})
    model = sdk.publish("model", p, "resnet50", ["model.pt", "config.json"], root=work,
                        metadata={"params": {"lr": 0.1, "layers": 50}, "seeds": {"torch": 7}},
                        links=[("trained_on", data.ref)])
    evaluation = sdk.publish("eval_log", p, "resnet50-eval", ["eval.jsonl"], root=work,
                             metadata={"metrics": {"top1": 0.76}},
                             links=[{"relation": "evaluates", "target": f"{p}/resnet50@v1"}])
    assert [r.ref for r in (data, model, evaluation)] == [
        f"{p}/imagenet-mini@v1", f"{p}/resnet50@v1", f"{p}/resnet50-eval@v1"]
    assert {r.outcome for r in (data, model, evaluation)} == {"applied"}

    shown = sdk.show(f"{p}/resnet50@v1")
    assert ref_of(shown, "links_out") == {("trained_on", data.ref)}
    assert ref_of(shown, "links_in") == {("evaluates", evaluation.ref)}
    assert ref_of(sdk.show(f"{p}/imagenet-mini:latest"), "links_in") == {("trained_on", model.ref)}
    assert shown["digest"] == model.digest and shown["environment"]["python"]
    assert shown["metadata"]["seeds"] == {"torch": 7}

    originals = tree(work)
    for ref, expected in ((data.ref, {k: v for k, v in originals.items()
                                      if k.startswith("imagenet-mini/")}),
                          (model.ref, {k: originals[k] for k in ("model.pt", "config.json")})):
        dest = tmp_path / "pulled" / ref.replace("/", "_")
        paths = sdk.pull(ref, dest)
        assert len(paths) == len(expected)
        assert tree(dest) == expected


def test_same_content_twice_is_one_version(sdk: Client, work: Path) -> None:
    p = project()
    first = sdk.publish("model", p, "m", ["model.pt"], root=work)
    again = sdk.publish("model", p, "m", ["model.pt"], root=work,
                        metadata={"description": "same bytes, new words"})
    assert (first.ref, first.outcome) == (f"{p}/m@v1", "applied")
    assert (again.ref, again.outcome, again.digest) == (f"{p}/m@v1", "duplicate", first.digest)
    assert [v["version_number"] for v in sdk.versions(p, "m")["versions"]] == [1]


def test_concurrent_publishers_of_one_name_get_v1_and_v2(
        api: Service, api_token: str, cairn_env: dict[str, str], tmp_path: Path) -> None:
    p = project()
    start = threading.Barrier(2)
    results: dict[int, Any] = {}

    def publisher(i: int) -> None:
        (tmp_path / f"w{i}").mkdir()
        (tmp_path / f"w{i}" / "weights.bin").write_bytes(f"worker {i}".encode() * 1000)
        with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
            start.wait()
            try:
                results[i] = client.publish("model", p, "racer", ["weights.bin"],
                                            root=tmp_path / f"w{i}")
            except Exception as exc:  # reported below, not lost in the thread
                results[i] = exc

    threads = [threading.Thread(target=publisher, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not [r for r in results.values() if isinstance(r, Exception)], results
    assert sorted(r.version_number for r in results.values()) == [1, 2]
    assert len({r.digest for r in results.values()}) == 2


def test_kafka_transport_and_a_ledger_rejection(sdk: Client, api: Service, api_token: str,
                                                cairn_env: dict[str, str], work: Path) -> None:
    p = project()
    with Client(api.url, api_token, settings_for(cairn_env), transport="kafka") as direct:
        result = direct.publish("dataset", p, "direct", ["imagenet-mini"], root=work)
    assert (result.ref, result.outcome) == (f"{p}/direct@v1", "applied")
    with pytest.raises(CairnError) as err:  # the name is a dataset: the ledger refuses a model
        sdk.publish("model", p, "direct", ["model.pt"], root=work)
    assert err.value.reason == "kind_mismatch"
    with pytest.raises(CairnError) as err:
        sdk.show(f"{p}/direct@v9")
    assert (err.value.reason, err.value.status) == ("not_found", 404)


def test_lineage_through_the_cli(cli: Cli, work: Path, tmp_path: Path) -> None:
    p = project()
    data = json.loads(cli("publish", "dataset", f"{p}/imagenet-mini", "imagenet-mini",
                          "--tag", "vision", "--description", "a small ImageNet",
                          "--data-source", "s3://bucket/imagenet", "--json", cwd=work).stdout)
    model = json.loads(cli("publish", "model", f"{p}/resnet50", "model.pt", "config.json",
                           "--param", "lr=0.1", "--param", "optimizer=sgd", "--seed", "torch=7",
                           "--metric", "top1=0.76", "--link", f"trained_on={data['ref']}",
                           "--json", cwd=work).stdout)
    evaluation = json.loads(cli("publish", "eval_log", f"{p}/resnet50-eval", "eval.jsonl",
                                "--link", f"evaluates={p}/resnet50@v1", "--via", "kafka",
                                "--json", cwd=work).stdout)
    assert [r["ref"] for r in (data, model, evaluation)] == [
        f"{p}/imagenet-mini@v1", f"{p}/resnet50@v1", f"{p}/resnet50-eval@v1"]

    again = json.loads(cli("publish", "dataset", f"{p}/imagenet-mini", "imagenet-mini",
                           "--json", cwd=work).stdout)
    assert (again["ref"], again["outcome"]) == (data["ref"], "duplicate")

    shown = json.loads(cli("show", f"{p}/resnet50@v1", "--json", cwd=work).stdout)
    assert shown["metadata"]["params"] == {"lr": 0.1, "optimizer": "sgd"}
    assert ref_of(shown, "links_out") == {("trained_on", data["ref"])}
    assert ref_of(shown, "links_in") == {("evaluates", evaluation["ref"])}
    dataset = json.loads(cli("show", f"{p}/imagenet-mini:latest", "--json", cwd=work).stdout)
    assert ref_of(dataset, "links_in") == {("trained_on", model["ref"])}
    versions = json.loads(cli("versions", f"{p}/imagenet-mini", "--json", cwd=work).stdout)
    assert [v["version_number"] for v in versions["versions"]] == [1]
    assert "resnet50" in cli("show", f"{p}/resnet50@v1", cwd=work).stdout  # the rich view

    expected = {k: v for k, v in tree(work).items() if k != "eval.jsonl"}
    dest = tmp_path / "restored"
    cli("pull", data["ref"], str(dest), cwd=work)
    cli("pull", model["ref"], str(dest), cwd=work)
    assert tree(dest) == expected


def test_files_from_anywhere_are_named_with_name_equals_path(cli: Cli, work: Path,
                                                            tmp_path: Path) -> None:
    p, elsewhere = project(), tmp_path / "elsewhere"
    elsewhere.mkdir()
    shard = str(work / "imagenet-mini")  # an absolute path outside the working directory
    refused = cli("publish", "dataset", f"{p}/d", shard, cwd=elsewhere, check=False)
    assert refused.returncode != 0 and "[absolute_path]" in refused.stderr
    assert "NAME=PATH" in refused.stderr  # says how, in the CLI's words
    done = json.loads(cli("publish", "dataset", f"{p}/d", f"images={shard}",
                          f"meta/config.json={work / 'config.json'}", "--json",
                          cwd=elsewhere).stdout)
    dest = tmp_path / "restored"
    cli("pull", done["ref"], str(dest), cwd=elsewhere)
    assert tree(dest / "images") == tree(work / "imagenet-mini")
    assert tree(dest / "meta") == {"config.json": sha(work / "config.json")}


def test_aliases_stages_edits_and_reverts_through_the_cli(cli: Cli, work: Path) -> None:
    p = project()
    ref = json.loads(cli("publish", "model", f"{p}/m", "model.pt", "--description", "first",
                         "--json", cwd=work).stdout)["ref"]
    cli("alias", f"{p}/m", "prod", "1", cwd=work)
    cli("stage", f"{p}/m:prod", "staging", cwd=work)
    cli("edit", ref, "--description", "second", "--tag", "resnet", cwd=work)
    shown = json.loads(cli("show", f"{p}/m:prod", "--json", cwd=work).stdout)
    assert shown["stage"] == "staging" and "prod" in shown["aliases"]
    assert (shown["metadata"]["description"], shown["metadata"]["tags"]) == ("second", ["resnet"])

    happened = json.loads(cli("history", ref, "--json", cwd=work).stdout)
    assert [e["event_type"] for e in happened if e["event_type"] != "VerdictSet"] == [
        "Published", "AliasMoved", "StageChanged", "MetadataEdited"]
    [edit] = [e for e in happened if e["event_type"] == "MetadataEdited"]
    assert edit["changes"]["description"] == "second" and edit["previous"]["description"] == "first"
    table = cli("history", ref, cwd=work).stdout  # not a terminal: 80 columns
    assert all(word in table for word in ("Published", "StageChanged", "to staging", "prod",
                                          edit["event_id"], "first", "second"))
    cli("revert", ref, edit["event_id"], cwd=work)
    assert json.loads(cli("show", ref, "--json", cwd=work).stdout)["metadata"]["description"] \
        == "first"
    edits = [e for e in json.loads(cli("history", ref, "--json", cwd=work).stdout)
             if e["event_type"] == "MetadataEdited"]
    assert [e["reverts"] for e in edits] == [None, edit["event_id"]]

    cli("alias", f"{p}/m", "prod", "--delete", cwd=work)
    gone = cli("show", f"{p}/m:prod", cwd=work, check=False)
    assert gone.returncode == 1 and "[not_found]" in gone.stderr


def test_cli_errors_are_one_line_with_the_reason(cli: Cli, work: Path) -> None:
    p = project()
    cli("publish", "dataset", f"{p}/d", "imagenet-mini", cwd=work)
    refused = cli("publish", "model", f"{p}/d", "model.pt", cwd=work, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "[kind_mismatch]" in refused.stderr
    bad_stage = cli("stage", f"{p}/d@v7", "staging", cwd=work, check=False)
    assert bad_stage.returncode == 1 and "[unknown_version]" in bad_stage.stderr


def test_access_commands_through_the_sdk(cli: Cli, sdk: Client, tmp_path: Path) -> None:
    """whoami, tokens, teams, projects and the audit log: each command a Client method."""
    def out(*args: str) -> str:
        return cli(*args, cwd=tmp_path).stdout

    p = project()
    assert json.loads(out("whoami", "--json"))["name"] == "alice"
    user = f"u-{p}"
    assert f"user {user}: recorded (seq " in out("user", user, "--email", f"{user}@example.org")
    made = json.loads(out("token", "create", "--owner", user, "--scope", "read",
                          "--expires-in-days", "7", "--description", p, "--json"))
    assert made["status"] == "recorded" and made["token"] and made["scopes"] == ["read"]
    listed = json.loads(out("token", "list", "--owner", user, "--json"))
    assert [t["id"] for t in listed] == [made["id"]]
    assert f"token {made['id']} revoked: recorded (seq " in out("token", "revoke", made["id"])
    pending = json.loads(out("token", "create", "--owner", user, "--no-wait", "--json"))
    assert "status" not in pending and pending["event_id"]  # the api's answer as it came
    assert sdk.revoke_token(pending["id"])["status"] == "recorded"

    team = f"team-{p}"
    assert f"team {team}: recorded" in out("team", team, "--member", user)
    assert f"project {p}: recorded" in out("project", "set", p, "--visibility", "private")
    assert f"project {p}: recorded" in out("project", "team", p, team, "viewer")
    shown = json.loads(out("project", "show", p, "--json"))
    assert (shown["visibility"], shown["teams"]) == ("private", {team: "viewer"})
    assert sdk.project(p)["teams"] == {team: "viewer"}
    log = json.loads(out("audit", "log", "--project", p, "--limit", "5", "--json"))
    assert log["entries"] and {e["actor"] for e in log["entries"]} == {"alice"}
    assert out("audit", "log", "--project", p).count("alice") == len(log["entries"])
