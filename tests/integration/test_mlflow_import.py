"""`cairn import-mlflow` against a real `mlflow server` (from PyPI, its own virtualenv, a
PostgreSQL backend on the stack's PostgreSQL, artifacts served by the server) populated with
the MLflow client (tests/mlflow_seed.py): two registered models of two versions, params,
metrics over steps, a dataset input per run, an alias per model, a version in Staging.
Every version is found in Cairn with the same bytes, its params, latest metrics, alias,
stage and dataset link; a second import adds nothing (no event in the ledger)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cairn.core.domain.mlflow_import import cairn_name
from cairn.sdk import Client
from cairn.sdk.mlflow_import import import_mlflow

from scripts.benchmarks.compare import free_port
from tests.conftest import Namespace
from tests.endpoints import Endpoints
from tests.ledger_helpers import settings_for
from tests.mlflow_server import Mlflow, running_mlflow, venv_python
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
# the MLflow server's start and the seeding take most of it: about a minute on an idle
# machine, several on one shared by many test runs
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def mlflow_server(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Mlflow]:
    python = venv_python()
    if isinstance(python, str):
        print(f"skipping: {python}")
        pytest.skip(python)
    with running_mlflow(python, endpoints.database_url,
                        tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture(scope="module")
def seeded(mlflow_server: Mlflow, tmp_path_factory: pytest.TempPathFactory
           ) -> list[dict[str, Any]]:
    return mlflow_server.seed(tmp_path_factory.mktemp("mlflow-files"))


@pytest.fixture
def sdk(api: Service, api_token: str, cairn_env: dict[str, str]) -> Iterator[Client]:
    with Client(api.url, api_token, settings_for(cairn_env), progress=False) as client:
        yield client


def cli(api: Service, api_token: str, cairn_env: dict[str, str], *args: str
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cairn_env, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": api_token}
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=180)


def events(namespace: Namespace, project: str) -> int:
    """The project's ledger entries but the validator's verdicts, which arrive on their own
    time (the session's database and services are shared by every test)."""
    async def count() -> int:
        conn = await asyncpg.connect(namespace.database_url)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM event_log WHERE artifact LIKE $1 || '/%'"
                " AND event_type <> 'VerdictSet'", project))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_every_version_comes_over_and_a_second_import_adds_nothing(
        sdk: Client, seeded: list[dict[str, Any]], mlflow_server: Mlflow, api: Service,
        api_token: str, cairn_env: dict[str, str], namespace: Namespace,
        tmp_path: Path) -> None:
    project = f"mlf-{uuid.uuid4().hex[:8]}"
    report = import_mlflow(sdk, mlflow_server.uri, project=project)

    assert not report.refused, report.refused
    assert report.count("imported", "version") == 4
    assert report.count("imported", "dataset") == 4
    assert report.count("imported", "alias") == 2
    assert [o.source for o in report.outcomes if o.kind == "stage"] == [
        "models:/ranker/2 stage Staging"]
    for logged in seeded:
        artifact = f"{project}/{cairn_name(logged['model'])}"
        ref = f"{artifact}@v{logged['version']}"  # new artifacts: numbers as in MLflow
        shown = sdk.show(ref)
        assert {f["path"]: f["sha256"] for f in shown["files"]} == logged["files"]
        pulled = sdk.pull(ref, tmp_path / ref.replace("/", "_"))
        assert {p.relative_to(tmp_path / ref.replace("/", "_")).as_posix():
                hashlib.sha256(p.read_bytes()).hexdigest() for p in pulled} == logged["files"]
        assert shown["metadata"]["params"] == logged["params"]
        assert shown["metadata"]["metrics"] == {"loss": pytest.approx(logged["loss"])}
        assert "team-growth" in shown["metadata"]["tags"]
        mlflow = shown["extra"]["mlflow"]
        assert (mlflow["registered_model"], mlflow["version"], mlflow["run_id"]) == (
            logged["model"], logged["version"], logged["run_id"])
        assert mlflow["experiment"] == "cairn-import-test"
        assert ("champion" in shown["aliases"]) == (logged["version"] == "1")
        assert shown["stage"] == ("staging" if (logged["model"], logged["version"]) == (
            "ranker", "2") else None)
        [link] = shown["links_out"]
        assert link["relation"] == "trained_on"
        data = sdk.show(link["target"]["ref"])
        assert data["kind"] == "dataset"
        assert data["name"] == cairn_name(logged["dataset"]["name"])
        assert data["extra"]["mlflow"]["dataset"]["digest"] == logged["dataset"]["digest"]
        assert data["metadata"]["data_source"].startswith("s3://lake/")

    before = events(namespace, project)
    again = cli(api, api_token, cairn_env, "import-mlflow", "--tracking-uri",
                mlflow_server.uri, "--project", project, "--json")
    assert again.returncode == 0, again.stderr
    outcomes = json.loads(again.stdout)
    assert {o["status"] for o in outcomes} == {"skipped"}
    assert sorted(o["source"] for o in outcomes) == sorted(
        f"models:/{s['model']}/{s['version']}" for s in seeded)
    assert events(namespace, project) == before


def test_an_unreachable_server_is_one_clear_error(api: Service, api_token: str,
                                                  cairn_env: dict[str, str]) -> None:
    done = cli(api, api_token, cairn_env, "import-mlflow", "--tracking-uri",
               f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "[mlflow_unreachable]" in done.stderr
    assert "Traceback" not in done.stderr
