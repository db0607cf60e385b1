"""OpenLineage in, on the real stack: POST /api/v1/lineage (and /v1/openlineage) with
spec-shaped run events, as an OpenLineage client configured for Marquez sends them with its
api_key auth (a Bearer token), and the openlineage Kafka topic (cairn.openlineage_in). The
events go through Kafka, the ledger and the indexer like any publish.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.core.adapters.kafka import produce_all, producer

from tests.conftest import Namespace
from tests.ledger_helpers import read_topic, wait_recorded
from tests.openlineage_facets import facet_events
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/client/python"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/x", **fields}


def run_event(ns: str, job: str, inputs: list[str], outputs: list[str], *,
              event_type: str = "COMPLETE", run_id: str | None = None,
              output_facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "eventType": event_type, "eventTime": "2026-12-03T08:00:00.000Z",
        "producer": PRODUCER, "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": "test-airflow", "name": job, "facets": {
            "sourceCodeLocation": facet(type="git", url="https://github.com/acme/dags",
                                        path=f"dags/{job}.py", version="4f1c2ab")}},
        "inputs": [{"namespace": ns, "name": n} for n in inputs],
        "outputs": [{"namespace": ns, "name": n, "facets": {
            "schema": facet(fields=[{"name": "day", "type": "DATE"}]),
            "documentation": facet(description=f"{n} built by {job}"),
            **(output_facets or {})},
            "outputFacets": {"outputStatistics": facet(rowCount=42, size=4096)}}
            for n in outputs],
    }


@pytest.fixture(scope="module")
def writer(api: Service, api_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60,
                      headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


@pytest.fixture(scope="module")
def place(writer: httpx.Client, namespace: Namespace, indexer: Service) -> tuple[str, str]:
    """A project of its own and the OpenLineage namespace its admin maps to it."""
    project, ns = f"ol{uuid.uuid4().hex[:8]}", f"s3://lake-{uuid.uuid4().hex[:8]}"
    reply = writer.put(f"/v1/projects/{project}", json={"openlineage": {"namespaces": [ns]}})
    assert reply.status_code == 202, reply.text
    recorded(namespace, [reply.json()["event_id"]])
    return project, ns


def recorded(namespace: Namespace, event_ids: list[str]) -> dict[str, Any]:
    got = asyncio.run(wait_recorded(namespace.database_url, event_ids))
    assert {r["outcome"] for r in got.values()} <= {"applied", "duplicate"}, got
    assert len(got) == len(set(event_ids)), got
    return got


def post(writer: httpx.Client, body: Any, path: str = "/api/v1/lineage") -> dict[str, Any]:
    reply = writer.post(path, json=body)
    assert reply.status_code in (200, 202), reply.text
    return reply.json()  # type: ignore[no-any-return]


def name(ns: str, dataset: str) -> str:
    return f"{ns.replace('://', '-')}.{dataset}"


def log_rows(namespace: Namespace, artifact: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(namespace.database_url)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM event_log WHERE artifact = $1", artifact))
        finally:
            await conn.close()
    return asyncio.run(count())


def test_a_complete_run_becomes_a_linked_searchable_dataset_version(
        writer: httpx.Client, place: tuple[str, str], namespace: Namespace) -> None:
    project, ns = place
    sources = post(writer, run_event(ns, "extract", [], ["orders", "customers"]))
    built = post(writer, run_event(ns, "build", ["orders", "customers"], ["daily"]))
    recorded(namespace, sources["event_ids"] + built["event_ids"])
    daily = f"{project}/{name(ns, 'daily')}"
    assert [v["artifact"] for v in built["versions"]] == [daily]

    detail = writer.get(f"/v1/artifacts/{daily}/versions/v1").json()
    assert detail["kind"] == "dataset"
    derived = {lk["target"]["ref"] for lk in detail["links_out"]
               if lk["relation"] == "derived_from" and lk["target"]}
    assert derived == {f"{project}/{name(ns, 'orders')}@v1",
                       f"{project}/{name(ns, 'customers')}@v1"}
    [job] = [lk["external"] for lk in detail["links_out"] if lk["relation"] == "produced_by"]
    assert "openlineage://test-airflow/build/runs/" in str(job) and "4f1c2ab" in str(job)
    assert detail["metadata"]["description"] == "daily built by build"
    assert detail["metadata"]["metrics"]["rowCount"] == 42
    assert detail["extra"]["openlineage"]["facets"]["schema"]["fields"][0]["name"] == "day"
    up = writer.get(f"/v1/artifacts/{project}/{name(ns, 'orders')}/versions/v1").json()
    assert [lk["source"]["ref"] for lk in up["links_in"]] == [f"{daily}@v1"]

    deadline = time.monotonic() + 90
    while True:
        found = writer.get("/v1/search", params={"project": project, "q": "daily"}).json()
        if any(h.get("ref", "").startswith(daily) or h.get("name") == name(ns, "daily")
               for h in found.get("hits", found.get("results", []))):
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def test_the_same_event_twice_changes_nothing(writer: httpx.Client, place: tuple[str, str],
                                              namespace: Namespace) -> None:
    project, ns = place
    event = run_event(ns, "copy", [], ["twice"])
    first = post(writer, event)
    recorded(namespace, first["event_ids"])
    artifact = f"{project}/{name(ns, 'twice')}"
    rows = log_rows(namespace, artifact)
    again = post(writer, event)
    # a later event of the same artifact (same partition) is recorded after the repeat
    later = post(writer, run_event(ns, "copy", [], ["twice"], output_facets={
        "version": facet(datasetVersion="2")}))
    recorded(namespace, later["event_ids"])
    assert log_rows(namespace, artifact) == rows + 1
    versions = writer.get(f"/v1/artifacts/{artifact}").json()["versions"]
    assert len(versions) == 2
    assert again["event_ids"] == first["event_ids"]


def test_a_failed_run_publishes_nothing_but_is_recorded(
        writer: httpx.Client, place: tuple[str, str], namespace: Namespace) -> None:
    project, ns = place
    run_id = str(uuid.uuid4())
    failed = post(writer, run_event(ns, "broken", ["orders"], ["never"], event_type="FAIL",
                                    run_id=run_id))
    assert failed["versions"] == []
    recorded(namespace, failed["event_ids"])
    assert writer.get(f"/v1/artifacts/{project}/{name(ns, 'never')}").status_code == 404

    async def state() -> Any:
        conn = await asyncpg.connect(namespace.database_url)
        try:
            return await conn.fetchval("SELECT body->>'event_type' FROM config_items"
                                       " WHERE kind = 'openlineage_run' AND key = $1", run_id)
        finally:
            await conn.close()
    assert asyncio.run(state()) == "FAIL"


def test_a_drop_archives_the_dataset(writer: httpx.Client, place: tuple[str, str],
                                     namespace: Namespace) -> None:
    """Every live version of it: the one the DROP event records and those before."""
    project, ns = place
    made = post(writer, run_event(ns, "load", [], ["old"]))
    recorded(namespace, made["event_ids"])
    dropped = post(writer, run_event(ns, "cleanup", [], ["old"], output_facets={
        "lifecycleStateChange": facet(lifecycleStateChange="DROP")}))
    artifact = f"{project}/{name(ns, 'old')}"
    assert dropped["archived"] == [artifact, artifact]
    recorded(namespace, dropped["event_ids"])
    versions = writer.get(f"/v1/artifacts/{artifact}").json()["versions"]
    assert [(v["version_number"], v["status"]) for v in versions] == [
        (1, "archived"), (2, "archived")]


def test_schema_invalid_is_400_naming_the_field(writer: httpx.Client,
                                                place: tuple[str, str]) -> None:
    event = run_event(place[1], "bad", [], ["x"])
    event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = "many"
    reply = writer.post("/v1/openlineage", json=event)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["reason"] == "invalid_openlineage"
    assert error["message"].startswith("$.outputs[0].outputFacets.outputStatistics.rowCount:")


def test_unauthenticated_is_401(api: Service, place: tuple[str, str]) -> None:
    event = run_event(place[1], "anon", [], ["x"])
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        reply = httpx.post(f"{api.url}/api/v1/lineage", json=event, headers=headers)
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["reason"] == "unauthenticated"


def test_a_batch_keeps_its_good_events(writer: httpx.Client, place: tuple[str, str],
                                       namespace: Namespace) -> None:
    project, ns = place
    bad = run_event(ns, "batch", [], ["bad"])
    del bad["run"]["runId"]
    batch = [run_event(ns, "batch", [], ["good-1"]), bad, run_event(ns, "batch", [], ["good-2"])]
    results = post(writer, batch, "/v1/openlineage")["results"]
    assert [r["status"] for r in results] == [202, 400, 202]
    assert results[1]["error"]["reason"] == "invalid_openlineage"
    assert results[1]["error"]["message"].startswith("$.run:")
    recorded(namespace, results[0]["event_ids"] + results[2]["event_ids"])
    for good in ("good-1", "good-2"):
        assert writer.get(f"/v1/artifacts/{project}/{name(ns, good)}").status_code == 200
    assert writer.get(f"/v1/artifacts/{project}/{name(ns, 'bad')}").status_code == 404


@pytest.fixture(scope="module")
def openlineage_in(cairn_env: dict[str, str], ledger: Service,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The openlineage topic's consumer, in this run's namespace."""
    service = Service("openlineage_in", cairn_env, tmp_path_factory.mktemp("logs")).start()
    try:
        yield service
    finally:
        service.stop()


def test_the_kafka_topic_takes_events_and_dead_letters_bad_ones(
        openlineage_in: Service, writer: httpx.Client, place: tuple[str, str],
        cairn_env: dict[str, str], namespace: Namespace) -> None:
    """As OpenLineage's Kafka transport writes: JSON values keyed by run id."""
    project, ns = place
    good = run_event(ns, "stream", ["orders"], ["from-kafka"])
    invalid = run_event(ns, "stream", [], ["never-from-kafka"])
    invalid["job"].pop("name")
    prefix = namespace.topic_prefix
    kafka = producer(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], "test-openlineage")
    key = good["run"]["runId"].encode()
    produce_all(kafka, [(f"{prefix}openlineage", key, value, None) for value in (
        b"{not json", json.dumps(invalid).encode(), json.dumps(good).encode())])
    artifact = f"{project}/{name(ns, 'from-kafka')}"
    deadline = time.monotonic() + 120
    while writer.get(f"/v1/artifacts/{artifact}").status_code != 200:
        assert time.monotonic() < deadline, "the good event never arrived"
        time.sleep(0.5)
    detail = writer.get(f"/v1/artifacts/{artifact}/versions/v1").json()
    assert detail["created_by"] == "openlineage"
    assert [lk["target_ref"] for lk in detail["links_out"]
            if lk["relation"] == "derived_from"] == [f"{project}/{name(ns, 'orders')}"]

    topic = f"{prefix}cairn.deadletter.openlineage-in"
    while True:
        dead = {m.value(): dict(m.headers()) for m in
                read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic, timeout=10)}
        if len(dead) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert dead[b"{not json"]["cairn.dlq.reason"] == b"invalid_json"
    why = dead[json.dumps(invalid).encode()]
    assert why["cairn.dlq.reason"] == b"invalid_openlineage"
    assert why["cairn.dlq.message"].startswith(b"$.job: 'name' is a required property")
    assert writer.get(f"/v1/artifacts/{project}/{name(ns, 'never-from-kafka')}"
                      ).status_code == 404


def test_every_facet_the_spec_defines_is_accepted(writer: httpx.Client,
                                                   place: tuple[str, str]) -> None:
    """Each facet of the spec's own examples, wherever it may stand: none refused, none 500."""
    labelled = list(facet_events(place[1]))
    results = post(writer, [event for _, event in labelled])["results"]
    refused = {label: r for (label, _), r in zip(labelled, results, strict=True)
               if r["status"] != 202}
    assert not refused, refused


def client_pipeline(ns: str, tag: str) -> list[Any]:
    """A small pipeline as the official client builds it: `ingest` makes raw and tmp,
    `transform` reads raw into clean (START, then COMPLETE with schema, column lineage and
    statistics), a second `transform` run FAILs, and `ingest` DROPs tmp."""
    from openlineage.client.event_v2 import InputDataset as In
    from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import lifecycle_state_change_dataset as lc
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats
    from openlineage.client.facet_v2 import schema_dataset as schema
    from openlineage.client.facet_v2 import source_code_location_job as code

    def event(state: RunState, job: str, run_id: str, inputs: list[str],
              outputs: list[OutputDataset]) -> RunEvent:
        return RunEvent(
            eventType=state, eventTime="2026-12-03T09:00:00.000Z", run=Run(runId=run_id),
            job=Job(namespace="client-airflow", name=f"{tag}.{job}", facets={
                "sourceCodeLocation": code.SourceCodeLocationJobFacet(
                    type="git", url="https://github.com/acme/dags", path=f"dags/{job}.py",
                    version="9c0ffee")}),
            inputs=[In(namespace=ns, name=f"{tag}.{i}") for i in inputs], outputs=outputs)

    def out(name: str, **facets: Any) -> OutputDataset:
        return OutputDataset(namespace=ns, name=f"{tag}.{name}", facets=facets,
                             outputFacets={"outputStatistics":
                                           stats.OutputStatisticsOutputDatasetFacet(
                                               rowCount=10, size=640)})

    clean = out("clean", schema=schema.SchemaDatasetFacet(fields=[
        schema.SchemaDatasetFacetFields(name="id", type="BIGINT"),
        schema.SchemaDatasetFacetFields(name="total", type="DECIMAL")]),
        columnLineage=cl.ColumnLineageDatasetFacet(fields={"total": cl.Fields(inputFields=[
            cl.InputField(namespace=ns, name=f"{tag}.raw", field="amount")])}))
    ingest, transform, failed, drop = (str(uuid.uuid4()) for _ in range(4))
    return [
        event(RunState.COMPLETE, "ingest", ingest, [], [out("raw"), out("tmp")]),
        event(RunState.START, "transform", transform, ["raw"], []),
        event(RunState.COMPLETE, "transform", transform, ["raw"], [clean]),
        event(RunState.FAIL, "transform", failed, ["raw"], [out("broken")]),
        event(RunState.COMPLETE, "ingest", drop, [], [out("tmp", lifecycleStateChange=(
            lc.LifecycleStateChangeDatasetFacet(lifecycleStateChange=lc.LifecycleStateChange.DROP)
        ))]),
    ]


@pytest.mark.parametrize("transport", ["http", "kafka"])
def test_the_official_client_pipeline_lands_with_its_lineage(
        transport: str, api: Service, api_token: str, openlineage_in: Service,
        writer: httpx.Client, place: tuple[str, str], cairn_env: dict[str, str],
        namespace: Namespace) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    project, ns = place
    tag = f"{transport}{uuid.uuid4().hex[:6]}"
    if transport == "http":
        client = OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=api.url, timeout=60, auth=ApiKeyTokenProvider({"apiKey": api_token}))))
    else:
        client = OpenLineageClient(transport=KafkaTransport(KafkaConfig(
            config={"bootstrap.servers": cairn_env["KAFKA_BOOTSTRAP_SERVERS"]},
            topic=f"{namespace.topic_prefix}openlineage")))
    for event in client_pipeline(ns, tag):
        client.emit(event)

    def ref(dataset: str) -> str:
        return f"{project}/{name(ns, f'{tag}.{dataset}')}"

    deadline = time.monotonic() + 120
    while writer.get(f"/v1/artifacts/{ref('tmp')}").json().get("versions", [{}])[-1].get(
            "status") != "archived" or writer.get(f"/v1/artifacts/{ref('clean')}"
                                                  ).status_code != 200:
        assert time.monotonic() < deadline, "the pipeline never landed"
        time.sleep(0.5)

    clean = writer.get(f"/v1/artifacts/{ref('clean')}/versions/v1").json()
    facets = clean["extra"]["openlineage"]["facets"]
    assert [f["name"] for f in facets["schema"]["fields"]] == ["id", "total"]
    assert facets["columnLineage"]["fields"]["total"]["inputFields"][0]["field"] == "amount"
    assert clean["metadata"]["metrics"] == {"rowCount": 10.0, "bytes": 640.0}
    assert writer.get(f"/v1/artifacts/{ref('broken')}").status_code == 404

    env = {**os.environ, **cairn_env, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": api_token}
    for start, direction, far in (("clean", "up", "raw"), ("raw", "down", "clean")):
        shown = subprocess.run([CAIRN, "lineage", f"{ref(start)}@v1", "--direction", direction,
                                "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert f"{ref(far)}@v1" in {n["id"] for n in json.loads(shown.stdout)["nodes"]}


def test_spec2_dataset_and_job_events(writer: httpx.Client, place: tuple[str, str],
                                      namespace: Namespace) -> None:
    """A DatasetEvent is a version of its dataset (content id from its version facet); a
    JobEvent is kept as the job's state."""
    project, ns = place
    base = {"eventTime": "2026-12-03T10:00:00Z", "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"}
    dataset = post(writer, {**base, "schemaURL": base["schemaURL"] + "DatasetEvent",
                            "dataset": {"namespace": ns, "name": "static", "facets": {
                                "version": facet(datasetVersion="7"),
                                "schema": facet(fields=[{"name": "id", "type": "INT"}])}}})
    job = post(writer, {**base, "schemaURL": base["schemaURL"] + "JobEvent",
                        "job": {"namespace": "test-airflow", "name": "static-job"},
                        "inputs": [{"namespace": ns, "name": "static"}], "outputs": []})
    assert job["versions"] == [] and len(job["event_ids"]) == 1
    recorded(namespace, dataset["event_ids"] + job["event_ids"])
    detail = writer.get(f"/v1/artifacts/{project}/{name(ns, 'static')}/versions/v1").json()
    assert detail["extra"]["openlineage"]["facets"]["version"]["datasetVersion"] == "7"


def test_a_contributor_sends_to_its_project_only(writer: httpx.Client, api: Service,
                                                 place: tuple[str, str],
                                                 namespace: Namespace) -> None:
    """Role checks as a publish: a contributor of the project its namespace maps to may send
    every state of a run there (START included, though the job's namespace maps nowhere);
    a dataset of a namespace no project claims goes to the default project, not theirs."""
    tag = uuid.uuid4().hex[:6]
    user, project, ns = f"olc-{tag}", f"olc{tag}", f"s3://contrib-{tag}"
    events = [writer.put(f"/v1/users/{user}", json={}).json()["event_id"],
              writer.put(f"/v1/projects/{project}", json={
                  "members": {user: "contributor"},
                  "openlineage": {"namespaces": [ns]}}).json()["event_id"]]
    recorded(namespace, events)
    made = writer.post("/v1/tokens", json={"owner": user, "scopes": ["publish"]}).json()
    recorded(namespace, [made["event_id"]])
    with httpx.Client(base_url=api.url, timeout=60,
                      headers={"Authorization": f"Bearer {made['token']}"}) as contributor:
        run_id = str(uuid.uuid4())
        for state in ("START", "COMPLETE"):
            reply = contributor.post("/api/v1/lineage", json=run_event(
                ns, "mine", [], ["out"], event_type=state, run_id=run_id))
            assert reply.status_code == 202, reply.text
        elsewhere = contributor.post("/api/v1/lineage", json=run_event(
            f"s3://nobody-{tag}", "mine", [], ["out"]))
        assert elsewhere.status_code in (403, 404), elsewhere.text  # 404: no such project
        assert elsewhere.json()["error"]["reason"] in ("forbidden", "not_found")
