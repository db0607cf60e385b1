"""What `cairn import-mlflow` makes of an MLflow registry: MLflow's REST JSON in, Cairn
publish items out. Pure: the caller (cairn.sdk.mlflow_import) reads the server, downloads
the files and publishes through `Client.publish_many`.

The mapping (also in the README, "Import from MLflow"):

| MLflow                                 | Cairn                                                 |
|----------------------------------------|-------------------------------------------------------|
| registered model version               | a version of a `model` artifact named after the       |
|                                        | registered model (lowercased, other characters `-`)   |
| its artifacts (get-download-uri)       | the version's files, same bytes, sha256 in manifest   |
| run params                             | metadata.params (as MLflow keeps them: text)          |
| run metrics                            | metadata.metrics, each metric's latest value          |
| version (else model) description       | metadata.description                                  |
| tags of model, version and run         | kept whole in extra.mlflow; `key-value` of model and  |
|                                        | version tags as metadata.tags when they fit, + mlflow |
| run tags mlflow.source.git.commit,     | environment.git_commit, git_remote                    |
| mlflow.source.git.repoURL              |                                                       |
| run user (mlflow.user)                 | metadata.creator                                      |
| registered model aliases               | Cairn aliases on the same versions                    |
| stage Staging, Production, Archived    | the version's stage: staging, production (through     |
|                                        | staging, each step gated as any promotion), archived  |
| stage, status, source, run id,         | extra.mlflow (`registered_model`, `version`, `run_id`,|
| experiment                             | `experiment_id`, `experiment`, ...): how a second     |
|                                        | import knows the version is already here              |
| run dataset inputs (mlflow.log_input)  | a `dataset` version per (name, digest): one file      |
|                                        | `mlflow-dataset.json` (name, digest, source type,     |
|                                        | source, schema, profile); the model version links     |
|                                        | `trained_on` it by its Cairn digest                   |

A re-import adds nothing: a model version whose extra.mlflow names the same registered model,
version and run is already here, and a dataset version is content-addressed (same
descriptor, same digest).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain.identity import InvalidInput, check_alias, check_name, manifest_digest
from cairn.core.domain.lifecycle_rules import ARCHIVED

DESCRIPTOR = "mlflow-dataset.json"
MAX_NAME = 128
MAX_DESCRIPTION = 4000  # validation/schemas/*.schema.json
MAX_TAGS = 50
_OTHER = re.compile(r"[^a-z0-9._-]+")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def cairn_name(text: str, fallback: str = "model") -> str:
    """An MLflow name in Cairn's name alphabet: lowercased, runs of other characters as one
    `-`; too long: cut, with a hash of the original so two long names stay apart."""
    cleaned = _OTHER.sub("-", text.lower()).strip("._-") or fallback
    if len(cleaned) > MAX_NAME:
        tag = hashlib.sha256(text.encode()).hexdigest()[:12]
        cleaned = f"{cleaned[:MAX_NAME - 13].rstrip('._-')}-{tag}"
    return check_name(cleaned)


def pairs(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """MLflow's `[{"key": k, "value": v}, ...]` (tags, params) as a dict."""
    return {str(e["key"]): str(e.get("value") or "") for e in entries or () if "key" in e}


@dataclass(frozen=True)
class Dataset:
    """One dataset input of a run, as the `dataset` version it becomes."""

    project: str
    name: str
    descriptor: bytes  # the version's one file
    metadata: dict[str, Any]
    extra: dict[str, Any]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.descriptor).hexdigest()

    @property
    def digest(self) -> str:
        """Its Cairn version digest: what the ledger will compute from the one file."""
        return manifest_digest("dataset", [{"path": DESCRIPTOR, "sha256": self.sha256,
                                            "size": len(self.descriptor)}])

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.artifact}@{self.digest}"


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version, as the `model` version it becomes (files aside)."""

    project: str
    name: str
    source: str  # models:/<registered model>/<version>, for the summary
    key: tuple[str, str, str]  # (registered model, version, run id): its identity here
    metadata: dict[str, Any]
    environment: dict[str, Any]
    extra: dict[str, Any]
    datasets: list[Dataset] = field(default_factory=list)

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def links(self) -> list[tuple[str, str]]:
        return [("trained_on", d.ref) for d in self.datasets]


def key_of(extra: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """The MLflow identity a Cairn version's extra records, if it was imported from MLflow."""
    found = (extra or {}).get("mlflow")
    if not isinstance(found, Mapping) or "registered_model" not in found:
        return None
    return (str(found["registered_model"]), str(found.get("version")),
            str(found.get("run_id") or ""))


def dataset(project: str, given: Mapping[str, Any]) -> Dataset:
    """A run's dataset input (`{"dataset": {...}, "tags": [...]}`) as a dataset version."""
    d = given.get("dataset") or {}
    if not d.get("name") and not d.get("digest"):
        raise InvalidInput("invalid_mlflow_dataset", "a dataset input has neither a name nor "
                           "a digest")
    kept = {k: d[k] for k in ("name", "digest", "source_type", "source", "schema", "profile")
            if d.get(k) not in (None, "")}
    descriptor = json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()
    source = _source_uri(d.get("source"))
    return Dataset(
        project=project, name=cairn_name(str(d.get("name") or d.get("digest")), "dataset"),
        descriptor=descriptor,
        metadata={"data_source": source, "tags": ["mlflow"]},
        extra={"mlflow": {"dataset": kept, "input_tags": pairs(given.get("tags"))}})


def _source_uri(source: Any) -> str | None:
    """A dataset's source is JSON text (`{"uri": ...}`, `{"url": ...}`, ...): its location."""
    if not isinstance(source, str) or not source:
        return None
    try:
        parsed = json.loads(source)
    except ValueError:
        return source[:1000]
    if isinstance(parsed, dict):
        for key in ("uri", "url", "path", "table_name"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return str(parsed[key])[:1000]
    return source[:1000]


def metrics(run: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Each metric's latest value (runs/get gives the latest per key); NaN and infinities,
    which JSON and Cairn's metrics cannot hold, apart as text."""
    kept: dict[str, float] = {}
    odd: dict[str, str] = {}
    for m in (run.get("data") or {}).get("metrics") or ():
        value = m.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value):
            kept[str(m["key"])] = float(value)
        else:
            odd[str(m["key"])] = str(value)
    return kept, odd


def model_version(project: str, model: Mapping[str, Any], version: Mapping[str, Any],
                  run: Mapping[str, Any] | None, experiment: str | None) -> ModelVersion:
    """A registered model version (model-versions/search), its registered model
    (registered-models/search), the run that made it (runs/get, None if it has none or it
    is gone) and the run's experiment name, as a Cairn model version."""
    name, number = str(version["name"]), str(version["version"])
    run = run or {}
    info = run.get("info") or {}
    data = run.get("data") or {}
    run_tags = pairs(data.get("tags"))
    model_tags, version_tags = pairs(model.get("tags")), pairs(version.get("tags"))
    values, odd = metrics(run)
    run_id = str(version.get("run_id") or info.get("run_id") or "")
    description = (version.get("description") or model.get("description") or None)
    inputs = (run.get("inputs") or {}).get("dataset_inputs") or []
    creator = (info.get("user_id") or run_tags.get("mlflow.user") or version.get("user_id")
               or "mlflow")
    return ModelVersion(
        project=project, name=cairn_name(name), source=f"models:/{name}/{number}",
        key=(name, number, run_id),
        metadata={
            "creator": str(creator), "description": description[:MAX_DESCRIPTION]
            if description else None,
            "tags": tags(model_tags, version_tags),
            "params": pairs(data.get("params")), "metrics": values,
        },
        environment={"git_commit": run_tags.get("mlflow.source.git.commit") or None,
                     "git_remote": run_tags.get("mlflow.source.git.repoURL") or None},
        extra={"mlflow": {
            "registered_model": name, "version": number, "run_id": run_id,
            "experiment_id": info.get("experiment_id"), "experiment": experiment,
            "run_name": info.get("run_name") or run_tags.get("mlflow.runName"),
            "stage": version.get("current_stage"), "status": version.get("status"),
            "source": version.get("source"), "description": version.get("description"),
            "model_description": model.get("description"),
            "created_ms": version.get("creation_timestamp"),
            "aliases": sorted(aliases(model).get(number, [])),
            "model_tags": model_tags, "version_tags": version_tags, "run_tags": run_tags,
            "source_name": run_tags.get("mlflow.source.name"),
            **({"non_finite_metrics": odd} if odd else {}),
        }},
        datasets=_unique(dataset(project, i) for i in inputs))


def _unique(found: Iterable[Dataset]) -> list[Dataset]:
    return list({d.ref: d for d in found}.values())


def tags(*groups: Mapping[str, str]) -> list[str]:
    """`mlflow` and each user tag (not MLflow's own `mlflow.*`) as `key-value` in Cairn's
    tag alphabet, when it fits; all of them stay whole in extra.mlflow."""
    found = ["mlflow"]
    for group in groups:
        for key, value in group.items():
            if key.startswith("mlflow."):
                continue
            tag = _OTHER.sub("-", f"{key}-{value}" if value else key).lower().strip("._-")
            if _TAG.match(tag) and tag not in found:
                found.append(tag)
    return found[:MAX_TAGS]


def aliases(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """A registered model's aliases by version number."""
    found: dict[str, list[str]] = {}
    for a in model.get("aliases") or ():
        found.setdefault(str(a["version"]), []).append(str(a["alias"]))
    return found


@dataclass(frozen=True)
class AliasMove:
    """An alias to point at a version here, or why it cannot be."""

    artifact: str
    alias: str
    number: int
    refused: str | None = None


def alias_moves(artifact: str, model: Mapping[str, Any], numbers: Mapping[str, int],
                current: Mapping[str, int]) -> list[AliasMove]:
    """The aliases of `model` to set on `artifact`: `numbers` maps an MLflow version to
    its version number here, `current` is where the artifact's aliases point now (those
    already right are left alone, so a re-import moves nothing). An alias Cairn cannot
    hold (`latest`, which Cairn keeps itself, or one off its alphabet) is refused."""
    moves = []
    for a in sorted(model.get("aliases") or (), key=lambda a: str(a["alias"])):
        alias, version = str(a["alias"]), str(a["version"])
        if version not in numbers:
            continue  # that version was not imported (refused, or filtered out)
        number = numbers[version]
        if current.get(alias) == number:
            continue
        try:
            if alias == "latest":
                raise InvalidInput("invalid_alias", "Cairn moves `latest` itself")
            check_alias(alias)
        except InvalidInput as exc:
            moves.append(AliasMove(artifact, alias, number, str(exc)))
            continue
        moves.append(AliasMove(artifact, alias, number))
    return moves


STAGES = {"Staging": "staging", "Production": "production", "Archived": ARCHIVED}


def stage_steps(mlflow_stage: str | None, current: str | None, ladder: Sequence[str]
                ) -> list[str]:
    """The stage changes that bring a version from `current` to its MLflow stage here, one
    step at a time up the ladder (Cairn refuses a promotion that skips a stage); none when
    it is there already or MLflow's stage is None. A stage the project's ladder lacks is
    refused (InvalidInput unknown_stage)."""
    target = STAGES.get(mlflow_stage or "")
    if target is None or target == current:
        return []
    if target not in ladder:
        raise InvalidInput("unknown_stage", f"MLflow stage {mlflow_stage} is {target} here, "
                           f"which the project's ladder ({', '.join(ladder)}) lacks")
    if target == ARCHIVED:
        return [target]
    position = ladder.index(current) if current in ladder else 0  # as the ledger counts
    there = ladder.index(target)
    return [target] if there <= position + 1 else list(ladder[position + 1:there + 1])


def wanted(experiment_id: str | None, experiment: str | None, experiments: Sequence[str]
           ) -> bool:
    """Whether a version passes `--experiment` (names or ids; none given: every one)."""
    return not experiments or bool({experiment_id, experiment} & set(experiments))
