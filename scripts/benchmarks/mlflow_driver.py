"""The MLflow side of `scripts/bench mlflow`, run by the benchmark's own virtualenv (which has
mlflow; Cairn's does not): ingest, search and lineage against a tracking server over HTTP.

Input (a JSON file from compare.py): the corpus as plain items, the search queries already
translated to filter strings, and the lineage roots. Output: one JSON object on stdout.
Standard library, mlflow and stats.py only: this file never imports Cairn.

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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import RestException
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, for stats.py alone
from scripts.benchmarks.stats import summary  # noqa: E402  (standard library only)

PAGE = 1000
RETRIES: list[str] = []  # log_inputs retried after a dataset insert race (list.append is atomic)


def say(message: str) -> None:
    print(f"[mlflow] {message}", file=sys.stderr, flush=True)


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
    inputs = [DatasetInput(Dataset(name=target, digest=target.rsplit("@", 1)[1],
                                   source_type="cairn", source=json.dumps({"ref": target})),
                           [InputTag("mlflow.data.context", relation)])
              for target, relation in item["inputs"]]
    for attempt in range(5 if inputs else 0):
        try:
            client.log_inputs(run_id, inputs)
            break
        except RestException as exc:  # two writers creating one dataset row: the server
            if "UniqueViolation" not in str(exc) or attempt == 4:  # checks, then inserts
                raise
            RETRIES.append(run_id)
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
    timings, hits = [], []
    every = list(experiments.values())
    for i, q in enumerate(queries):
        clauses = q["filters"] + (q["text"] if with_text else [])
        ids = [experiments[q["project"]]] if q["project"] else every
        started = time.perf_counter()
        runs = client.search_runs(ids, " AND ".join(clauses), max_results=q["size"],
                                  order_by=q["order_by"] or None)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= warmup:
            timings.append(elapsed)
            hits.append(len(runs))
    return {**summary(timings, 50, 95), "warmup": warmup,
            "page_hits_median": statistics.median(hits),
            "zero_hit_share": round(sum(1 for h in hits if h == 0) / len(hits), 3)}


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


def lineage(client: MlflowClient, ids: list[str], root: str, depth: int) -> tuple[int, int]:
    """Depth-limited walk both ways: upstream reads the inputs of each run in the frontier,
    found by name (one search each: IN takes run ids only, not names; the last level only
    fetches the nodes' own runs); downstream finds the runs whose inputs name any of the
    frontier (one search per level)."""

    def upstream(frontier: set[str], last: bool) -> list[tuple[tuple[str, str], str]]:
        runs = [run for ref in sorted(frontier)
                for run in runs_where(client, ids, f"attributes.run_name = '{ref}'")]
        return [((run.info.run_name, di.dataset.name), di.dataset.name) for run in runs
                for di in (() if last else run.inputs.dataset_inputs)]

    def downstream(frontier: set[str], last: bool) -> list[tuple[tuple[str, str], str]]:
        runs = runs_where(client, ids, f"datasets.name IN ({quoted(frontier)})")
        return [((run.info.run_name, di.dataset.name), run.info.run_name) for run in runs
                for di in run.inputs.dataset_inputs if di.dataset.name in frontier]

    nodes, edges = {root}, set()
    for step, levels in ((upstream, depth + 1), (downstream, depth)):
        frontier = {root}
        for level in range(levels):
            found = set()
            for edge, node in step(frontier, level == depth):
                edges.add(edge)
                found.add(node)
            frontier = found - nodes
            nodes |= found
            if not frontier:
                break
    return len(nodes), len(edges)


def lineage_latency(client: MlflowClient, experiments: dict[str, str], roots: list[str],
                    warmup: int, depth: int) -> dict[str, Any]:
    ids = list(experiments.values())
    timings, nodes, edges = [], [], []
    for i, root in enumerate(roots):
        started = time.perf_counter()
        n, e = lineage(client, ids, root, depth)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= warmup:
            timings.append(elapsed)
            nodes.append(n)
            edges.append(e)
    return {**summary(timings, 50, 95), "warmup": warmup, "direction": "both",
            "depth": depth, "nodes_median": statistics.median(nodes), "nodes_max": max(nodes),
            "edges_median": statistics.median(edges), "edges_max": max(edges)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--threads", type=int, default=8)
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
                                           spec["lineage_warmup"], spec["lineage_depth"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
