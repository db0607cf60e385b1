"""Cairn against MLflow's tracking server (PostgreSQL backend, same machine) on one corpus.

Cairn's side is `scripts/bench discovery` at the same N and seed, without the single-publish
probes (MLflow has no asynchronous path to compare them with). MLflow's side regenerates the
same corpus from the same seed, so the same versions, metadata, lineage, search queries and
lineage roots go to both; it runs in a virtualenv of its own (.cache/bench/mlflow-venv, never
Cairn's lock) against `mlflow server` on loopback with a fresh database on the stack's
PostgreSQL, stopped and dropped at the end. mlflow_driver.py does MLflow's work over HTTP.

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

from scripts.benchmarks import discovery
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


def run_mlflow(spec: dict[str, Any], threads: int) -> dict[str, Any]:
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
                 "--default-artifact-root", str(tmp / "artifacts"), "--host", "127.0.0.1",
                 "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=QUIET)
            wait_healthy(uri, server, tmp / "server.log")
            say(f"mlflow server {uri} on database {database}; log {tmp / 'server.log'}")
            (tmp / "spec.json").write_text(json.dumps(spec))
            done = subprocess.run([str(python), str(Path(__file__).with_name("mlflow_driver.py")),
                                   "--spec", str(tmp / "spec.json"), "--tracking-uri", uri,
                                   "--threads", str(threads)],
                                  stdout=subprocess.PIPE, text=True, check=True, env=QUIET)
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            result["server"] = {"workers": 4, "backend": f"postgresql {database}",
                                "artifact_root": "local tmp (no artifacts uploaded)"}
            return result
        finally:
            if server is not None:
                stop(server)
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def wait_healthy(uri: str, server: subprocess.Popen[bytes], log: Path,
                 deadline_s: float = 180) -> None:
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
def run(n: int, queries: int, lineage: int, seed: int, threads: int) -> dict[str, Any]:
    say(f"Cairn: discovery at {n} versions, seed {seed}")
    cairn = discovery.run(n, 0, queries, lineage, seed)
    gen = Generator(n, seed, "mlflow")
    items = mlflow_items(gen)
    if corpus_facts(gen.corpus) != cairn["corpus"]:  # discovery.run's generator, step by step
        raise RuntimeError("the regenerated corpus differs from the one Cairn ingested")
    qs = search_queries(gen, queries + SEARCH_WARMUP)
    roots = [gen.rng.choice(gen.corpus.roots) for _ in range(lineage + LINEAGE_WARMUP)]
    spec = {"items": items, "queries": [mlflow_query(q) for q in qs],
            "search_warmup": SEARCH_WARMUP, "lineage_roots": roots,
            "lineage_warmup": LINEAGE_WARMUP, "lineage_depth": LINEAGE_DEPTH}
    say(f"MLflow: {len(items)} runs, {len(qs)} searches, {len(roots)} lineage walks")
    load_before = round(os.getloadavg()[0], 2)
    mlflow = run_mlflow(spec, threads)
    mlflow["load_avg_1m"] = {"at_start": load_before, "at_end": round(os.getloadavg()[0], 2)}
    return {"benchmark": "mlflow", "corpus_size": n, "cairn": cairn, "mlflow": mlflow,
            "ratios": ratios(cairn, mlflow), "mapping": MAPPING,
            "machine": {**cairn["machine"], "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                        "load_avg_1_5_15m": [round(x, 2) for x in os.getloadavg()]},
            "versions": {"mlflow": mlflow["mlflow_version"], "psycopg2_binary": PSYCOPG2_VERSION,
                         "cairn": cairn["code"]}}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b and not math.isnan(a / b) else None


def ratios(cairn: dict[str, Any], mlflow: dict[str, Any]) -> dict[str, Any]:
    """Above 1 means Cairn is ahead: rates are Cairn/MLflow, latencies MLflow/Cairn."""
    c_s, c_l, m_s, m_l = (cairn.get("search_ms", {}), cairn.get("lineage_ms", {}),
                          mlflow["search_ms"], mlflow["lineage_ms"])
    return {"ingest_per_s": ratio(cairn["ingest_per_s"], mlflow["ingest_per_s"]),
            "search_ms_p50": ratio(m_s["p50"], c_s.get("p50")),
            "search_ms_p95": ratio(m_s["p95"], c_s.get("p95")),
            "search_no_text_ms_p50": ratio(mlflow["search_no_text_ms"]["p50"], c_s.get("p50")),
            "search_no_text_ms_p95": ratio(mlflow["search_no_text_ms"]["p95"], c_s.get("p95")),
            "lineage_ms_p50": ratio(m_l["p50"], c_l.get("p50")),
            "lineage_ms_p95": ratio(m_l["p95"], c_l.get("p95")),
            "meaning": "above 1: Cairn ahead (rates cairn/mlflow, latencies mlflow/cairn)"}


MAPPING = {
    "version": "one MLflow run per version (all kinds), one experiment per project, run_name "
               "= project/name@vN, start_time = the version's created_at; no model registry "
               "entries, no artifacts uploaded on either side",
    "metadata": "tags (kind, creator, owner_team, license, framework, stage, digest, git "
                "commit, one tag.<t> per tag, description as mlflow.note.content), params "
                "(hyper-parameters and seeds), metrics (step 0)",
    "lineage": "every link as a dataset input (log_inputs) named by the target's reference, "
               "context = relation; walked client-side depth 5 both ways: upstream one "
               "search per node (attributes.run_name = ref; IN takes run ids only), "
               "downstream one per level (datasets.name IN frontier)",
    "ingest": "MlflowClient over HTTP, per version create_run + log_batch + log_inputs + "
              "set_terminated, from a thread pool; from the first write until a search finds "
              "the last run (writes are synchronous). Cairn: bulk Kafka produce until the "
              "ledger and search index have all",
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
    parser.add_argument("--threads", type=int, default=8, help="MLflow client write threads")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.corpus < 100:
        parser.error("--corpus must be at least 100")
    print(json.dumps(run(args.corpus, args.queries, args.lineage, args.seed, args.threads),
                     indent=2))


if __name__ == "__main__":
    main()
