"""Cairn against MLflow's tracking server (PostgreSQL backend, same machine) on one corpus.

Cairn's side is `scripts/bench discovery` at the same N and seed (every service running),
without the single-publish probes (MLflow has no asynchronous path to compare them with).
MLflow's side regenerates the same corpus from the same seed, so the same versions, metadata,
lineage, search queries, lineage roots and user-path items go to both; it runs in a
virtualenv of its own (.cache/bench/mlflow-venv, never Cairn's lock) against `mlflow server`
(--workers set explicitly, artifacts proxied over HTTP) on loopback with a fresh database on
the stack's PostgreSQL, stopped and dropped at the end. mlflow_driver.py does MLflow's work.

Only matching paths are compared: the user path (Cairn's SDK over HTTP waiting for the record
against MlflowClient, whose writes are synchronous, at 1, 8 and 32 client processes), and a
bulk path against a bulk path (Cairn's Kafka stream import against MLflow's fastest load, a
pool of client threads). Answers are checked on both sides (search seeds found, lineage node
and edge sets equal to the generated graph, every user-path registration found). The whole
comparison runs --repeats times (3), alternating which system goes first, and reports each
figure's min/median/max; ratios are of the medians.

What MLflow cannot express is done its closest way and said in the JSON's "mapping":
no facet counts and no free text (each query word becomes a substring ILIKE on a text tag,
all AND-ed; also timed without them), no relevance order (its default, newest first), no
total count, and lineage walked by the client one search per level and direction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from scripts.benchmarks import discovery, user_path
from scripts.benchmarks.discovery import Generator, Params, corpus_facts, search_queries

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "bench" / "mlflow-venv"
MLFLOW_VERSION = "3.17.2"  # 3.18.0 is on PyPI without its mlflow-skinny 3.18.0
PSYCOPG2_VERSION = "2.9.13"
QUIET = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}  # offline
SEARCH_WARMUP, LINEAGE_WARMUP, LINEAGE_DEPTH = 20, 10, 5  # as discovery's


def say(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


# ---- the MLflow environment
def mlflow_python() -> Path:
    """The venv with the pinned mlflow, made with the uv that scripts/setup pins (on PATH)."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, psycopg2; print(mlflow.__version__)"]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == MLFLOW_VERSION:
            return python
    say(f"installing mlflow {MLFLOW_VERSION} into {VENV}")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["uv", "venv", "--quiet", "--allow-existing", "--python", sys.executable,
                    str(VENV)], check=True)
    subprocess.run(["uv", "pip", "install", "--quiet", "--python", str(python),
                    f"mlflow=={MLFLOW_VERSION}", f"psycopg2-binary=={PSYCOPG2_VERSION}"],
                   check=True)
    subprocess.run(check, check=True, capture_output=True)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_mlflow(spec: dict[str, Any], threads: int, workers: int) -> dict[str, Any]:
    python = mlflow_python()
    database = f"mlflow_bench_{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-mlflow-"))
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    backend = "postgresql+psycopg2://" + base.split("://", 1)[1] + f"/{database}"
    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    server = None
    with open(tmp / "server.log", "w") as log:
        try:
            server = subprocess.Popen(
                [str(python), "-m", "mlflow", "server", "--backend-store-uri", backend,
                 "--serve-artifacts", "--artifacts-destination", str(tmp / "artifacts"),
                 "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
                 # a loaded machine starts a worker slower than uvicorn's 5 s health check,
                 # which then kills it, again and again
                 "--uvicorn-opts", "--timeout-worker-healthcheck 120"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=QUIET)
            wait_healthy(uri, server, tmp / "server.log")
            say(f"mlflow server {uri} on database {database}; log {tmp / 'server.log'}")
            (tmp / "spec.json").write_text(json.dumps(spec))
            done = subprocess.run([str(python), str(Path(__file__).with_name("mlflow_driver.py")),
                                   "--spec", str(tmp / "spec.json"), "--tracking-uri", uri,
                                   "--threads", str(threads)],
                                  stdout=subprocess.PIPE, text=True, check=True, env=QUIET)
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            result["server"] = {"workers": workers, "backend": f"postgresql {database}",
                                "artifacts": "proxied by the server over HTTP to a local dir"}
            return result
        finally:
            if server is not None:
                stop(server)
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def wait_healthy(uri: str, server: subprocess.Popen[bytes], log: Path,
                 deadline_s: float = 300) -> None:
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy after {deadline_s}s; see {log}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """The server and its workers are one process group that this script started."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        pass


# ---- the corpus and queries, as MLflow sees them
def mlflow_items(gen: Generator) -> list[dict[str, Any]]:
    numbers: Counter[str] = Counter()
    items = []
    for event in gen.events():
        p = event["payload"][1]
        meta, env = p["metadata"], p["environment"]
        ref_base = f"{p['project']}/{p['name']}"
        numbers[ref_base] += 1
        tags: dict[str, Any] = {
            "kind": p["kind"], "digest": p["digest"], "creator": meta["creator"],
            "text": f"{p['name']} {meta['description']}".lower(),
            "mlflow.source.git.commit": env["git_commit"], "env.python": env["python"],
            "env.host": env["hostname"]}
        for key in ("owner_team", "license", "framework", "data_source", "preprocessing"):
            if meta.get(key):
                tags[key] = meta[key]
        if p.get("stage"):
            tags["stage"] = p["stage"]
        tags.update({f"tag.{t}": "1" for t in meta["tags"]})
        external = [link["external"]["url"] for link in p["links"] if link.get("external")]
        if external:
            tags["link.external"] = external[0]
        params = {**(meta.get("params") or {}),
                  **{f"seed.{k}": v for k, v in (meta.get("seeds") or {}).items()}}
        items.append({
            "ref": f"{ref_base}@v{numbers[ref_base]}", "project": p["project"],
            "created_ms": event["occurred_at"], "tags": tags, "params": params,
            "metrics": meta.get("metrics") or {}, "description": meta["description"],
            "inputs": [[link["target"], link["relation"]] for link in p["links"]
                       if link.get("target")]})
    return items


def mlflow_query(params: Params, size: int = 20) -> dict[str, Any]:
    """One Cairn search as MLflow filters: facets become equality on tags (project picks the
    experiment), the metric range a metric comparison, the sort an order_by."""
    filters, text, project, order_by = [], [], None, []
    for key, value in params:
        value = str(value)
        if key == "q":
            text += [f"tags.text ILIKE '%{w.lower()}%'" for w in value.split()]
        elif key == "project":
            project = value
        elif key == "tag":
            filters.append(f"tags.`tag.{value}` = '1'")
        elif key == "metric":
            op = ">=" if ">=" in value else "<="
            name, bound = value.split(op)
            filters.append(f"metrics.{name} {op} {bound}")
        elif key == "sort":
            if value.startswith("metric."):  # metric.accuracy:desc
                metric, direction = value.removeprefix("metric.").split(":")
                order_by = [f"metrics.{metric} {direction.upper()}"]
            elif value == "created":
                order_by = ["attributes.start_time DESC"]
        else:
            filters.append(f"tags.{key} = '{value}'")
    return {"filters": filters, "text": text, "project": project, "order_by": order_by,
            "size": size}


# ---- both
def run(n: int, queries: int, lineage: int, seed: int, threads: int, workers: int,
        repeats: int, user_publishes: int, services_from: Path | None,
        bulk_publishes: int = 0) -> dict[str, Any]:
    gen = Generator(n, seed, "mlflow")
    items = mlflow_items(gen)
    qs = search_queries(gen, queries + SEARCH_WARMUP)
    roots = [gen.rng.choice(gen.corpus.roots) for _ in range(lineage + LINEAGE_WARMUP)]
    users = user_path.user_items(user_path.needed(user_publishes), seed + 1)
    spec = {"items": items,
            "queries": [{**mlflow_query(q), "seed": s["ref"]} for s, q in qs],
            "search_warmup": SEARCH_WARMUP, "lineage_roots": roots,
            "lineage_warmup": LINEAGE_WARMUP, "lineage_depth": LINEAGE_DEPTH,
            "user_items": users if user_publishes else [], "user_per_count": user_publishes,
            "user_clients": list(user_path.CLIENTS)}
    runs: dict[str, list[dict[str, Any]]] = {"cairn": [], "mlflow": []}
    for r in range(repeats):
        order = ("cairn", "mlflow") if r % 2 == 0 else ("mlflow", "cairn")
        for position, system in enumerate(order):
            say(f"round {r + 1}/{repeats}: {system} ({'first' if position == 0 else 'second'})")
            load = round(os.getloadavg()[0], 2)
            if system == "cairn":
                result = discovery.run(n, 0, queries, lineage, seed, services_from,
                                       user_publishes, bulk_publishes)
                if corpus_facts(gen.corpus) != result["corpus"]:
                    raise RuntimeError("the regenerated corpus differs from Cairn's")
            else:
                result = run_mlflow(spec, threads, workers)
                result["answers_ok"] = check_mlflow(result, gen)
            result["round"] = {"index": r + 1, "position": position + 1,
                               "load_avg_1m_at_start": load,
                               "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
            runs[system].append(result)
            say(f"round {r + 1} {system}: {json.dumps(figures_of(result))}")  # if cut short
    figures = {system: spread([figures_of(x) for x in results])
               for system, results in runs.items()}
    return {"benchmark": "mlflow", "corpus_size": n, "repeats": repeats,
            "figures": figures, "ratios": ratios(figures["cairn"], figures["mlflow"]),
            "answers_ok": {s: [x["answers_ok"] for x in rs] for s, rs in runs.items()},
            "mapping": MAPPING, "runs": runs,
            "machine": {**runs["cairn"][0]["machine"],
                        "load_avg_1_5_15m_at_end": [round(x, 2) for x in os.getloadavg()]},
            "versions": {"mlflow": runs["mlflow"][0]["mlflow_version"],
                         "psycopg2_binary": PSYCOPG2_VERSION,
                         "cairn": runs["cairn"][0]["code"]},
            "mlflow_server": {"workers": workers, "bulk_client_threads": threads}}


def check_mlflow(result: dict[str, Any], gen: Generator) -> bool:
    """MLflow's answers against the generated corpus: each walk's node and edge sets equal
    the corpus's graph without external links (MLflow keeps those as a tag, not an input);
    search seeds and user-path registrations the driver checked itself."""
    walks = result["lineage_ms"].pop("graphs")
    wrong = []
    for walk in walks:
        nodes, edges = gen.corpus.lineage(walk["root"], LINEAGE_DEPTH)
        nodes = {x for x in nodes if not x.startswith("external:")}
        edges = {e for e in edges if not e[1].startswith("external:")}
        got_nodes, got_edges = set(walk["nodes"]), {tuple(e) for e in walk["edges"]}
        if got_nodes != nodes or got_edges != edges:
            wrong.append({"root": walk["root"], "nodes_missing": sorted(nodes - got_nodes)[:5],
                          "nodes_extra": sorted(got_nodes - nodes)[:5],
                          "edges_missing": len(edges - got_edges),
                          "edges_extra": len(got_edges - edges)})
    result["lineage_ms"]["answers"] = {"checked": len(walks), "graph_equal":
                                       len(walks) - len(wrong), "wrong": wrong[:5]}
    search = result["search_ms"]["answers"]
    users = [f["answers"] for f in result.get("user_path", {}).get("by_clients", [])]
    return (not wrong and search["seed_matched"] == search["checked"]
            and all(u["found"] == u["checked"] for u in users))


def figures_of(result: dict[str, Any]) -> dict[str, float | None]:
    """The comparable figures of one run, flat: `bulk_per_s` is each side's bulk path."""
    out: dict[str, float | None] = {
        "bulk_per_s": result["ingest_per_s"],
        "search_ms_p50": result["search_ms"]["p50"], "search_ms_p95": result["search_ms"]["p95"],
        "lineage_ms_p50": result["lineage_ms"]["p50"],
        "lineage_ms_p95": result["lineage_ms"]["p95"]}
    if "search_no_text_ms" in result:
        out["search_no_text_ms_p50"] = result["search_no_text_ms"]["p50"]
        out["search_no_text_ms_p95"] = result["search_no_text_ms"]["p95"]
    if "ledger_drain_per_s" in result:
        out["ledger_drain_per_s"] = result["ledger_drain_per_s"]
    if "publish_many" in result.get("user_path", {}):  # Cairn's alone: not in the ratios
        out["publish_many_per_s"] = result["user_path"]["publish_many"]["per_s"]
    for f in result.get("user_path", {}).get("by_clients", []):
        k = f["clients"]
        out[f"user_{k}_clients_per_s"] = f["per_s"]
        out[f"user_{k}_clients_ms_p50"] = f["latency_ms"]["p50"]
        out[f"user_{k}_clients_ms_p99"] = f["latency_ms"]["p99"]
    return out


def spread(runs: list[dict[str, float | None]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in runs[0]:
        values = [r[name] for r in runs if r.get(name) is not None]
        out[name] = {"min": min(values), "median": statistics.median(values),
                     "max": max(values), "runs": values} if values else {"runs": []}
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b and not math.isnan(a / b) else None


def ratios(cairn: dict[str, Any], mlflow: dict[str, Any]) -> dict[str, Any]:
    """Of the medians; above 1 means Cairn is ahead: rates are Cairn/MLflow, latencies
    MLflow/Cairn. MLflow's search without text is set against Cairn's search (with text)."""
    out: dict[str, Any] = {}
    for name, theirs in mlflow.items():
        ours = cairn.get(name.replace("search_no_text", "search"))
        if ours is None or "median" not in theirs or "median" not in ours:
            continue
        out[name] = (ratio(ours["median"], theirs["median"]) if name.endswith("per_s")
                     else ratio(theirs["median"], ours["median"]))
    out["meaning"] = ("medians of the repeats; above 1: Cairn ahead (rates cairn/mlflow, "
                      "latencies mlflow/cairn); bulk_per_s sets Cairn's Kafka stream import "
                      "against MLflow's thread pool of clients")
    return out


MAPPING = {
    "version": "one MLflow run per version (all kinds), one experiment per project, run_name "
               "= project/name@vN, start_time = the version's created_at; no model registry "
               "entries, no artifacts uploaded on either side",
    "metadata": "tags (kind, creator, owner_team, license, framework, stage, digest, git "
                "commit, one tag.<t> per tag, description as mlflow.note.content), params "
                "(hyper-parameters and seeds), metrics (step 0)",
    "lineage": "every link as a dataset input (log_inputs) named by the target's reference, "
               "context = relation; walked client-side depth 5 both ways: upstream one "
               "search per node, a level's searches in parallel (8 threads; attributes."
               "run_name = ref; IN takes run ids only), downstream one per level "
               "(datasets.name IN frontier); external links are not inputs, so MLflow's "
               "graphs are checked without them",
    "bulk": "MLflow: MlflowClient over HTTP, per version create_run + log_batch + log_inputs "
            "+ set_terminated, from a pool of --threads client threads (MLflow has no bulk "
            "write); from the first write until a search finds the last run (writes are "
            "synchronous). Cairn: the corpus encoded, signed and produced to Kafka as a "
            "stream until every version is recorded, judged by the validator and searchable",
    "user_path": "the same items, 1/8/32 client processes, each version one call chain that "
                 "returns once registered. Cairn: cairn.Client.publish over HTTP, wait=True "
                 "(hash, blob check and upload, publish, poll the event; the SDK captures the "
                 "environment per publish). MLflow: create_run, log_batch, log_inputs, "
                 "log_artifact (4 KB over HTTP), create_registered_model on an artifact's "
                 "first version, create_model_version, set_terminated",
    "search": "search_runs with the same facet values as tag equalities (project picks the "
              "experiment), the same metric range, order_by for accuracy/created; relevance "
              "sort has no equivalent (MLflow's default order); no facet counts, no total; "
              "free text as one `tags.text ILIKE '%word%'` per word (AND); search_no_text_ms "
              "drops the text clauses; max_results 20 as Cairn's page size",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench mlflow")
    parser.add_argument("--corpus", type=int, default=10_000, help="versions on each side")
    parser.add_argument("--queries", type=int, default=300, help="searches timed")
    parser.add_argument("--lineage", type=int, default=200, help="lineage queries timed")
    parser.add_argument("--threads", type=int, default=8,
                        help="MLflow's bulk path: client write threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="mlflow server --workers (default: one per CPU)")
    parser.add_argument("--user-publishes", type=int, default=200,
                        help="user-path versions per client count (0 skips it)")
    parser.add_argument("--bulk-publishes", type=int, default=1000,
                        help="Cairn's Client.publish_many versions (reported, no ratio)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds, alternating which system goes first")
    parser.add_argument("--services-from", type=Path, default=None,
                        help="run Cairn's services from this checkout")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.corpus < 100:
        parser.error("--corpus must be at least 100")
    result = run(args.corpus, args.queries, args.lineage, args.seed, args.threads,
                 args.workers, args.repeats, args.user_publishes, args.services_from,
                 args.bulk_publishes)
    print(json.dumps(result, indent=2))
    if not all(ok for oks in result["answers_ok"].values() for ok in oks):
        say("some answers were wrong: see answers_ok and each run's answers")
        sys.exit(1)


if __name__ == "__main__":
    main()
