"""OpenLineage events as Cairn events: what an orchestrator's run says becomes versions,
links and run state, recorded by the ledger like any publish. Pure: the caller checks the
event first (openlineage_schema.check_event), stores each version's descriptor file as a blob
and emits what `mapped` returns.

The mapping (also in the README, "OpenLineage"):

| OpenLineage                           | Cairn                                                   |
|---------------------------------------|---------------------------------------------------------|
| output dataset of a COMPLETE run      | a version of a `dataset` artifact (a `model` if it has  |
|                                       | a `model` facet, datasetType MODEL, or its project      |
|                                       | lists it in `openlineage.models`)                       |
| dataset namespace + name              | artifact name: `<namespace>.<name>` lowercased, runs of |
|                                       | other characters than a-z 0-9 . _ - as one `-`; too     |
|                                       | long: cut, with a hash of the original                  |
| dataset namespace (else job's)        | project: the project whose `openlineage.namespaces`     |
|                                       | lists it, else the default (CAIRN_OPENLINEAGE_PROJECT)  |
| `version` facet (datasetVersion)      | content id: the one file `openlineage.json` holds       |
|                                       | namespace, name and version; with no datasetVersion    |
|                                       | the version is the run (`run:<runId>`), so one run     |
|                                       | gives one version and a repeat gives the same one      |
| inputs                                | `derived_from` links to their artifacts (latest)        |
| job + run                             | `produced_by` external link                             |
|                                       | `openlineage://<job ns>/<job name>/runs/<runId>`, with  |
|                                       | sourceCodeLocation's version as commit, path as path    |
| `documentation`                       | metadata.description                                    |
| `ownership` (first owner)             | metadata.owner_team                                     |
| `dataSource`                          | metadata.data_source (its uri, else name)               |
| `outputStatistics`                    | metrics rowCount, bytes (and fileCount)                 |
| every facet (schema, columnLineage, …)| kept whole in extra.openlineage (custom ones too)       |
| `lifecycleStateChange` DROP           | the version is published, then archived with every      |
|                                       | live version of the dataset the caller names (`live`)   |
| START, RUNNING, OTHER                 | run state: config item `openlineage_run/<runId>`        |
| FAIL, ABORT                           | run state only: no output is published                  |
| DatasetEvent (spec 2)                 | a version of the dataset, content id from its version   |
|                                       | facet or the event (time + facets); no produced_by      |
| JobEvent (spec 2)                     | job state: config item `openlineage_job/<uuid5 of job>` |

Every Cairn event's id is derived from the OpenLineage event's identity (run id, event type,
event time; for DatasetEvent and JobEvent the dataset or job and the event time), so the same
event sent twice is recorded once: the ledger dedupes by event_id.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain import payloads
from cairn.core.domain.derived_ids import derived_uuid7
from cairn.core.domain.event_types import LifecycleRequested, Published
from cairn.core.domain.identity import InvalidInput, check_name
from cairn.core.domain.openlineage_schema import event_type

DESCRIPTOR = "openlineage.json"
RUN_KIND, JOB_KIND = "openlineage_run", "openlineage_job"
PUBLISHING = ("COMPLETE",)
NOT_PUBLISHING = ("START", "RUNNING", "OTHER", "FAIL", "ABORT")
MAX_NAME = 128
MAX_DESCRIPTION = 4000  # validation/schemas/dataset.schema.json (the whole one stays in extra)
_JOB_KEYS = uuid.UUID("6f1c0b57-4c1e-5a55-9d0e-0a1e1ae0c0de")  # uuid5 namespace of job keys
_OTHER = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Routing:
    """Where datasets go: OpenLineage namespace → Cairn project (each project's
    `openlineage.namespaces`), the default project, and per project the dataset patterns
    (`namespace/name` globs, `openlineage.models`) that are models."""

    namespaces: Mapping[str, str]
    default: str
    models: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def project(self, *namespaces: str) -> str:
        """The project of the first namespace that is mapped, else the default."""
        return next((self.namespaces[n] for n in namespaces if n in self.namespaces),
                    self.default)

    def is_model(self, project: str, namespace: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{namespace}/{name}", pattern)
                   for pattern in self.models.get(project, ()))


@dataclass(frozen=True)
class Version:
    """A version to publish: its descriptor file (bytes the caller stores as a blob before
    emitting) and the Published body naming it."""

    event_id: str
    artifact: str
    body: Published
    descriptor: bytes


@dataclass(frozen=True)
class Archive:
    event_id: str
    artifact: str
    body: LifecycleRequested


@dataclass(frozen=True)
class State:
    """A run's (or job's) state, kept as a config item (kind, key) by the ledger."""

    event_id: str
    kind: str
    key: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Mapped:
    state: State | None
    versions: list[Version]
    archives: list[Archive]

    @property
    def projects(self) -> set[str]:
        """The projects the event writes to (the caller needs publish in each)."""
        return {v.body["project"] for v in self.versions}


def artifact_name(namespace: str, name: str) -> str:
    """`<namespace>.<name>` in Cairn's name alphabet (see the module's table)."""
    raw = f"{namespace}.{name}"
    cleaned = _OTHER.sub("-", raw.lower()).strip("._-") or "dataset"
    if len(cleaned) > MAX_NAME:
        tag = hashlib.sha256(raw.encode()).hexdigest()[:12]
        cleaned = f"{cleaned[:MAX_NAME - 13].rstrip('._-')}-{tag}"
    return check_name(cleaned)


def event_millis(event: Mapping[str, Any]) -> int:
    when = dt.datetime.fromisoformat(event["eventTime"])
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def identity(event: Mapping[str, Any]) -> str:
    """What makes an OpenLineage event the same event: run id, event type and event time for
    a RunEvent; the dataset or job and the event time for the spec-2 static events."""
    kind = event_type(event)
    if kind == "RunEvent":
        return f"run:{event['run']['runId']}:{event.get('eventType') or 'OTHER'}:" \
               f"{event['eventTime']}"
    subject = event["dataset"] if kind == "DatasetEvent" else event["job"]
    return f"{kind}:{subject['namespace']}/{subject['name']}:{event['eventTime']}"


def _event_id(event: Mapping[str, Any], what: str) -> str:
    """A deterministic UUIDv7 for one Cairn event made of this OpenLineage event."""
    return derived_uuid7(event_millis(event), 0, identity(event), f"openlineage:{what}")


def _facets(dataset: Mapping[str, Any], *more: str) -> dict[str, Any]:
    found = dict(dataset.get("facets") or {})
    for key in more:
        found.update(dataset.get(key) or {})
    return found


def _is_model(facets: Mapping[str, Any]) -> bool:
    kind = (facets.get("datasetType") or {}).get("datasetType", "")
    return "model" in facets or str(kind).upper() == "MODEL"


def _metadata(facets: Mapping[str, Any], creator: str) -> dict[str, Any]:
    owners = (facets.get("ownership") or {}).get("owners") or []
    source = facets.get("dataSource") or {}
    stats = facets.get("outputStatistics") or {}
    metrics = {name: stats[key] for name, key in (("rowCount", "rowCount"), ("bytes", "size"),
                                                   ("fileCount", "fileCount"))
               if isinstance(stats.get(key), int | float) and not isinstance(stats[key], bool)}
    framework = (facets.get("model") or {}).get("framework")
    description = (facets.get("documentation") or {}).get("description") or None
    return {  # empty text as None, a description cut to what a dataset's schema allows
        "creator": creator,
        "description": description[:MAX_DESCRIPTION] if description else None,
        "owner_team": (owners[0]["name"] or None) if owners else None,
        "data_source": source.get("uri") or source.get("name") or None,
        "framework": framework if isinstance(framework, str) and 0 < len(framework) <= 64
        else None,  # as the model schema allows (the facet stays whole in extra)
        "tags": ["openlineage"],
        "metrics": metrics,
    }


def descriptor(namespace: str, name: str, version: str) -> bytes:
    """The one file of a mapped version: what identifies its content."""
    return _canonical({"namespace": namespace, "name": name, "version": version}) + b"\n"


def _file(content: bytes) -> dict[str, Any]:
    return {"path": DESCRIPTOR, "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(), "media_type": "application/json"}


def _version(event: Mapping[str, Any], dataset: Mapping[str, Any], facets: Mapping[str, Any],
             *, routing: Routing, fallback_version: str, links: list[dict[str, Any]],
             job_namespace: str | None, context: Mapping[str, Any], kinds: tuple[str, ...],
             live: Mapping[str, Sequence[str]]) -> tuple[Version, list[Archive]]:
    namespace, name = dataset["namespace"], dataset["name"]
    project = routing.project(namespace, *([job_namespace] if job_namespace else []))
    kind = "model" if _is_model(facets) or routing.is_model(project, namespace, name) \
        else "dataset"
    stated = (facets.get("version") or {}).get("datasetVersion")
    content = descriptor(namespace, name, str(stated) if stated else fallback_version)
    creator = f"openlineage:{context['job']['namespace']}/{context['job']['name']}" \
        if "job" in context else f"openlineage:{event.get('producer', 'unknown')}"
    own = f"{project}/{artifact_name(namespace, name)}"
    body = payloads.published(
        kind=kind, project=project, name=artifact_name(namespace, name), files=[_file(content)],
        metadata_=_metadata(facets, creator), kinds=kinds,
        links=[lk for lk in links if lk.get("target") != own],  # a table it read and wrote
        extra={"openlineage": {"namespace": namespace, "name": name, "facets": dict(facets),
                               **context}})
    artifact = own
    archives = []
    if str((facets.get("lifecycleStateChange") or {}).get("lifecycleStateChange")) == "DROP":
        archives = [Archive(_event_id(event, f"archive:{artifact}:{digest}"), artifact, {
            "version": f"sha256:{digest}", "action": "archive",
            "reason": f"OpenLineage: {namespace}/{name} was dropped ({event['eventTime']})"})
            for digest in dict.fromkeys([*live.get(artifact, ()), body["digest"]])]
    return Version(_event_id(event, f"publish:{artifact}"), artifact, body, content), archives


def _produced_by(job: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    where = (job.get("facets") or {}).get("sourceCodeLocation") or {}
    return {"relation": "produced_by", "external": {
        "kind": "code",
        "url": f"openlineage://{job['namespace']}/{job['name']}/runs/{run_id}",
        "commit": where.get("version"), "path": where.get("path"), "license": None}}


def _run_state(event: Mapping[str, Any]) -> State:
    run, job = event["run"], event["job"]
    body = {"run_id": run["runId"], "event_type": event.get("eventType") or "OTHER",
            "event_time": event["eventTime"], "job_namespace": job["namespace"],
            "job_name": job["name"], "producer": event.get("producer"),
            "inputs": [f"{d['namespace']}/{d['name']}" for d in event.get("inputs") or []],
            "outputs": [f"{d['namespace']}/{d['name']}" for d in event.get("outputs") or []],
            "run_facets": run.get("facets") or {}}
    return State(_event_id(event, "run"), RUN_KIND, run["runId"], check_state(body))


def _job_state(event: Mapping[str, Any]) -> State:
    job = event["job"]
    key = str(uuid.uuid5(_JOB_KEYS, f"{job['namespace']}/{job['name']}"))
    body = {"job_namespace": job["namespace"], "job_name": job["name"],
            "event_time": event["eventTime"], "producer": event.get("producer"),
            "job_facets": job.get("facets") or {},
            "inputs": [f"{d['namespace']}/{d['name']}" for d in event.get("inputs") or []],
            "outputs": [f"{d['namespace']}/{d['name']}" for d in event.get("outputs") or []]}
    return State(_event_id(event, "job"), JOB_KIND, key, check_state(body))


def check_state(body: Mapping[str, Any]) -> dict[str, Any]:
    """A run or job state item as the ledger keeps it (config_items): a JSON object naming
    its job."""
    if not isinstance(body.get("job_namespace"), str) or not isinstance(body.get("job_name"),
                                                                         str):
        raise InvalidInput("invalid_openlineage", "an OpenLineage run or job state names its "
                           "job (job_namespace, job_name)")
    return dict(body)


def mapped(event: Mapping[str, Any], routing: Routing,
           kinds: tuple[str, ...] = ("model", "dataset", "eval_log"),
           live: Mapping[str, Sequence[str]] | None = None) -> Mapped:
    """The Cairn events of one checked OpenLineage event (see the module's table). `live`:
    for a dropped dataset's artifact, the digests of its versions not archived yet (read by
    the caller once `mapped` without it named the artifacts in `archives`), so a DROP
    archives them all."""
    live = live or {}
    kind = event_type(event)
    if kind == "JobEvent":
        return Mapped(_job_state(event), [], [])
    if kind == "DatasetEvent":
        dataset = event["dataset"]
        facets = _facets(dataset)
        fallback = f"event:{event['eventTime']}:{hashlib.sha256(_canonical(facets)).hexdigest()}"
        version, archives = _version(event, dataset, facets, routing=routing,
                                     fallback_version=fallback, links=[], job_namespace=None,
                                     context={}, kinds=kinds, live=live)
        return Mapped(None, [version], archives)
    state = _run_state(event)
    if (event.get("eventType") or "OTHER") not in PUBLISHING:
        return Mapped(state, [], [])
    run, job = event["run"], event["job"]
    inputs = [routing.project(d["namespace"], job["namespace"]) + "/"
              + artifact_name(d["namespace"], d["name"]) for d in event.get("inputs") or []]
    links = [{"relation": "derived_from", "target": t} for t in dict.fromkeys(inputs)]
    links.append(_produced_by(job, run["runId"]))
    context = {"job": {"namespace": job["namespace"], "name": job["name"],
                       "facets": job.get("facets") or {}},
               "run": {"runId": run["runId"], "facets": run.get("facets") or {}},
               "eventTime": event["eventTime"], "producer": event.get("producer")}
    versions, archives = [], []
    for dataset in event.get("outputs") or []:
        version, dropped = _version(event, dataset, _facets(dataset, "outputFacets"),
                                    routing=routing, fallback_version=f"run:{run['runId']}",
                                    links=links, job_namespace=job["namespace"],
                                    context=context, kinds=kinds, live=live)
        versions.append(version)
        archives.extend(dropped)
    return Mapped(state, versions, archives)


def check_project_settings(value: Any) -> dict[str, list[str]]:
    """A project's `openlineage` setting: the OpenLineage namespaces whose datasets land in
    it, and the `namespace/name` patterns (fnmatch globs) of datasets that are models."""
    if not isinstance(value, Mapping) or set(value) - {"namespaces", "models"}:
        raise InvalidInput("invalid_project", "openlineage is an object of namespaces (a list "
                           "of OpenLineage namespaces) and models (a list of namespace/name "
                           "patterns)")
    found: dict[str, list[str]] = {}
    for key in ("namespaces", "models"):
        items = value.get(key) or []
        if not isinstance(items, list) or not all(
                isinstance(i, str) and 0 < len(i) <= 1000 for i in items):
            raise InvalidInput("invalid_project", f"openlineage.{key} is a list of non-empty "
                               "strings")
        found[key] = sorted(set(items))
    return found


def routing_of(projects: Sequence[tuple[str, Mapping[str, Any] | None]], default: str
               ) -> Routing:
    """The Routing that projects' settings ((name, project item) pairs) set up; a namespace
    two projects claim goes to the first by name."""
    namespaces: dict[str, str] = {}
    models: dict[str, list[str]] = {}
    for name, item in sorted(projects, key=lambda p: p[0]):
        given = (item or {}).get("openlineage") or {}
        for namespace in given.get("namespaces") or []:
            namespaces.setdefault(namespace, name)
        if given.get("models"):
            models[name] = list(given["models"])
    return Routing(namespaces, default, models)


def projects_of(event: Mapping[str, Any], routing: Routing) -> set[str]:
    """The projects an event writes to, whose publish role its sender needs: its outputs'
    (a run state too: the run is about them), else its inputs', else its job namespace's."""
    if event_type(event) == "DatasetEvent":
        return {routing.project(event["dataset"]["namespace"])}
    job = event["job"]["namespace"]
    for side in ("outputs", "inputs"):
        found = {routing.project(d["namespace"], job) for d in event.get(side) or []}
        if found:
            return found
    return {routing.project(job)}
