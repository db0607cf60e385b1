"""The MLflow side of `scripts/bench mlflow`, run by the benchmark's own virtualenv (which has
mlflow; Cairn's does not): ingest, search and lineage against a tracking server over HTTP.

Input (a JSON file from compare.py): the corpus as plain items, the search queries already
translated to filter strings (each with its seed run), the lineage roots, and the user-path
items. Output: one JSON object on stdout, with the answers to check (search seeds found,
lineage node and edge sets, user-path registrations found). Standard library, mlflow,
stats.py and fanout.py only: this file never imports Cairn.

User path (as Cairn's user_path.py, the same items and client counts, one process per client):
per version create_run (tags), log_batch (params, metrics, description), log_inputs (links),
log_artifact (the same 4 KB file, uploaded over HTTP: the server proxies artifacts), a
registered model created with the artifact's first version, and create_model_version on
the run's artifact; every call is synchronous, so a returned version is registered.

Mapping: one run per version, in one experiment per project, named by its reference
(project/name@vN); metadata as tags (kind, creator, owner_team, license, framework, stage,
one `tag.<t>` per tag, the description as mlflow.note.content and, for substring "text"
search, a lowercased `text` tag), params and metrics as such; every link as a dataset input
(mlflow.log_input) named by the target's reference, with the relation as its context, so
that both directions of lineage are searchable (`attributes.run_name =`, `datasets.name IN`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import RestException
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, for stats.py alone
from scripts.benchmarks.fanout import by_client_counts  # noqa: E402  (standard library)
from scripts.benchmarks.stats import summary  # noqa: E402  (standard library only)

PAGE = 1000
RETRIES: list[str] = []  # log_inputs retried after a dataset insert race (list.append is atomic)


def say(message: str) -> None:
    print(f"[mlflow] {message}", file=sys.stderr, flush=True)


def log_inputs(client: MlflowClient, run_id: str, links: list[tuple[str, str]]) -> None:
    """Every link as a dataset input named by its target, context = relation; retried when
    two writers race to create one dataset row (the server checks, then inserts)."""
    inputs = [DatasetInput(Dataset(name=target, digest=target.rsplit("@", 1)[1],
                                   source_type="cairn", source=json.dumps({"ref": target})),
                           [InputTag("mlflow.data.context", relation)])
              for relation, target in links]
    for attempt in range(5 if inputs else 0):
        try:
            client.log_inputs(run_id, inputs)
            return
        except RestException as exc:
            if "UniqueViolation" not in str(exc) or attempt == 4:
                raise
            RETRIES.append(run_id)


def write_one(client: MlflowClient, experiments: dict[str, str], item: dict[str, Any]) -> None:
    """What a logging script does for one version: create, log, log inputs, finish."""
    run = client.create_run(experiments[item["project"]], start_time=item["created_ms"],
                            tags={k: str(v) for k, v in item["tags"].items()},
                            run_name=item["ref"])
    run_id = run.info.run_id
    ts = item["created_ms"]
    client.log_batch(run_id, metrics=[Metric(k, float(v), ts, 0)
                                      for k, v in item["metrics"].items()],
                     params=[Param(k, str(v)) for k, v in item["params"].items()],
                     tags=[RunTag("mlflow.note.content", item["description"])])
    log_inputs(client, run_id, [(relation, target) for target, relation in item["inputs"]])
    client.set_terminated(run_id, end_time=ts + 1000)


def ingest(client: MlflowClient, items: list[dict[str, Any]], threads: int
           ) -> tuple[dict[str, Any], dict[str, str]]:
    started = time.time()
    experiments = {p: client.create_experiment(f"bench-{p}")
                   for p in sorted({i["project"] for i in items})}
    done = 0
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda it: write_one(client, experiments, it), items):
            done += 1
            if done % 2000 == 0:
                say(f"ingest {time.time() - started:6.1f}s: {done}/{len(items)}")
    written_s = time.time() - started
    last = items[-1]["ref"]  # writes are synchronous: the last one is queryable at once; check
    found = client.search_runs(list(experiments.values()), f"attributes.run_name = '{last}'")
    queryable_s = time.time() - started
    if len(found) != 1:
        raise RuntimeError(f"the last run {last} is not searchable")
    total = count_runs(client, list(experiments.values()))
    if total != len(items):
        raise RuntimeError(f"{total} runs stored of {len(items)}")
    return ({"versions": len(items), "threads": threads, "log_inputs_retries": len(RETRIES),
             "written_s": round(written_s, 2), "queryable_s": round(queryable_s, 2),
             "ingest_per_s": round(len(items) / queryable_s, 1)}, experiments)


def count_runs(client: MlflowClient, experiment_ids: list[str]) -> int:
    total, token = 0, None
    while True:
        page = client.search_runs(experiment_ids, max_results=50_000, page_token=token)
        total += len(page)
        token = page.token
        if not token:
            return total


def search(client: MlflowClient, experiments: dict[str, str], queries: list[dict[str, Any]],
           warmup: int, with_text: bool) -> dict[str, Any]:
    timings, hits, on_page, missing = [], [], 0, []
    every = list(experiments.values())
    for i, q in enumerate(queries):
        clauses = q["filters"] + (q["text"] if with_text else [])
        ids = [experiments[q["project"]]] if q["project"] else every
        started = time.perf_counter()
        runs = client.search_runs(ids, " AND ".join(clauses), max_results=q["size"],
                                  order_by=q["order_by"] or None)
        elapsed = (time.perf_counter() - started) * 1000
        if i < warmup:
            continue
        timings.append(elapsed)
        hits.append(len(runs))
        if any(run.info.run_name == q["seed"] for run in runs):
            on_page += 1
        else:  # untimed: the query narrowed to the seed's run finds it
            narrowed = [*clauses, f"attributes.run_name = '{q['seed']}'"]
            if not client.search_runs(ids, " AND ".join(narrowed), max_results=5):
                missing.append(q["seed"])
    return {**summary(timings, 50, 95), "warmup": warmup,
            "page_hits_median": statistics.median(hits),
            "zero_hit_share": round(sum(1 for h in hits if h == 0) / len(hits), 3),
            "answers": {"checked": len(timings), "seed_on_first_page": on_page,
                        "seed_matched": len(timings) - len(missing), "missing": missing[:5]}}


def runs_where(client: MlflowClient, ids: list[str], clause: str) -> list[Any]:
    out, token = [], None
    while True:
        page = client.search_runs(ids, clause, max_results=PAGE, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def quoted(refs: set[str]) -> str:
    return ", ".join(f"'{r}'" for r in sorted(refs))


Edge = tuple[str, str, str]  # (from, to, relation), as Cairn's lineage answers


def lineage(client: MlflowClient, ids: list[str], root: str, depth: int,
            pool: ThreadPoolExecutor) -> tuple[set[str], set[Edge]]:
    """Depth-limited walk both ways, MLflow's best client: upstream reads the inputs of each
    run in the frontier, found by name (one search each, all of a level's in parallel: IN
    takes run ids only, not names; the last level only fetches the nodes' own runs);
    downstream finds the runs whose inputs name any of the frontier (one search per level)."""

    def relation(di: Any) -> str:
        return next((t.value for t in di.tags if t.key == "mlflow.data.context"), "")

    def upstream(frontier: set[str], last: bool) -> list[tuple[Edge, str]]:
        found = pool.map(lambda ref: runs_where(client, ids, f"attributes.run_name = '{ref}'"),
                         sorted(frontier))
        return [((run.info.run_name, di.dataset.name, relation(di)), di.dataset.name)
                for runs in found for run in runs
                for di in (() if last else run.inputs.dataset_inputs)]

    def downstream(frontier: set[str], last: bool) -> list[tuple[Edge, str]]:
        runs = runs_where(client, ids, f"datasets.name IN ({quoted(frontier)})")
        return [((run.info.run_name, di.dataset.name, relation(di)), run.info.run_name)
                for run in runs for di in run.inputs.dataset_inputs
                if di.dataset.name in frontier]

    nodes, edges = {root}, set()
    for step, levels in ((upstream, depth + 1), (downstream, depth)):
        frontier, seen = {root}, {root}
        for level in range(levels):
            found = set()
            for edge, node in step(frontier, level == depth):
                edges.add(edge)
                found.add(node)
            nodes |= found
            frontier = found - seen
            seen |= found
            if not frontier:
                break
    return nodes, edges


def lineage_latency(client: MlflowClient, experiments: dict[str, str], roots: list[str],
                    warmup: int, depth: int, parallel: int = 8) -> dict[str, Any]:
    ids = list(experiments.values())
    timings, nodes, edges, graphs = [], [], [], []
    with ThreadPoolExecutor(parallel) as pool:
        for i, root in enumerate(roots):
            started = time.perf_counter()
            n, e = lineage(client, ids, root, depth, pool)
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                timings.append(elapsed)
                nodes.append(len(n))
                edges.append(len(e))
                graphs.append({"root": root, "nodes": sorted(n), "edges": sorted(e)})
    return {**summary(timings, 50, 95), "warmup": warmup, "direction": "both",
            "depth": depth, "parallel_requests": parallel,
            "nodes_median": statistics.median(nodes), "nodes_max": max(nodes),
            "edges_median": statistics.median(edges), "edges_max": max(edges),
            "graphs": graphs}


# ---- the user path
def make_mlflow(config: dict[str, Any], share: list[dict[str, Any]]) -> Any:
    """One client process's registration of a version, as a training script does it."""
    client = MlflowClient(tracking_uri=config["uri"])
    experiments = config["experiments"]
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-mlflow-user-"))
    files = {}
    for item in share:
        path = work / item["key"] / "model.bin"
        path.parent.mkdir(parents=True)
        seed = f"{item['artifact']}#{item['key']}|".encode()
        path.write_bytes((seed * (item["file_bytes"] // len(seed) + 1))[: item["file_bytes"]])
        files[item["key"]] = path
    models: set[str] = set()

    def register(item: dict[str, Any]) -> tuple[str, str, str]:
        meta = item["metadata"]
        model = item["artifact"].replace("/", ".")
        tags = {"kind": item["kind"], "creator": str(meta.get("creator", "")),
                **{f"tag.{t}": "1" for t in meta.get("tags", [])},
                **{k: str(meta[k]) for k in ("owner_team", "license", "framework")
                   if meta.get(k)}}
        if item["stage"]:
            tags["stage"] = item["stage"]
        run = client.create_run(experiments[item["project"]], tags=tags,
                                run_name=f"{item['artifact']}#{item['key']}")
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in
                                          (meta.get("metrics") or {}).items()],
                         params=[Param(k, str(v)) for k, v in
                                 (meta.get("params") or {}).items()],
                         tags=[RunTag("mlflow.note.content", meta.get("description", ""))])
        log_inputs(client, run_id, [(rel, target) for rel, target in item["links"]])
        client.log_artifact(run_id, str(files[item["key"]]))
        if model not in models:  # get-or-create, as a training script does: an earlier
            try:                  # client count's process may have made it
                client.create_registered_model(model)
            except RestException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            models.add(model)
        version = client.create_model_version(model, f"{run.info.artifact_uri}/model.bin",
                                              run_id=run_id, tags=tags)
        client.set_terminated(run_id)
        return model, str(version.version), run_id

    return register


def user_path(uri: str, items: list[dict[str, Any]], per_count: int, clients: list[int]
              ) -> dict[str, Any]:
    client = MlflowClient(tracking_uri=uri)
    experiments = {p: client.create_experiment(f"user-{p}")
                   for p in sorted({i["project"] for i in items})}

    def check(answers: list[Any]) -> dict[str, Any]:
        missing = [f"{m}/{v}" for m, v, run_id in answers
                   if client.get_model_version(m, v).run_id != run_id]
        return {"checked": len(answers), "found": len(answers) - len(missing),
                "missing_examples": missing[:5]}

    return {"mode": "processes", "client": "MlflowClient over HTTP",
            "by_clients": by_client_counts(make_mlflow, {"uri": uri, "experiments": experiments},
                                           items, per_count, tuple(clients), check)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--lineage-parallel", type=int, default=8)
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    client = MlflowClient(tracking_uri=args.tracking_uri)
    result: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    say(f"ingesting {len(spec['items'])} runs with {args.threads} threads")
    result["ingest"], experiments = ingest(client, spec["items"], args.threads)
    result["ingest_per_s"] = result["ingest"]["ingest_per_s"]
    say(f"{len(spec['queries'])} searches, with and without text")
    result["search_ms"] = search(client, experiments, spec["queries"], spec["search_warmup"],
                                 with_text=True)
    result["search_no_text_ms"] = search(client, experiments, spec["queries"],
                                         spec["search_warmup"], with_text=False)
    say(f"{len(spec['lineage_roots'])} lineage walks")
    result["lineage_ms"] = lineage_latency(client, experiments, spec["lineage_roots"],
                                           spec["lineage_warmup"], spec["lineage_depth"],
                                           args.lineage_parallel)
    if spec.get("user_items"):
        say(f"user path: {spec['user_clients']} client processes")
        result["user_path"] = user_path(args.tracking_uri, spec["user_items"],
                                        spec["user_per_count"], spec["user_clients"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
