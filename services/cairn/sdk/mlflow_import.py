"""`import_mlflow(client, tracking_uri)`: an MLflow registry's model versions, their runs'
params, metrics and dataset inputs, and their files, published into Cairn through the
ordinary path (`Client.publish_many`); then the registered models' aliases.

Steps: read every registered model (or those named) and its versions from the tracking
server (cairn.sdk.mlflow_server), each version's run and experiment; map them
(cairn.core.domain.mlflow_import); leave out what Cairn already has (a model version whose
extra.mlflow names the same registered model, version and run; a dataset version of the
same digest), so a second import sends nothing; publish the new dataset versions; then, a
group at a time, download each new model version's files into a scratch directory (sizes
checked against the server's listing, removed afterwards) and publish them, linked
`trained_on` their datasets; last, point each alias at its version here and bring each
version to its MLflow stage (Staging, Production, Archived), as any promotion, gates and all.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.core.domain import mlflow_import as mapping
from cairn.core.domain.identity import InvalidInput
from cairn.sdk.bulk import Item, ItemResult
from cairn.sdk.errors import CairnError
from cairn.sdk.mlflow_server import MlflowServer
from cairn.sdk.progress import bytes_progress

GROUP = 16  # model versions downloaded, then published, at a time: bounds the scratch disk
FATAL = ("mlflow_unreachable", "mlflow_auth_required")


@dataclass(frozen=True)
class Outcome:
    """What became of one thing MLflow has: `kind` version, dataset or alias; `status`
    imported, skipped (already here: `ref`), or refused (`reason`)."""

    kind: str
    source: str
    status: str
    ref: str | None = None
    reason: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str, kind: str | None = None) -> int:
        return sum(o.status == status and (kind is None or o.kind == kind)
                   for o in self.outcomes)

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "refused"]


@dataclass
class Here:
    """What Cairn already has of one artifact."""

    keys: dict[tuple[str, str, str], int] = field(default_factory=dict)  # MLflow key → number
    digests: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass
class Found:
    model: dict[str, Any]
    version: dict[str, Any]
    plan: mapping.ModelVersion


def import_mlflow(client: Any, tracking_uri: str, *, project: str = "mlflow",
                  models: Sequence[str] = (), experiments: Sequence[str] = (),
                  env: Mapping[str, str] | None = None,
                  server: MlflowServer | None = None) -> Report:
    """Import into `project` every registered model version of the server (only `models`,
    by name, and only versions whose run is in one of `experiments`, names or ids, when
    given). `client` is a cairn.sdk.Client. Raises CairnError when the server cannot be
    read at all; a version that cannot be imported is reported refused and the rest go on."""
    report = Report()
    with server or MlflowServer(tracking_uri, env) as mlflow:
        found = _read(mlflow, project, models, experiments, report)
        here = {a: _here(client, a, with_keys=True)
                for a in dict.fromkeys(f.plan.artifact for f in found)}
        todo = []
        for f in found:
            number = here[f.plan.artifact].keys.get(f.plan.key)
            if number is None:
                todo.append(f)
            else:
                report.outcomes.append(Outcome("version", f.plan.source, "skipped",
                                               f"{f.plan.artifact}@v{number}"))
        refused = _datasets(client, [f.plan for f in todo], report)
        scratch = Path(tempfile.mkdtemp(prefix="cairn-mlflow-"))
        try:
            for start in range(0, len(todo), GROUP):
                _models(client, mlflow, todo[start:start + GROUP], refused, scratch, here,
                        report)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _aliases(client, found, here, report)
        _stages(client, found, here, report)
    return report


def _read(mlflow: MlflowServer, project: str, names: Sequence[str],
          experiments: Sequence[str], report: Report) -> list[Found]:
    """Every registered model version wanted, mapped (or reported refused)."""
    listed = [{"name": n} for n in names] if names else list(mlflow.registered_models())
    runs: dict[str, dict[str, Any] | None] = {}
    experiment_names: dict[str, str | None] = {}
    found = []
    for listed_model in listed:
        model = mlflow.registered_model(str(listed_model["name"]))
        versions = sorted(mlflow.model_versions(str(model["name"])),
                          key=lambda v: int(v["version"]))
        for v in versions:
            run_id = str(v.get("run_id") or "")
            if run_id and run_id not in runs:
                runs[run_id] = mlflow.run(run_id)
            run = runs.get(run_id)
            experiment_id = str((run or {}).get("info", {}).get("experiment_id") or "") or None
            if experiment_id and experiment_id not in experiment_names:
                experiment_names[experiment_id] = mlflow.experiment(experiment_id).get("name")
            experiment = experiment_names.get(experiment_id) if experiment_id else None
            if not mapping.wanted(experiment_id, experiment, experiments):
                continue
            try:
                plan = mapping.model_version(project, model, v, run, experiment)
            except InvalidInput as exc:
                report.outcomes.append(Outcome("version", f"models:/{v['name']}/"
                                               f"{v['version']}", "refused",
                                               reason=f"{exc.reason}: {exc}"))
                continue
            found.append(Found(model, v, plan))
    return found


def _here(client: Any, artifact: str, *, with_keys: bool) -> Here:
    """The artifact's versions by digest, its aliases and (`with_keys`) the MLflow key each
    version's extra records; nothing when the artifact does not exist yet."""
    try:
        summary = client.versions(artifact)
    except CairnError as exc:
        if exc.status == 404:
            return Here()
        raise
    here = Here(digests={v["digest"]: int(v["version_number"]) for v in summary["versions"]},
                aliases={str(k): int(v) for k, v in (summary.get("aliases") or {}).items()
                         if v is not None})
    if with_keys:
        for v in summary["versions"]:
            key = mapping.key_of(client.show(f"{artifact}@v{v['version_number']}")["extra"])
            if key is not None:
                here.keys.setdefault(key, int(v["version_number"]))
    return here


def _datasets(client: Any, plans: Iterable[mapping.ModelVersion], report: Report) -> set[str]:
    """Publish the datasets the new versions were trained on that Cairn lacks; the refs
    of those refused (their links are left out)."""
    wanted = {d.ref: d for p in plans for d in p.datasets}
    known: dict[str, Here] = {}
    new = []
    for d in wanted.values():
        if d.artifact not in known:
            known[d.artifact] = _here(client, d.artifact, with_keys=False)
        number = known[d.artifact].digests.get(d.digest)
        if number is None:
            new.append(d)
        else:
            report.outcomes.append(Outcome("dataset", _source(d), "skipped",
                                           f"{d.artifact}@v{number}"))
    if not new:
        return set()
    with tempfile.TemporaryDirectory(prefix="cairn-mlflow-data-") as scratch:
        items = []
        for i, d in enumerate(new):
            folder = Path(scratch, str(i))
            folder.mkdir()
            (folder / mapping.DESCRIPTOR).write_bytes(d.descriptor)
            items.append(Item("dataset", d.project, d.name, [folder], root=folder,
                              metadata=d.metadata, extra=d.extra, environment={}))
        results = client.publish_many(items)
    refused = set()
    for d, r in zip(new, results, strict=True):
        report.outcomes.append(_outcome("dataset", _source(d), r))
        if r.ref is None:
            refused.add(d.ref)
    return refused


def _source(d: mapping.Dataset) -> str:
    kept = d.extra["mlflow"]["dataset"]
    return f"dataset {kept.get('name')}@{kept.get('digest')}"


def _outcome(kind: str, source: str, r: ItemResult) -> Outcome:
    if r.ref is None:
        return Outcome(kind, source, "refused", reason=f"{r.reason}: {r.message}")
    if r.outcome == "duplicate":  # the same bytes as a version already here
        return Outcome(kind, source, "skipped", r.ref, "same files as this version")
    return Outcome(kind, source, "imported", r.ref)


def _models(client: Any, mlflow: MlflowServer, group: Sequence[Found], refused: set[str],
            scratch: Path, here: dict[str, Here], report: Report) -> None:
    """Download a group of model versions' files, publish them, and remove the files."""
    ready: list[tuple[Found, Path]] = []
    for i, f in enumerate(group):
        folder = scratch / str(i)
        try:
            _download(mlflow, f, folder, client.progress)
        except CairnError as exc:
            if exc.reason in FATAL:
                raise
            report.outcomes.append(Outcome("version", f.plan.source, "refused",
                                           reason=f"{exc.reason}: {exc.message}"))
            continue
        ready.append((f, folder))
    if not ready:
        return
    items = [Item("model", f.plan.project, f.plan.name, [folder], root=folder,
                  metadata=f.plan.metadata, extra=f.plan.extra, environment=f.plan.environment,
                  links=[link for link in f.plan.links if link[1] not in refused])
             for f, folder in ready]
    try:
        results = client.publish_many(items)
    finally:
        for _, folder in ready:
            shutil.rmtree(folder, ignore_errors=True)
    for (f, _), r in zip(ready, results, strict=True):
        report.outcomes.append(_outcome("version", f.plan.source, r))
        if r.version_number is not None:
            here[f.plan.artifact].keys.setdefault(f.plan.key, int(r.version_number))


def _download(mlflow: MlflowServer, f: Found, folder: Path, show: bool | None) -> None:
    name, number = f.plan.key[0], f.plan.key[1]
    root = mlflow.files_path(name, number)
    listed = list(mlflow.files(root))
    if not listed:
        raise CairnError("mlflow_refused", f"models:/{name}/{number} has no files at {root}",
                         local=False)
    with bytes_progress(f"downloading models:/{name}/{number}", sum(s for _, s in listed),
                        show) as advance:
        for rel, size in listed:
            dest = folder.joinpath(*rel.split("/"))
            mlflow.download(f"{root}/{rel}", dest, advance)
            if dest.stat().st_size != size:
                raise CairnError("mlflow_refused", f"{root}/{rel}: downloaded "
                                 f"{dest.stat().st_size} bytes, the server lists {size}",
                                 local=False)


def _aliases(client: Any, found: Sequence[Found], here: Mapping[str, Here],
             report: Report) -> None:
    """Each registered model's aliases on the versions imported (or already here)."""
    done: set[str] = set()
    for f in found:
        if f.plan.artifact in done:
            continue
        done.add(f.plan.artifact)
        mine = here[f.plan.artifact]
        numbers = {key[1]: n for key, n in mine.keys.items() if key[0] == f.plan.key[0]}
        for move in mapping.alias_moves(f.plan.artifact, f.model, numbers, mine.aliases):
            source = f"models:/{f.plan.key[0]}@{move.alias}"
            if move.refused:
                report.outcomes.append(Outcome("alias", source, "refused",
                                               reason=f"invalid_alias: {move.refused}"))
                continue
            try:
                client.set_alias(move.artifact, move.alias, move.number)
            except CairnError as exc:
                report.outcomes.append(Outcome("alias", source, "refused",
                                               reason=f"{exc.reason}: {exc.message}"))
                continue
            report.outcomes.append(Outcome("alias", source, "imported",
                                           f"{move.artifact}:{move.alias}"))


def _stages(client: Any, found: Sequence[Found], here: Mapping[str, Here],
            report: Report) -> None:
    """Each version's MLflow stage as its stage here, a step at a time up the project's
    ladder; a step its gate refuses is reported and the version stays where it got."""
    staged = [f for f in found if mapping.STAGES.get(str(f.version.get("current_stage")))]
    for artifact in dict.fromkeys(f.plan.artifact for f in staged):
        summary = client.versions(artifact)
        current = {int(v["version_number"]): v.get("stage") for v in summary["versions"]}
        for f in (f for f in staged if f.plan.artifact == artifact):
            number = here[artifact].keys.get(f.plan.key)
            if number is None:
                continue  # refused above
            source = f"{f.plan.source} stage {f.version['current_stage']}"
            try:
                for step in mapping.stage_steps(f.version["current_stage"], current[number],
                                                summary["stages"]):
                    client.set_stage(f"{artifact}@v{number}", step)
            except (CairnError, InvalidInput) as exc:
                said = exc.message if isinstance(exc, CairnError) else str(exc)
                report.outcomes.append(Outcome("stage", source, "refused",
                                               reason=f"{exc.reason}: {said}"))
                continue
            if mapping.STAGES[f.version["current_stage"]] != current[number]:
                report.outcomes.append(Outcome("stage", source, "imported",
                                               f"{artifact}@v{number}"))
