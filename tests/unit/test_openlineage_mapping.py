"""The OpenLineage → Cairn mapping (cairn.core.domain.openlineage) and the spec's schema check
(openlineage_schema), on events shaped as the spec's own examples (openlineage_examples/, from
OpenLineage's client/python/tests)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cairn.core.domain import openlineage as ol
from cairn.core.domain.config_items import check_item
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.openlineage_schema import check_event
from cairn.core.domain.principals import check_project

from tests.openlineage_facets import facet_events

EXAMPLES = Path(__file__).parent / "openlineage_examples"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/client/python"
RUN_ID = "0193a1f2-7c4e-7d1a-9b6e-2f0c8e4d5a10"


def facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x.json",
            **fields}


def run_event(event_type: str = "COMPLETE", **extra: Any) -> dict[str, Any]:
    """A dbt-like run: two inputs, one output with the facets the mapping reads."""
    return {
        "eventType": event_type, "eventTime": "2026-11-30T09:15:02.412Z", "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": RUN_ID, "facets": {"nominalTime": facet(
            nominalStartTime="2026-11-30T09:00:00Z")}},
        "job": {"namespace": "analytics-airflow", "name": "daily_orders.build", "facets": {
            "sourceCodeLocation": facet(type="git", url="https://github.com/acme/dags",
                                        path="dags/orders.py", version="4f1c2ab")}},
        "inputs": [{"namespace": "postgres://db.acme.internal:5432", "name": "shop.orders"},
                   {"namespace": "postgres://db.acme.internal:5432", "name": "shop.customers"}],
        "outputs": [{
            "namespace": "s3://acme-lake", "name": "marts/Daily Orders",
            "facets": {
                "schema": facet(fields=[{"name": "day", "type": "DATE"},
                                        {"name": "orders", "type": "BIGINT"}]),
                "documentation": facet(description="Orders per day"),
                "ownership": facet(owners=[{"name": "team:analytics", "type": "MAINTAINER"}]),
                "dataSource": facet(name="acme-lake", uri="s3://acme-lake"),
                "columnLineage": facet(fields={"orders": {"inputFields": [
                    {"namespace": "postgres://db.acme.internal:5432", "name": "shop.orders",
                     "field": "id"}]}}),
                "acmeQuality": facet(score=0.97),  # a custom facet: kept
            },
            "outputFacets": {"outputStatistics": facet(rowCount=365, size=8192)},
        }],
        **extra,
    }


ROUTING = ol.Routing(namespaces={"s3://acme-lake": "lake",
                                 "postgres://db.acme.internal:5432": "shop"},
                     default="imports")


def test_spec_examples_pass_the_schema() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        check_event(json.loads(path.read_text()))
    check_event(run_event())


@pytest.mark.parametrize("change, field", [
    (lambda e: e["run"].pop("runId"), "$.run"),
    (lambda e: e["run"].update(runId="not-a-uuid"), "$.run.runId"),
    (lambda e: e.update(eventType="DONE"), "$.eventType"),
    (lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].update(type=3),
     "$.outputs[0].facets.schema.fields[0].type"),
    (lambda e: e["outputs"][0]["outputFacets"]["outputStatistics"].update(rowCount="many"),
     "$.outputs[0].outputFacets.outputStatistics.rowCount"),
    (lambda e: e["outputs"][0]["facets"]["acmeQuality"].pop("_producer"),
     "$.outputs[0].facets.acmeQuality"),
    (lambda e: e.update(eventTime="yesterday"), "$.eventTime"),
])
def test_a_schema_refusal_names_the_field(change: Any, field: str) -> None:
    event = run_event()
    change(event)
    with pytest.raises(InvalidInput) as refused:
        check_event(event)
    assert refused.value.reason == "invalid_openlineage"
    assert str(refused.value).startswith(field + ":"), str(refused.value)


def test_a_complete_run_publishes_each_output_linked_to_inputs_and_job() -> None:
    out = ol.mapped(check_event(run_event()), ROUTING)
    assert [v.artifact for v in out.versions] == ["lake/s3-acme-lake.marts-daily-orders"]
    body = out.versions[0].body
    assert body["kind"] == "dataset" and body["project"] == "lake"
    assert [lk["target"] for lk in body["links"] if lk["relation"] == "derived_from"] == [
        "shop/postgres-db.acme.internal-5432.shop.orders",
        "shop/postgres-db.acme.internal-5432.shop.customers"]
    [produced] = [lk for lk in body["links"] if lk["relation"] == "produced_by"]
    assert produced["external"] == {
        "kind": "code", "url": f"openlineage://analytics-airflow/daily_orders.build/runs/{RUN_ID}",
        "commit": "4f1c2ab", "path": "dags/orders.py", "license": None}
    meta = body["metadata"]
    assert (meta["description"], meta["owner_team"], meta["data_source"]) == (
        "Orders per day", "team:analytics", "s3://acme-lake")
    assert meta["metrics"] == {"rowCount": 365.0, "bytes": 8192.0}
    kept = json.loads(body["extra"])["openlineage"]
    assert set(kept["facets"]) == {"schema", "documentation", "ownership", "dataSource",
                                   "columnLineage", "acmeQuality", "outputStatistics"}
    assert kept["facets"]["columnLineage"]["fields"]["orders"]["inputFields"][0]["field"] == "id"
    assert kept["run"]["runId"] == RUN_ID and kept["job"]["name"] == "daily_orders.build"
    # the one file says what the version is: the run, for want of a datasetVersion
    assert json.loads(out.versions[0].descriptor)["version"] == f"run:{RUN_ID}"
    assert body["files"][0]["path"] == "openlineage.json"
    assert out.state is not None and out.state.key == RUN_ID
    assert out.projects == {"lake"} and out.archives == []


def test_the_same_event_maps_to_the_same_ids_and_digest() -> None:
    first, again = (ol.mapped(check_event(run_event()), ROUTING) for _ in range(2))
    assert first.versions[0].event_id == again.versions[0].event_id
    assert first.versions[0].body["digest"] == again.versions[0].body["digest"]
    assert first.state and again.state and first.state.event_id == again.state.event_id
    later = run_event()
    later["eventTime"] = "2026-11-30T09:16:00Z"
    assert ol.mapped(later, ROUTING).versions[0].event_id != first.versions[0].event_id


def test_dataset_version_facet_is_the_content_id() -> None:
    def with_version(v: str) -> dict[str, Any]:
        event = run_event()
        event["outputs"][0]["facets"]["version"] = facet(datasetVersion=v)
        return event
    a, b, a2 = (ol.mapped(with_version(v), ROUTING).versions[0].body["digest"]
                for v in ("17", "18", "17"))
    assert a != b and a == a2


@pytest.mark.parametrize("event_type", ["START", "RUNNING", "FAIL", "ABORT", "OTHER"])
def test_other_run_states_are_recorded_without_publishing(event_type: str) -> None:
    out = ol.mapped(check_event(run_event(event_type)), ROUTING)
    assert out.versions == [] and out.archives == []
    assert out.state is not None and out.state.kind == "openlineage_run"
    assert out.state.body["event_type"] == event_type
    assert check_item(out.state.kind, out.state.key, json.dumps(out.state.body))


def test_drop_archives_the_version() -> None:
    event = run_event()
    event["outputs"][0]["facets"]["lifecycleStateChange"] = facet(lifecycleStateChange="DROP")
    out = ol.mapped(check_event(event), ROUTING)
    [archive] = out.archives
    assert archive.artifact == out.versions[0].artifact
    assert archive.body["action"] == "archive"
    assert archive.body["version"] == "sha256:" + out.versions[0].body["digest"]
    earlier = "ab" * 32
    again = ol.mapped(event, ROUTING, live={archive.artifact: [earlier]})
    assert [a.body["version"] for a in again.archives] == [
        f"sha256:{earlier}", f"sha256:{out.versions[0].body['digest']}"]
    assert again.archives[1].event_id == archive.event_id  # the same request, the same id


def test_models_by_facet_or_by_project_setting() -> None:
    by_facet = run_event()
    by_facet["outputs"][0]["facets"]["datasetType"] = facet(datasetType="MODEL")
    assert ol.mapped(by_facet, ROUTING).versions[0].body["kind"] == "model"
    routing = ol.Routing(ROUTING.namespaces, "imports", models={"lake": ["s3://acme-lake/marts/*"]})
    assert ol.mapped(run_event(), routing).versions[0].body["kind"] == "model"
    assert ol.mapped(run_event(), ROUTING).versions[0].body["kind"] == "dataset"


def test_unmapped_namespaces_go_to_the_default_project() -> None:
    out = ol.mapped(run_event(), ol.Routing({}, "imports"))
    assert out.versions[0].body["project"] == "imports"


def test_spec2_dataset_and_job_events() -> None:
    dataset_event = json.loads((EXAMPLES / "serde_example_dataset_event.json").read_text())
    out = ol.mapped(check_event(dataset_event), ROUTING)
    assert [v.artifact for v in out.versions] == ["imports/openlineage.name"]
    assert not [lk for lk in out.versions[0].body["links"]] and out.state is None
    job_event = json.loads((EXAMPLES / "serde_example_job_event.json").read_text())
    out = ol.mapped(check_event(job_event), ROUTING)
    assert out.versions == [] and out.state is not None and out.state.kind == "openlineage_job"


def test_artifact_names_fit_cairns_rules() -> None:
    assert ol.artifact_name("bigquery", "Proj.Dataset.Table") == "bigquery.proj.dataset.table"
    long = ol.artifact_name("s3://bucket", "a/" * 200)
    assert len(long) <= 128
    assert long != ol.artifact_name("s3://bucket", "a/" * 201)


def test_project_setting_is_checked() -> None:
    settings = {"namespaces": ["s3://acme-lake", "s3://acme-lake"], "models": []}
    assert check_project({"openlineage": settings})["openlineage"] == {
        "namespaces": ["s3://acme-lake"], "models": []}
    assert "openlineage" not in check_project({})
    with pytest.raises(InvalidInput):
        check_project({"openlineage": {"namespaces": "s3://acme-lake"}})


def test_example_events_do_not_change_in_mapping() -> None:
    full = json.loads((EXAMPLES / "example_full_event.json").read_text())
    out = ol.mapped(check_event(copy.deepcopy(full)), ROUTING)
    assert len(out.versions) == len(full["outputs"])


@pytest.mark.parametrize("label, event", list(facet_events()), ids=lambda v: str(v)[:60])
def test_every_facet_the_spec_defines_is_accepted_and_kept(label: str, event: dict[str, Any]
                                                           ) -> None:
    out = ol.mapped(check_event(event), ROUTING)
    kept = json.loads(out.versions[0].body["extra"])["openlineage"]
    given = {**event["outputs"][0]["facets"], **event["outputs"][0]["outputFacets"]}
    assert set(kept["facets"]) == set(given)
    assert kept["run"]["facets"] == event["run"]["facets"]
    assert kept["job"]["facets"] == event["job"]["facets"]


def test_empty_or_long_texts_fit_the_dataset_schema() -> None:
    event = run_event()
    facets = event["outputs"][0]["facets"]
    facets["dataSource"] = facet(name="", uri="")
    facets["documentation"] = facet(description="x" * 5000)
    meta = ol.mapped(check_event(event), ROUTING).versions[0].body["metadata"]
    assert meta["data_source"] is None and len(meta["description"] or "") == 4000


def test_a_model_facets_framework_is_kept_when_the_model_schema_allows_it() -> None:
    def framework(value: str) -> str | None:
        event = run_event()
        event["outputs"][0]["facets"]["model"] = facet(framework=value)
        body = ol.mapped(check_event(event), ROUTING).versions[0].body
        assert body["kind"] == "model"
        return body["metadata"]["framework"]
    assert framework("pytorch") == "pytorch"
    assert framework("x" * 65) is None and framework("") is None


def test_the_projects_a_sender_needs_publish_in() -> None:
    assert ol.projects_of(run_event(), ROUTING) == {"lake"}
    started = run_event("START")
    assert ol.projects_of(started, ROUTING) == {"lake"}  # the run is about its outputs
    started["outputs"] = []
    assert ol.projects_of(started, ROUTING) == {"shop"}  # else its inputs
    started["inputs"] = []
    assert ol.projects_of(started, ROUTING) == {"imports"}  # else its job's namespace
    for _, event in facet_events("s3://acme-lake"):
        assert ol.mapped(event, ROUTING).projects <= ol.projects_of(event, ROUTING)
