"""The validator, the production gate and a project's own stage ladder on the real stack
(api, ledger, validator, Kafka).

Artifacts go in through the SDK (so their blobs are really in the blob store), verdicts come
back through the ledger, and are read through the api and the `cairn` CLI as a user would.
Each test has its own project `val-…` and writes its rules into the validator's copy of
validation/, which it re-reads on every judgement.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.core.domain.events import new_event
from cairn.sdk import CairnError, Client

from tests.conftest import Namespace
from tests.ledger_helpers import emitter_for, settings_for
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
BUILTIN = {"schema", "naming", "required", "license", "files", "lineage", "completeness"}
FULL = {"license": "Apache-2.0", "description": "a test artifact", "owner_team": "vision",
        "tags": ["test"], "params": {"lr": 0.1}, "metrics": {"top1": 0.76},
        "seeds": {"torch": 7}, "data_splits": [{"name": "train", "fraction": 0.8}]}
DATASET = {**FULL, "data_source": "s3://corpus/imagenet", "preprocessing": "resize 224"}
MODEL = {**FULL, "framework": "pytorch"}


def project() -> str:
    return f"val-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def rules(validation_dir: Path) -> Callable[[str, str], None]:
    def write(project: str, text: str) -> None:
        (validation_dir / "projects" / f"{project}.toml").write_text(text)

    return write


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("x,y\n1,2\n" + uuid.uuid4().hex)
    (tmp_path / "model.pt").write_bytes(os.urandom(50_000))
    (tmp_path / "eval.json").write_text(json.dumps({"top1": 0.75, "run": uuid.uuid4().hex}))
    return tmp_path


@pytest.fixture
def sdk(api: Service, validator: Service, api_token: str, cairn_env: dict[str, str]
        ) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


def cairn(api: Service, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": token}
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=120)


def judged(sdk: Client, ref: str, checks: set[str] = BUILTIN, timeout: float = 60.0
           ) -> dict[str, Any]:
    """The version detail once every check in `checks` has its verdict."""
    deadline = time.monotonic() + timeout
    while True:
        detail = sdk.show(ref)
        if checks <= {v["check"] for v in detail["verdicts"]}:
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"{ref}: verdicts {detail['verdicts']} after {timeout}s")
        time.sleep(0.3)


def reasons(detail: dict[str, Any]) -> dict[str, list[str]]:
    return {v["check"]: v["reasons"] for v in detail["verdicts"]}


def publish_dataset(sdk: Client, p: str, work: Path, name: str = "corpus") -> str:
    return sdk.publish("dataset", p, name, ["data.csv"], root=work, metadata=DATASET).ref or ""


def test_missing_license_and_bad_name_end_invalid_with_both_reasons(
        sdk: Client, api: Service, api_token: str, rules: Callable[[str, str], None],
        work: Path) -> None:
    p = project()
    rules(p, 'model_pattern = "{project}-{arch}-v{n}"\n')
    data = publish_dataset(sdk, p, work)
    meta = {k: v for k, v in MODEL.items() if k != "license"}
    model = sdk.publish("model", p, "resnet", ["model.pt"], root=work, metadata=meta,
                        links=[("trained_on", data)])
    detail = judged(sdk, model.ref or "")
    assert detail["validation"] == "invalid"
    missing_license = "license: missing (required for every artifact)"
    bad_name = (f"naming: 'resnet' does not follow the model convention "
                f"'{{project}}-{{arch}}-v{{n}}' of project {p} (e.g. {p}-<arch>-v<n>)")
    assert reasons(detail)["required"] == [missing_license]
    assert reasons(detail)["naming"] == [bad_name]

    shown = cairn(api, api_token, "show", model.ref or "")
    assert shown.returncode == 0, shown.stderr
    assert missing_license in shown.stdout and bad_name in shown.stdout
    assert "invalid" in shown.stdout
    audit = cairn(api, api_token, "audit", "log", "--project", p, "--action", "VerdictSet",
                  "--json")
    assert audit.returncode == 0, audit.stderr
    details = [e["detail"] for e in json.loads(audit.stdout)["entries"] if e["ref"] == model.ref]
    assert len(details) == 1, details  # one entry for the whole judgement
    assert details[0].startswith(f"{len(detail['verdicts'])} checks: ")  # and which failed
    assert {"required failed", "naming failed"} <= set(details[0].split(": ", 1)[1].split(", "))


def test_cli_publish_waits_for_the_verdict_and_strict_fails_on_invalid(
        sdk: Client, api: Service, api_token: str, work: Path) -> None:
    p = project()
    data = publish_dataset(sdk, p, work)
    bad = cairn(api, api_token, "publish", "model", f"{p}/unlinked", "model.pt", "-C", str(work),
                "--license", "MIT", "--strict")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{p}/unlinked@v1 is invalid" in bad.stdout
    assert "trained_on: no link to the dataset it was trained on" in bad.stdout
    good = cairn(api, api_token, "publish", "model", f"{p}/linked", "model.pt", "-C", str(work),
                 "--license", "MIT", "--link", f"trained_on={data}", "--strict", "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    answer = json.loads(good.stdout)
    assert answer["validation"] == "valid" and {v["check"] for v in answer["verdicts"]} >= BUILTIN
    quiet = cairn(api, api_token, "publish", "model", f"{p}/quiet", "model.pt", "-C", str(work))
    assert quiet.returncode == 0 and "checks" not in quiet.stdout  # not a terminal: no wait


def test_a_complete_artifact_ends_valid(sdk: Client, rules: Callable[[str, str], None],
                                        work: Path) -> None:
    p = project()
    rules(p, 'model_pattern = "{project}-{arch}-v{n}"\n'
             'dataset_pattern = "{project}-{dataset}-{split}-v{n}"\n')
    data = publish_dataset(sdk, p, work, f"{p}-imagenet-train-v1")
    model = sdk.publish("model", p, f"{p}-resnet50-v1", ["model.pt"], root=work,
                        metadata=MODEL, links=[("trained_on", data)])
    for ref in (data, model.ref or ""):
        detail = judged(sdk, ref)
        assert detail["validation"] == "valid", reasons(detail)
        assert {v["status"] for v in detail["verdicts"]} == {"passed"}
        assert detail["completeness"] == 1.0


async def _entries(database_url: str, ref: str) -> dict[str, int]:
    """The event_log entries of the version `ref` (project/name@vN), counted by event type."""
    artifact, number = ref.split("@v")
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT e.event_type, count(*) AS n FROM event_log e"
                                " JOIN versions v ON v.id = e.version_id JOIN artifacts a"
                                " ON a.id = v.artifact_id WHERE a.project || '/' || a.name = $1"
                                " AND v.version_number = $2 GROUP BY 1", artifact, int(number))
    finally:
        await conn.close()
    return {r["event_type"]: r["n"] for r in rows}


def test_a_publish_gets_one_verdict_entry_carrying_every_check(
        sdk: Client, namespace: Namespace, work: Path) -> None:
    """The validator answers a publish with ONE VerdictSet (the ledger records one entry, not
    one per check), and the version still shows each check's verdict and the validation the
    checks give: a failed check makes it invalid, a warning does not."""
    p = project()
    data = sdk.publish("dataset", p, "corpus", ["data.csv"], root=work, metadata=DATASET)
    warned = sdk.publish("model", p, "warned", ["model.pt"], root=work,
                         metadata={**MODEL, "license": "apache-2.0"},
                         links=[("trained_on", data.ref or "")])
    failed = sdk.publish("model", p, "failed", ["model.pt"], root=work,
                         metadata={k: v for k, v in MODEL.items() if k != "license"},
                         links=[("trained_on", data.ref or "")])
    want = {data.ref: "valid", warned.ref: "valid", failed.ref: "invalid"}
    for version in (data, warned, failed):
        detail = judged(sdk, version.ref or "")
        assert {v["check"] for v in detail["verdicts"]} == BUILTIN
        assert detail["validation"] == want[version.ref], reasons(detail)
        entries = asyncio.run(_entries(namespace.database_url, version.ref or ""))
        print(f"{version.ref}: {sum(entries.values())} ledger entries {entries}")
        assert entries == {"Published": 1, "VerdictSet": 1}
    statuses = {v["check"]: v["status"] for v in judged(sdk, warned.ref or "")["verdicts"]}
    assert statuses["license"] == "warning"
    assert reasons(judged(sdk, failed.ref or ""))["required"] == [
        "license: missing (required for every artifact)"]


class Receiver(BaseHTTPRequestHandler):
    """A loopback hook: /audit answers a warning at once, /slow answers too late."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.received.append(body)
        if self.path == "/slow":
            time.sleep(1.5)
        answer = json.dumps({"status": "warning", "reasons": ["audit: 3% accuracy gap "
                                                             "between groups"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_http_hooks_on_loopback_give_their_verdicts(
        sdk: Client, rules: Callable[[str, str], None], receiver: str, work: Path) -> None:
    p = project()
    rules(p, f'[[hooks]]\nname = "audit"\nurl = "{receiver}/audit"\ntimeout_s = 5\n'
             f'[[hooks]]\nname = "slow"\nurl = "{receiver}/slow"\ntimeout_s = 0.5\n'
             'retries = 1\n')
    model = sdk.publish("model", p, "hooked", ["model.pt"], root=work, metadata=MODEL)
    detail = judged(sdk, model.ref or "", BUILTIN | {"audit", "slow"})
    verdicts = {v["check"]: v for v in detail["verdicts"]}
    assert verdicts["audit"]["status"] == "warning"
    assert verdicts["audit"]["reasons"] == ["audit: 3% accuracy gap between groups"]
    assert verdicts["slow"]["status"] == "failed"
    assert verdicts["slow"]["reasons"] == ["slow: timed out after 0.5s, 2 attempts"]
    posted = [b for b in Receiver.received if b["digest"] == model.digest]
    assert len(posted) == 3  # audit once, slow twice
    assert posted[0]["content"]["name"] == "hooked" and posted[0]["version_number"] == 1


def test_production_needs_a_valid_verdict_and_an_eval_log(
        sdk: Client, api: Service, api_token: str, work: Path) -> None:
    p = project()
    data = publish_dataset(sdk, p, work)
    good = sdk.publish("model", p, "good", ["model.pt"], root=work, metadata=MODEL,
                       links=[("trained_on", data)]).ref or ""
    bad = sdk.publish("model", p, "bad", ["data.csv"], root=work,
                      metadata={**MODEL, "license": "proprietary"},
                      links=[("trained_on", data)]).ref or ""
    assert judged(sdk, good)["validation"] == "valid"
    assert judged(sdk, bad)["validation"] == "invalid"

    skipped = cairn(api, api_token, "stage", good, "production")
    assert skipped.returncode == 1 and "[stage_order]" in skipped.stderr
    for ref in (good, bad):
        assert cairn(api, api_token, "stage", ref, "staging").returncode == 0

    refused = cairn(api, api_token, "stage", bad, "production")
    assert refused.returncode == 1 and "[promotion_refused]" in refused.stderr
    assert "validation is invalid" in refused.stderr and "no eval_log" in refused.stderr
    with pytest.raises(CairnError) as err:
        sdk.set_stage(good, "production")
    assert err.value.reason == "promotion_refused"
    event = httpx.get(f"{api.url}/v1/events/{err.value.detail['event_id']}").json()
    assert (event["status"], event["reason"]) == ("rejected", "promotion_refused")
    assert "no eval_log version is linked to it with 'evaluates'" in event["message"]
    assert "validation" not in event["message"]  # only what is missing is said

    sdk.publish("eval_log", p, "good-eval", ["eval.json"], root=work,
                metadata={"metrics": {"top1": 0.75}}, links=[("evaluates", good)])
    promoted = cairn(api, api_token, "stage", good, "production")
    assert promoted.returncode == 0, promoted.stderr
    assert sdk.show(good)["stage"] == "production"
    still = cairn(api, api_token, "stage", bad, "production")
    assert still.returncode == 1 and "validation is invalid" in still.stderr


def test_a_projects_own_ladder_orders_its_stage_moves(
        sdk: Client, api: Service, api_token: str, cairn_env: dict[str, str], work: Path) -> None:
    """A ladder with canary between staging and production: moves follow it one step at a
    time, skipping canary is refused with the reason, and a stage off the ladder is refused by
    the api (422, it reads the project for the move's role anyway) and by the ledger (an
    event produced to Kafka itself, a publish with a stage)."""
    p = project()
    ladder = ["development", "staging", "canary", "production"]
    put = sdk.http.json("PUT", f"/v1/projects/{p}", json={"lifecycle": {
        "stages": ladder, "gates": {"production": {"role": "maintainer"}}}})
    sdk.wait_for(put["event_id"])
    assert sdk.http.json("GET", f"/v1/projects/{p}")["lifecycle"]["stages"] == ladder
    ref = sdk.publish("model", p, "laddered", ["model.pt"], root=work, metadata=MODEL,
                      stage="development").ref or ""
    said = "development → staging → canary → production → archived"

    assert cairn(api, api_token, "stage", ref, "staging").returncode == 0
    skipped = cairn(api, api_token, "stage", ref, "production")
    assert skipped.returncode == 1 and "[stage_order]" in skipped.stderr, skipped.stderr
    assert "production comes after canary: move it to canary first" in skipped.stderr
    for stage in ("canary", "production"):
        moved = cairn(api, api_token, "stage", ref, stage)
        assert moved.returncode == 0, moved.stderr
        assert sdk.show(ref)["stage"] == stage
    assert sdk.versions(p, "laddered")["stages"] == [*ladder, "archived"]

    unknown = cairn(api, api_token, "stage", ref, "qa")
    assert unknown.returncode == 1 and "[unknown_stage]" in unknown.stderr, unknown.stderr
    assert said in unknown.stderr
    reply = httpx.put(f"{api.url}/v1/artifacts/{p}/laddered/versions/v1/stage",
                      json={"stage": "qa"}, headers={"Authorization": f"Bearer {api_token}"})
    assert reply.status_code == 422 and reply.json()["error"]["reason"] == "unknown_stage"
    assert "[invalid_stage]" in cairn(api, api_token, "stage", ref, "Q A").stderr

    emitter = emitter_for(cairn_env)  # past the api: the ledger checks the ladder itself
    try:
        direct = new_event(f"{p}/laddered", "StageChanged", {"version": "v1", "stage": "qa"},
                           actor="alice", tool="test")
        emitter.emit(direct)
    finally:
        emitter.close()
    with pytest.raises(CairnError) as err:
        sdk.wait_for(str(direct["event_id"]))
    assert err.value.reason == "unknown_stage" and said in err.value.message
    with pytest.raises(CairnError) as err:
        sdk.publish("model", p, "elsewhere", ["model.pt"], root=work, metadata=MODEL,
                    stage="qa")
    assert err.value.reason == "unknown_stage" and said in err.value.message
    assert sdk.show(ref)["stage"] == "production"
