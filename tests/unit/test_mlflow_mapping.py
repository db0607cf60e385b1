"""The MLflow → Cairn mapping (cairn.core.domain.mlflow_import) on JSON as MLflow 3.17's
REST API answers it (registered-models/get, model-versions/search, runs/get), and the
credentials the MLflow adapter takes from the environment."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from cairn.core.domain import mlflow_import as m
from cairn.core.domain.identity import InvalidInput, manifest_digest
from cairn.sdk.errors import CairnError
from cairn.sdk.mlflow_server import MlflowServer, auth_from

MODEL: dict[str, Any] = {
    "name": "Churn Classifier", "description": "churn model",
    "tags": [{"key": "team", "value": "growth"}, {"key": "mlflow.internal", "value": "x"}],
    "aliases": [{"alias": "champion", "version": "1"}, {"alias": "latest", "version": "2"},
                {"alias": "Prod!", "version": "2"}, {"alias": "gone", "version": "7"}],
}
VERSION: dict[str, Any] = {
    "name": "Churn Classifier", "version": "1", "creation_timestamp": 1796327255445,
    "current_stage": "None", "description": "v1", "status": "READY",
    "source": "runs:/f333766eb1734c7b9d76aec712e9106b/model",
    "run_id": "f333766eb1734c7b9d76aec712e9106b", "tags": [{"key": "q", "value": "ok"}],
}
RUN: dict[str, Any] = {
    "info": {"run_id": "f333766eb1734c7b9d76aec712e9106b", "experiment_id": "1",
             "run_name": "clumsy-lynx-820", "user_id": "ana",
             "artifact_uri": "mlflow-artifacts:/1/f333766eb1734c7b9d76aec712e9106b/artifacts"},
    "data": {
        "metrics": [{"key": "loss", "value": 0.25, "timestamp": 1, "step": 2},
                    {"key": "odd", "value": "NaN", "timestamp": 1, "step": 0}],
        "params": [{"key": "lr", "value": "0.1"}, {"key": "depth", "value": "4"}],
        "tags": [{"key": "mlflow.user", "value": "root"},
                 {"key": "mlflow.source.git.commit", "value": "a" * 40},
                 {"key": "mlflow.source.git.repoURL", "value": "https://git.example/t.git"},
                 {"key": "mlflow.source.name", "value": "train.py"}],
    },
    "inputs": {"dataset_inputs": [{
        "tags": [{"key": "mlflow.data.context", "value": "training"}],
        "dataset": {"name": "Churn train", "digest": "aa321b6f", "source_type": "s3",
                    "source": '{"uri": "s3://lake/train.csv"}',
                    "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 3}'},
    }]},
}


def mapped(run: dict[str, Any] | None = RUN, **version: Any) -> m.ModelVersion:
    return m.model_version("p", MODEL, {**VERSION, **version}, run, "churn-exp")


def test_a_version_keeps_params_latest_metrics_tags_and_where_it_came_from() -> None:
    v = mapped()
    assert (v.artifact, v.source) == ("p/churn-classifier", "models:/Churn Classifier/1")
    assert v.key == ("Churn Classifier", "1", "f333766eb1734c7b9d76aec712e9106b")
    assert v.metadata["params"] == {"lr": "0.1", "depth": "4"}
    assert v.metadata["metrics"] == {"loss": 0.25}
    assert v.metadata["creator"] == "ana"
    assert v.metadata["description"] == "v1"
    assert v.metadata["tags"] == ["mlflow", "team-growth", "q-ok"]
    assert v.environment == {"git_commit": "a" * 40, "git_remote": "https://git.example/t.git"}
    extra = v.extra["mlflow"]
    assert (extra["experiment_id"], extra["experiment"], extra["stage"]) == ("1", "churn-exp",
                                                                             "None")
    assert extra["aliases"] == ["champion"]
    assert extra["non_finite_metrics"] == {"odd": "NaN"}
    assert extra["run_tags"]["mlflow.source.name"] == "train.py"
    assert extra["model_tags"] == {"team": "growth", "mlflow.internal": "x"}
    assert m.key_of(v.extra) == v.key


def test_a_version_without_a_run_still_maps() -> None:
    v = mapped(None, run_id="", description="")
    assert v.key == ("Churn Classifier", "1", "")
    assert v.metadata["params"] == {} and v.metadata["metrics"] == {}
    assert v.metadata["creator"] == "mlflow"
    assert v.metadata["description"] == "churn model"  # the registered model's
    assert v.datasets == []


def test_a_dataset_input_is_a_content_addressed_dataset_version_linked_trained_on() -> None:
    [d] = mapped().datasets
    assert d.artifact == "p/churn-train"
    assert json.loads(d.descriptor)["digest"] == "aa321b6f"
    assert d.metadata["data_source"] == "s3://lake/train.csv"
    assert d.extra["mlflow"]["input_tags"] == {"mlflow.data.context": "training"}
    assert d.digest == manifest_digest("dataset", [
        {"path": m.DESCRIPTOR, "sha256": d.sha256, "size": len(d.descriptor)}])
    assert mapped().links == [("trained_on", f"p/churn-train@{d.digest}")]
    assert mapped().datasets[0].ref == d.ref  # the same input maps to the same version


def test_the_same_dataset_twice_in_a_run_is_one_version() -> None:
    run = copy.deepcopy(RUN)
    run["inputs"]["dataset_inputs"] *= 2
    assert len(mapped(run).datasets) == 1


def test_names_are_cleaned_and_long_ones_kept_apart() -> None:
    assert m.cairn_name("Churn Classifier / EU") == "churn-classifier-eu"
    assert m.cairn_name("***") == "model"
    long_a, long_b = "a" * 200 + "x", "a" * 200 + "y"
    assert len(m.cairn_name(long_a)) == m.MAX_NAME
    assert m.cairn_name(long_a) != m.cairn_name(long_b)


def test_aliases_move_only_where_needed_and_what_cairn_cannot_hold_is_refused() -> None:
    moves = m.alias_moves("p/churn-classifier", MODEL, {"1": 1, "2": 2}, {})
    assert [(a.alias, a.number, a.refused is not None) for a in moves] == [
        ("Prod!", 2, True), ("champion", 1, False), ("latest", 2, True)]
    again = m.alias_moves("p/churn-classifier", MODEL, {"1": 1, "2": 2}, {"champion": 1})
    assert "champion" not in [a.alias for a in again]


LADDER = ("development", "staging", "production", "archived")


@pytest.mark.parametrize(("stage", "current", "steps"), [
    ("None", None, []), (None, None, []),
    ("Staging", None, ["staging"]), ("Staging", "staging", []),
    ("Production", None, ["staging", "production"]),
    ("Production", "staging", ["production"]),
    ("Staging", "production", ["staging"]),  # a demotion is one step
    ("Archived", "staging", ["archived"]),
])
def test_a_stage_is_reached_a_step_at_a_time(stage: str | None, current: str | None,
                                              steps: list[str]) -> None:
    assert m.stage_steps(stage, current, LADDER) == steps


def test_a_stage_the_ladder_lacks_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        m.stage_steps("Production", None, ("dev", "archived"))
    assert caught.value.reason == "unknown_stage"


def test_experiments_filter_by_name_or_id() -> None:
    assert m.wanted("1", "churn-exp", [])
    assert m.wanted("1", "churn-exp", ["churn-exp"])
    assert m.wanted("1", "churn-exp", ["1"])
    assert not m.wanted("1", "churn-exp", ["other"])


@pytest.mark.parametrize(("env", "header", "basic", "verify"), [
    ({"MLFLOW_TRACKING_TOKEN": "t"}, "Bearer t", False, True),
    ({"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"}, None, True, True),
    ({"MLFLOW_TRACKING_INSECURE_TLS": "true"}, None, False, False),
    ({"MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem"}, None, False, "/ca.pem"),
])
def test_credentials_come_from_mlflows_own_variables(env: dict[str, str], header: str | None,
                                                      basic: bool, verify: bool | str) -> None:
    headers, auth, tls = auth_from(env)
    assert headers.get("Authorization") == header
    assert isinstance(auth, httpx.BasicAuth) == basic
    assert tls == verify


@pytest.mark.parametrize(("status", "reason"), [(401, "mlflow_auth_required"),
                                                (403, "mlflow_auth_required"),
                                                (500, "mlflow_refused")])
def test_a_refusal_says_what_to_do(status: int, reason: str) -> None:
    answer = httpx.MockTransport(lambda _: httpx.Response(status, json={
        "error_code": "X", "message": "no"}))
    server = MlflowServer("http://mlflow.test", {}, httpx.Client(
        base_url="http://mlflow.test", transport=answer))
    with pytest.raises(CairnError) as caught:
        list(server.registered_models())
    assert caught.value.reason == reason
    if reason == "mlflow_auth_required":
        assert "MLFLOW_TRACKING_TOKEN" in caught.value.message


def test_a_tracking_uri_that_is_not_a_server_is_refused() -> None:
    with pytest.raises(CairnError) as caught:
        MlflowServer("sqlite:///mlflow.db", {})
    assert caught.value.reason == "invalid_option"


def test_files_the_server_does_not_serve_are_refused_with_the_fix() -> None:
    server = MlflowServer("http://mlflow.test", {}, httpx.Client(base_url="http://x"))
    assert server.proxied_path("mlflow-artifacts:/1/r/artifacts/model") == "1/r/artifacts/model"
    with pytest.raises(CairnError) as caught:
        server.proxied_path("s3://bucket/1/r/artifacts/model")
    assert caught.value.reason == "mlflow_artifacts_unreachable"
    assert "--serve-artifacts" in caught.value.message
