"""Discovery benchmark: ingest until searchable, publish→searchable latency, faceted search
and lineage latency, on a corpus of N versions that the run builds in its own workspace.

The corpus is generated (seeded) so the numbers come from a known size and shape: several
projects, all three kinds, skewed creators and teams, tags, licenses, frameworks, metrics,
and lineage (dataset snapshot chains → models trained_on them, derived_from chains up to 12
deep → eval logs that evaluate them), deeper than the depth-5 lineage queries. A private
topic prefix, database and index prefix mean a run never reads or disturbs anyone's data.

Every service runs, as deployed: ledger, indexer, api, validator (judging every project, so
each version's verdicts are recorded, chained, put on the changelog and re-indexed), notifier
and archiver. `--services-from DIR` runs them from another checkout (workspace.py).

- ingest_per_s (end to end): the corpus's Published events generated, Avro-encoded, signed
  and produced to Kafka as a stream (the importer's path: encoding is inside the clock and
  competes for the same cores), from the first encode until every version is in PostgreSQL,
  judged (validation no longer pending, in PostgreSQL and in the index) and counted in the
  search alias. ledger_drain_per_s: the ledger's own rate over the Published events, from its
  first to its last recorded_at (the old "Kafka backlog drain" figure, verdicts not counted).
  ingest_slices: versions recorded per second per consecutive 10k, from recorded_at.
  ingest.cpu_s: CPU seconds each service, backing server and the bench itself spent while
  ingesting (with cpu_ms_per_version and cores: what the machine's cores bound the rate to).
- publish_to_searchable_ms: single publishes one at a time, each encoded and flushed to Kafka
  inside the clock, until a term query on its digest finds it in the alias
  (publish_to_recorded_ms from the ledger's recorded_at, same clock).
- search_ms / lineage_ms: sequential requests to the api over one keep-alive connection with
  an ordinary user's read token (not an administrator's), timed client-side; each answer is
  checked (the query's seed version is a hit; the lineage graph's node and edge sets equal
  the corpus's, computed from the generated links); engine_took_ms replays the same search
  bodies against the engine.
- user_path: cairn.Client.publish over HTTP waiting for the record, 1/8/32 client processes,
  and one Client.publish_many call from one process (user_path.py).
- memory_mb: RSS and PSS of each service and backing server at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.kafka import produce_all
from cairn.core.adapters.settings import Settings
from cairn.core.domain import payloads
from cairn.core.domain.events import new_event
from cairn.search.query import build_request, search_body

from scripts.benchmarks.stats import percentiles, summary
from scripts.benchmarks.workspace import (
    CpuMeter,
    code_of,
    configure_projects,
    memory,
    user_token,
    workspace,
)

DAY_MS = 86_400_000
SERVICES = ("ledger", "indexer", "api", "validator", "notifier", "archiver")
SLICE = 10_000


def refresh_seconds(interval: str) -> float:
    """The engine's refresh interval (`1s`, `500ms`, `2m`) in seconds; `-1` (off) counts as 1 s.
    How long a version may take to become searchable after the indexer wrote it."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in sorted(units, key=len, reverse=True):
        if interval.endswith(unit) and interval[: -len(unit)].replace(".", "", 1).isdigit():
            return float(interval[: -len(unit)]) * units[unit]
    return 1.0
Params = list[tuple[str, str | int | float | bool | None]]  # query parameters, keys repeat


@dataclass(frozen=True)
class Domain:
    """One project's vocabulary: what its artifacts are called, tagged and measured by."""

    weight: float
    archs: tuple[str, ...]
    tasks: tuple[str, ...]
    datasets: tuple[str, ...]
    tags: tuple[str, ...]
    teams: tuple[str, ...]
    frameworks: tuple[str, ...]
    metric: str  # the project's own headline metric, next to accuracy, f1 and loss


DOMAINS = {
    "vision": Domain(0.24, ("resnet50", "vit-b16", "efficientnet-b3", "yolov8", "convnext-t",
                            "unet", "detr"),
                     ("defects", "retail-shelf", "xray", "satellite", "faces", "traffic-signs"),
                     ("imagenet-mini", "coco-subset", "chest-xray", "sat-tiles", "shelf-photos"),
                     ("cv", "cnn", "transformer", "detection", "segmentation", "classification",
                      "medical"), ("vision", "platform", "research"),
                     ("pytorch", "pytorch", "jax", "tensorflow"), "top5"),
    "nlp": Domain(0.22, ("bert-base", "roberta-large", "t5-small", "llama-7b-lora", "distilbert",
                         "mistral-7b-qlora"),
                  ("sentiment", "ner", "summarization", "intent", "toxicity", "qa"),
                  ("support-tickets", "wiki-dump", "news-corpus", "reviews", "chat-logs"),
                  ("nlp", "transformer", "multilingual", "distilled", "quantized", "llm"),
                  ("language", "research", "platform"), ("pytorch", "pytorch", "jax"),
                  "exact_match"),
    "fraud": Domain(0.14, ("xgboost", "lightgbm", "catboost", "tabnet", "isolation-forest",
                           "graphsage"),
                    ("card-fraud", "chargeback", "account-takeover", "aml", "merchant-risk"),
                    ("transactions", "chargebacks", "device-graph", "kyc-events"),
                    ("tabular", "finance", "graph", "anomaly", "baseline"), ("risk", "fraud-ml"),
                    ("xgboost", "lightgbm", "sklearn", "pytorch"), "auc"),
    "speech": Domain(0.10, ("whisper-small", "wav2vec2", "conformer", "hubert"),
                     ("asr", "diarization", "keyword-spotting", "tts-eval"),
                     ("callcenter-audio", "librispeech-sub", "podcasts"),
                     ("audio", "asr", "multilingual", "transformer"), ("speech",),
                     ("pytorch", "pytorch", "tensorflow"), "wer"),
    "recsys": Domain(0.12, ("two-tower", "dlrm", "sasrec", "lightfm", "wide-deep"),
                     ("home-feed", "related-items", "search-rank", "email-recs"),
                     ("clickstream", "impressions", "catalog"),
                     ("ranking", "retrieval", "embedding", "tabular"), ("recs", "platform"),
                     ("tensorflow", "pytorch"), "ndcg_at_10"),
    "forecasting": Domain(0.08, ("prophet", "deepar", "tft", "nbeats", "arima"),
                          ("demand", "capacity", "energy-load", "churn"),
                          ("sales-daily", "sensor-hourly", "billing"),
                          ("time-series", "baseline", "probabilistic"), ("planning", "research"),
                          ("sklearn", "pytorch", "statsmodels"), "mape"),
    "genomics": Domain(0.05, ("enformer", "dnabert", "cnn1d"),
                       ("variant-effect", "expression", "splice-site"),
                       ("gtex", "encode-tracks", "clinvar"), ("genomics", "medical", "transformer"),
                       ("bio-ml",), ("pytorch", "jax"), "pearson_r"),
    "robotics": Domain(0.05, ("ppo-policy", "sac-policy", "diffusion-policy", "rt1-lite"),
                       ("grasping", "navigation", "pick-place"), ("teleop-demos", "sim-rollouts"),
                       ("rl", "control", "sim2real"), ("robotics",), ("pytorch", "jax"),
                       "success_rate"),
}
COMMON_TAGS = ("baseline", "experiment", "prod-candidate", "ablation", "nightly", "reviewed")
LICENSES = (("apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-4.0", "proprietary", "bsd-3-clause"),
            (30, 15, 10, 5, 35, 5))
CREATORS = tuple(f"{first}.{last}" for first in ("ana", "ben", "chen", "dara", "emeka", "fatima",
                                                 "gus", "hana", "ivan", "jo")
                 for last in ("k", "m", "s", "w", "z", "o"))
CREATOR_WEIGHTS = tuple(1 / (i + 1) ** 0.8 for i in range(len(CREATORS)))  # a few publish most
MODEL_VERSIONS = (tuple(range(1, 13)), (10, 8, 7, 6, 6, 5, 5, 5, 4, 3, 3, 3))
DATASET_VERSIONS = (tuple(range(1, 9)), (6, 5, 5, 4, 4, 4, 3, 3))
EVALS_PER_MODEL = ((0, 1, 2), (1, 7, 2))
PACKAGES = {"pytorch": {"torch": "2.3.1"}, "jax": {"jax": "0.4.30", "flax": "0.8.5"},
            "tensorflow": {"tensorflow": "2.16.1"}, "sklearn": {"scikit-learn": "1.5.1"},
            "xgboost": {"xgboost": "2.1.0"}, "lightgbm": {"lightgbm": "4.4.0"},
            "statsmodels": {"statsmodels": "0.14.2"}}


GENERIC = {"the", "for", "and", "model", "iteration", "trained", "evaluation", "snapshot"}


@dataclass
class Item:
    """A generated event and what the bench must remember about it once it is kept."""

    event: dict[str, Any]
    kind: str
    artifact: str
    number: int
    seed: dict[str, Any] | None = None  # facts a search query can be made of (models, evals)


@dataclass
class Corpus:
    """What the generator kept: the queryable sample, lineage roots, versions per artifact."""

    kinds: Counter[str] = field(default_factory=Counter)
    versions: dict[str, int] = field(default_factory=dict)  # artifact → versions kept
    datasets: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in DOMAINS})
    models: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in DOMAINS})
    roots: list[str] = field(default_factory=list)  # mid-chain refs for depth-5 lineage
    seeds: list[dict[str, Any]] = field(default_factory=list)
    seen_seeds: int = 0
    links: int = 0
    deepest_chain: int = 0
    # the lineage graph as generated: version ref → [(target node id, relation)]
    up: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)
    down: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def add_links(self, ref: str, links: list[dict[str, Any]]) -> None:
        """A version's links as the api's lineage shows them: a target by its ref, an external
        one as `external:<url>[@commit]` (a leaf)."""
        for link in links:
            if link.get("target"):
                target = link["target"]
                self.down.setdefault(target, []).append((ref, link["relation"]))
            else:
                ext = link["external"]
                at = f"@{ext['commit']}" if ext.get("commit") else ""
                target = f"external:{ext['url']}{at}"
            self.up.setdefault(ref, []).append((target, link["relation"]))

    def lineage(self, root: str, depth: int) -> tuple[set[str], set[tuple[str, str, str]]]:
        """Nodes and (from, to, relation) edges within `depth` both ways, as the api walks:
        up follows links from each version reached below the limit, down the links to it."""
        nodes, edges = {root}, set()
        for way in ("up", "down"):
            graph, seen, frontier = getattr(self, way), {root}, [root]
            for _ in range(depth):
                following = []
                for ref in frontier:
                    for other, relation in graph.get(ref, ()):
                        edges.add((ref, other, relation) if way == "up" else
                                  (other, ref, relation))
                        nodes.add(other)
                        if other not in seen and not other.startswith("external:"):
                            seen.add(other)
                            following.append(other)
                frontier = following
        return nodes, edges


class Generator:
    """Families of artifacts (a dataset's snapshot chain, or a model's version chain with its
    eval logs), seeded, with created_at spread over the last 18 months."""

    def __init__(self, n: int, seed: int, run: str) -> None:
        self.n, self.run = n, run
        self.rng = random.Random(seed)
        self.corpus = Corpus()
        self.serial = 0
        self.clock = int(time.time() * 1000) - 540 * DAY_MS
        self.step = max(1, 539 * DAY_MS // max(n, 1))

    # ---- the stream of kept events
    def events(self) -> Iterator[dict[str, Any]]:
        names, weights = list(DOMAINS), [d.weight for d in DOMAINS.values()]
        kept = 0
        while kept < self.n:
            project = self.rng.choices(names, weights)[0]
            make_dataset = not self.corpus.datasets[project] or self.rng.random() < 0.2
            family, roots = (self._dataset_family(project) if make_dataset
                             else self._model_family(project))
            whole = len(family)
            family = family[: self.n - kept]
            for item in family:
                self._keep(item)
                yield item.event
            kept += len(family)
            if len(family) == whole:  # a cut family's roots may not exist
                self.corpus.roots.extend(roots)

    def _keep(self, item: Item) -> None:
        c = self.corpus
        c.kinds[item.kind] += 1
        c.links += len(payload_links(item.event))
        c.add_links(f"{item.artifact}@v{item.number}", payload_links(item.event))
        if item.number == 1:
            project = item.artifact.split("/", 1)[0]
            if item.kind == "dataset":
                c.datasets[project].append(item.artifact)
            elif item.kind == "model":
                c.models[project].append(item.artifact)
        c.versions[item.artifact] = item.number
        c.deepest_chain = max(c.deepest_chain, item.number)
        if item.seed is not None:  # reservoir sample: every model or eval equally likely
            c.seen_seeds += 1
            if len(c.seeds) < 2000:
                c.seeds.append(item.seed)
            elif (j := self.rng.randrange(c.seen_seeds)) < 2000:
                c.seeds[j] = item.seed

    # ---- families
    def _dataset_family(self, project: str) -> tuple[list[Item], list[str]]:
        d = DOMAINS[project]
        rng = self.rng
        self.serial += 1
        name = f"{rng.choice(d.datasets)}-{self.serial}"
        count = rng.choices(*DATASET_VERSIONS)[0]
        team, creator = rng.choice(d.teams), self._creator()
        license_ = rng.choices(*LICENSES)[0]
        source = rng.choice(("s3://lake/raw", "gs://vendor-drop", "https://kaggle.com/d",
                             "s3://crawl/internal"))
        items = []
        for k in range(1, count + 1):
            links: list[dict[str, Any]] = []
            if k > 1:
                links.append({"relation": "derived_from", "target": f"{project}/{name}@v{k - 1}"})
            elif rng.random() < 0.5:
                links.append({"relation": "derived_from", "external": {
                    "kind": "data", "url": f"{source}/{project}/{name}", "commit": None}})
            rows = rng.randint(10_000, 5_000_000)
            meta = {
                "creator": creator, "owner_team": team, "license": license_,
                "data_source": source, "preprocessing": rng.choice(
                    ("dedup+normalize", "resize 224", "tokenize bpe-32k", "impute+scale",
                     "resample 16khz")),
                "description": f"{name.rsplit('-', 1)[0]} snapshot {k} for {project} "
                               f"{rng.choice(d.tasks)} work, {rows} rows",
                "tags": self._tags(d, 1, 3),
                "data_splits": [{"name": "train", "fraction": 0.8, "rows": int(rows * 0.8)},
                                {"name": "val", "fraction": 0.1, "rows": rows // 10},
                                {"name": "test", "fraction": 0.1, "rows": rows // 10}],
            }
            files = [self._file(f"part-{i:04d}.parquet", 10**6, 10**9)
                     for i in range(rng.randint(1, 6))]
            items.append(self._item("dataset", project, name, k, meta, links, files, None))
        roots = [f"{project}/{name}@v{k}" for k in range(2, count) if count >= 6]
        return items, roots

    def _model_family(self, project: str) -> tuple[list[Item], list[str]]:
        d = DOMAINS[project]
        rng = self.rng
        self.serial += 1
        arch, task = rng.choice(d.archs), rng.choice(d.tasks)
        name = f"{arch}-{task}-{self.serial}"
        dataset = rng.choice(self.corpus.datasets[project])
        ds_versions = self.corpus.versions[dataset]
        count = rng.choices(*MODEL_VERSIONS)[0]
        team, creator, framework = rng.choice(d.teams), self._creator(), rng.choice(d.frameworks)
        license_, tags = rng.choices(*LICENSES)[0], self._tags(d, 1, 3)
        base = None  # some families start from another model of the project (fine-tuning)
        if self.corpus.models[project] and rng.random() < 0.15:
            other = rng.choice(self.corpus.models[project])
            base = f"{other}@v{self.corpus.versions[other]}"
        splits = rng.sample(("test", "holdout", "shadow"), rng.choices(*EVALS_PER_MODEL)[0])
        quality = rng.uniform(0.55, 0.85)
        items = []
        for k in range(1, count + 1):
            ds_ref = f"{dataset}@v{max(1, round(k * ds_versions / count))}"
            links = [{"relation": "trained_on", "target": ds_ref}]
            if k > 1:
                links.append({"relation": "derived_from", "target": f"{project}/{name}@v{k - 1}"})
            elif base:
                links.append({"relation": "derived_from", "target": base})
            acc = min(0.995, quality + 0.1 * (1 - math.exp(-k / 4)) + rng.gauss(0, 0.01))
            metrics = self._metrics(d, acc)
            meta = {
                "creator": creator, "owner_team": team, "license": license_,
                "framework": framework, "tags": sorted(set(tags) | set(self._tags(d, 0, 1))),
                "description": f"{arch} {task} model, iteration {k}, trained on "
                               f"{dataset.split('/', 1)[1]} ({rng.choice(d.tags)})",
                "metrics": metrics,
                "params": {"lr": rng.choice((1e-3, 3e-4, 1e-4, 3e-5)),
                           "epochs": rng.randint(3, 120), "batch_size": rng.choice((32, 64, 256)),
                           "optimizer": rng.choice(("adamw", "sgd", "lion"))},
                "seeds": {"torch": rng.randrange(2**31), "data": rng.randrange(2**31)},
            }
            files = [self._file("model.safetensors", 10**7, 5 * 10**9),
                     self._file("config.json", 500, 5000)]
            stage = (rng.choices((None, "development", "staging", "production"), (40, 25, 20, 15))
                     if k == count else rng.choices((None, "development"), (70, 30)))[0]
            items.append(self._item("model", project, name, k, meta, links, files, stage))
            for split in splits:
                items.append(self._eval(project, f"{name}-eval-{split}", k, name, ds_ref, meta,
                                        d, acc))
        roots = [f"{project}/{name}@v{k}" for k in range(3, count - 1) if count >= 7]
        return items, roots

    def _eval(self, project: str, name: str, k: int, model: str, ds_ref: str,
              model_meta: dict[str, Any], d: Domain, acc: float) -> Item:
        meta = {
            "creator": model_meta["creator"], "owner_team": model_meta["owner_team"],
            "license": model_meta["license"], "tags": model_meta["tags"],
            "description": f"evaluation of {model} v{k} on {ds_ref.split('/', 1)[1]}",
            "metrics": {**self._metrics(d, acc + self.rng.gauss(-0.01, 0.01)),
                        "precision": round(acc + self.rng.gauss(0, 0.02), 4),
                        "recall": round(acc + self.rng.gauss(-0.02, 0.02), 4)},
        }
        links = [{"relation": "evaluates", "target": f"{project}/{model}@v{k}"},
                 {"relation": "uses", "target": ds_ref}]
        files = [self._file("metrics.json", 200, 5000),
                 self._file("predictions.parquet", 10**5, 10**8)]
        return self._item("eval_log", project, name, k, meta, links, files, None)

    # ---- pieces
    def _item(self, kind: str, project: str, name: str, number: int, meta: dict[str, Any],
              links: list[dict[str, Any]], files: list[dict[str, Any]], stage: str | None) -> Item:
        body = payloads.published(kind=kind, project=project, name=name, files=files,
                                  metadata_=meta, environment=self._environment(meta, kind),
                                  links=links, stage=stage)
        event = new_event(f"{project}/{name}", "Published", body, actor=meta["creator"],
                          tool="bench-discovery", run_id=self.run)
        self.clock += self.rng.randint(1, 2 * self.step)
        event["occurred_at"] = self.clock
        seed = None
        if kind != "dataset":
            seed = {"ref": f"{project}/{name}@v{number}", "created_ms": self.clock,
                    "project": project, "kind": kind, "name": name, "tags": meta["tags"],
                    "license": meta.get("license"), "owner_team": meta.get("owner_team"),
                    "creator": meta["creator"], "framework": meta.get("framework"),
                    "description": meta["description"], "metrics": meta["metrics"]}
        return Item(event, kind, f"{project}/{name}", number, seed)

    def _environment(self, meta: dict[str, Any], kind: str) -> dict[str, Any]:
        rng = self.rng
        gpu = kind == "model" and meta.get("framework") in ("pytorch", "jax", "tensorflow")
        return {
            "python": rng.choice(("3.10.14", "3.11.9", "3.12.4")),
            "packages": {**PACKAGES.get(meta.get("framework") or "", {}), "numpy": "1.26.4"},
            "os": "Linux-5.15.0-x86_64-with-glibc2.35", "cpu": "x86_64",
            "accelerators": [rng.choice(("NVIDIA A100-SXM4-80GB", "NVIDIA L4", "NVIDIA H100"))]
            * rng.choice((1, 2, 8)) if gpu else [],
            "git_commit": f"{rng.getrandbits(160):040x}", "git_dirty": rng.random() < 0.1,
            "hostname": f"{kind.replace('_', '-')}-runner-{rng.randint(1, 40)}",
        }

    def _metrics(self, d: Domain, acc: float) -> dict[str, float]:
        rng = self.rng
        acc = max(0.0, min(0.999, acc))
        extra = {"wer": 1 - acc, "mape": (1 - acc) / 2}.get(d.metric, min(1.0, acc + 0.05))
        return {"accuracy": round(acc, 4), "f1": round(acc - rng.uniform(0, 0.04), 4),
                "loss": round(-math.log(max(acc, 1e-3)) + rng.uniform(0, 0.1), 4),
                d.metric: round(extra + rng.gauss(0, 0.005), 4)}

    def _tags(self, d: Domain, low: int, high: int) -> list[str]:
        pool = d.tags + COMMON_TAGS
        return sorted(self.rng.sample(pool, self.rng.randint(low, high)))

    def _creator(self) -> str:
        return self.rng.choices(CREATORS, CREATOR_WEIGHTS)[0]

    def _file(self, path: str, low: int, high: int) -> dict[str, Any]:
        return {"path": path, "size": self.rng.randint(low, high),
                "sha256": f"{self.rng.getrandbits(256):064x}"}


def payload_links(event: dict[str, Any]) -> list[dict[str, Any]]:
    return list(event["payload"][1]["links"])


# ---- measuring helpers (percentiles and summary live in stats.py)
def say(message: str) -> None:
    print(f"[discovery] {message}", file=sys.stderr, flush=True)


def alias_of(env: dict[str, str]) -> str:
    return f"{env['CAIRN_INDEX_PREFIX']}-versions"


def api_client(api: str, token: str) -> httpx.Client:
    """One keep-alive connection, with the token a CLI or SDK user would send."""
    return httpx.Client(base_url=api, timeout=30, headers={"Authorization": f"Bearer {token}"})


def engine_count(client: httpx.Client, env: dict[str, str], query: dict[str, Any] | None = None
                 ) -> int:
    body = {"query": query} if query else None
    reply = client.post(f"{env['SEARCH_URL']}/{alias_of(env)}/_count", json=body)
    reply.raise_for_status()
    return int(reply.json()["count"])


# ---- 1+2: corpus and ingest
def encoded(emitter: Emitter, gen: Generator, sizes: list[int]
            ) -> Iterator[tuple[str, bytes, bytes, Any]]:
    """The corpus's events, each Avro-encoded and signed as it is produced (inside the clock):
    `sizes` counts [events, bytes]."""
    for event in gen.events():
        record = emitter.encode(event)
        sizes[0] += 1
        sizes[1] += len(record[2])
        if sizes[0] % 20_000 == 0:
            say(f"produced {sizes[0]}/{gen.n} events")
        yield record


async def ledger_progress(conn: asyncpg.Connection) -> tuple[int, int, int]:
    row = await conn.fetchrow("SELECT count(*) AS v, count(*) FILTER (WHERE validation ="
                              " 'pending') AS p, (SELECT count(*) FROM rejected_events) AS r"
                              " FROM versions")
    return int(row["v"]), int(row["p"]), int(row["r"])


async def wait_ingested(env: dict[str, str], n: int, started: float, stall_s: float = 180.0
                        ) -> dict[str, float]:
    """Poll (every 0.5 s) until PostgreSQL has n versions, none still pending validation, and
    the alias counts n documents, none pending: seconds from `started` to the polls that saw
    all searchable and all judged too (the end of ingest). PostgreSQL's counts (a scan of
    versions) are read every 5 s and once the index counts n, so the bench's own
    polling stays out of the CPU it measures."""
    conn = await asyncpg.connect(env["DATABASE_URL"])
    client = httpx.Client(timeout=30)  # used from a worker thread, never the event loop
    pending_q = {"term": {"validation": "pending"}}
    try:
        searchable_at = done_at = None
        last_change, last_seen, last_say = time.time(), (-1, -1, -1, -1), 0.0
        recorded = pending = rejected = -1
        last_pg = 0.0
        while done_at is None:
            await asyncio.sleep(0.5)
            indexed = await asyncio.to_thread(engine_count, client, env)
            unjudged = await asyncio.to_thread(engine_count, client, env, pending_q)
            now = time.time()
            if indexed >= n or now - last_pg >= 5:
                recorded, pending, rejected = await ledger_progress(conn)
                last_pg = now
            if rejected > 0:
                raise RuntimeError(f"the ledger refused {rejected} corpus events (see "
                                   "rejected_events): the generator made invalid input")
            seen = (recorded, pending, indexed, unjudged)
            if seen != last_seen:
                last_seen, last_change = seen, now
            elif now - last_change > stall_s:
                raise RuntimeError(f"no progress for {stall_s:.0f}s at ledger {recorded} "
                                   f"({pending} pending validation), index {indexed} "
                                   f"({unjudged} pending) of {n}")
            if searchable_at is None and indexed >= n and recorded >= n:
                searchable_at = now
            if indexed >= n and recorded >= n and pending == 0 and unjudged == 0:
                done_at = now
            if now - last_say >= 10:
                last_say = now
                say(f"ingest {now - started:6.1f}s: ledger {recorded}/{n} ({pending} pending "
                    f"validation), searchable {indexed}/{n} ({unjudged} pending)")
        assert searchable_at is not None
        return {"searchable_s": searchable_at - started, "judged_s": done_at - started}
    finally:
        await asyncio.to_thread(client.close)
        await conn.close()


async def ledger_record(env: dict[str, str], started: float, quiet_s: float = 3.0
                        ) -> dict[str, Any]:
    """Once the event log stops growing (quiet_s without a new entry; the last verdicts and
    notifications may trail the index): the Published events' recorded_at, in seq order, and
    what the ledger recorded in all."""
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        count, still = -1, 0.0
        while still < quiet_s:
            now = await conn.fetchval("SELECT count(*) FROM event_log")
            still = still + 0.5 if now == count else 0.0
            count = now
            await asyncio.sleep(0.5)
        times = [float(r[0]) for r in await conn.fetch(
            "SELECT extract(epoch FROM recorded_at) FROM event_log"
            " WHERE event_type = 'Published' ORDER BY seq")]
        kinds = {r["event_type"]: int(r["n"]) for r in await conn.fetch(
            "SELECT event_type, count(*) AS n FROM event_log GROUP BY event_type")}
        last = float(await conn.fetchval(
            "SELECT extract(epoch FROM max(recorded_at)) FROM event_log"))
    finally:
        await conn.close()
    return {"published_at": times, "events_by_type": kinds, "settled_s": last - started}


def slices(times: list[float], started: float, size: int = SLICE) -> list[dict[str, Any]]:
    """Versions recorded per second in each consecutive `size` of them (the last may be
    smaller): each slice from the previous slice's last recorded_at (the first from the
    clock's start) to its own last."""
    out, previous = [], started
    for i in range(0, len(times), size):
        part = times[i: i + size]
        span = part[-1] - previous
        out.append({"from": i + 1, "to": i + len(part), "seconds": round(span, 2),
                    "per_s": round(len(part) / span, 1) if span > 0 else None})
        previous = part[-1]
    return out


def ingest(emitter: Emitter, gen: Generator, env: dict[str, str], cpu: CpuMeter
           ) -> dict[str, Any]:
    sizes = [0, 0]
    say(f"generating, encoding and producing {gen.n} events as a stream")
    cpu.start()
    started = time.time()
    produce_all(emitter.producer, encoded(emitter, gen, sizes), timeout=600)  # type: ignore[arg-type]
    emit_s = time.time() - started
    n = sizes[0]
    waited = asyncio.run(wait_ingested(env, n, started))
    cpu_s = cpu.stop()
    say("CPU seconds while ingesting: " + ", ".join(f"{k} {v}" for k, v in cpu_s.items()))
    ledger = asyncio.run(ledger_record(env, started))
    times = ledger["published_at"]
    drain_s = times[-1] - times[0] if len(times) > 1 else math.nan
    parts = slices(times, started)
    for part in parts:
        say(f"ingest slice {part['from']:>8}-{part['to']:<8} {part['per_s']} versions/s")
    events = sum(ledger["events_by_type"].values())
    return {"versions": n, "emit_s": round(emit_s, 2),
            "searchable_s": round(waited["searchable_s"], 2),
            "judged_s": round(waited["judged_s"], 2),
            "ingest_per_s": round(n / waited["judged_s"], 1),
            "searchable_per_s": round(n / waited["searchable_s"], 1),
            "ledger_drain_per_s": round((len(times) - 1) / drain_s, 1),
            "ledger_events": ledger["events_by_type"],
            "ledger_events_per_version": round(events / n, 2),
            "ledger_events_per_s": round(events / ledger["settled_s"], 1),
            "settled_s": round(ledger["settled_s"], 2),
            "ingest_slices": parts, "avg_event_bytes": round(sizes[1] / n),
            "cpu_s": cpu_s, "cpu_ms_per_version": round(cpu_s["total"] * 1000 / n, 2),
            "cores": os.cpu_count()}


# ---- 3: publish → searchable
def probe_event(gen: Generator, i: int) -> tuple[dict[str, Any], str]:
    """A new version of an existing model (a retrain): the everyday publish."""
    rng, c = gen.rng, gen.corpus
    project = rng.choice([p for p, models in c.models.items() if models])
    artifact = rng.choice(c.models[project])
    project, name = artifact.split("/", 1)
    c.versions[artifact] += 1
    number = c.versions[artifact]
    meta = {"creator": gen._creator(), "tags": ["retrain", "latency-probe"],
            "description": f"retrain {i} of {name}", "framework": "pytorch",
            "metrics": gen._metrics(DOMAINS[project], rng.uniform(0.6, 0.95))}
    links = [{"relation": "derived_from", "target": f"{artifact}@v{number - 1}"}]
    item = gen._item("model", project, name, number, meta, links,
                     [gen._file("model.safetensors", 10**7, 10**9)], None)
    item.event["occurred_at"] = int(time.time() * 1000)
    c.add_links(f"{artifact}@v{number}", links)
    return item.event, item.event["payload"][1]["digest"]


def publish_latency(emitter: Emitter, gen: Generator, env: dict[str, str], probes: int,
                    poll_s: float = 0.02) -> dict[str, Any]:
    """A probe starts right after the previous one became visible, i.e. just after a refresh;
    a random pause of up to one refresh interval keeps them from all waiting a full one."""
    refresh_s = refresh_seconds(emitter.settings.search_refresh)
    client = httpx.Client(timeout=30)
    searchable, emitted = [], {}
    try:
        for i in range(probes):
            event, digest = probe_event(gen, i)
            started = time.time()
            emitter.emit(event)
            deadline = started + 120
            while engine_count(client, env, {"term": {"digest": digest}}) == 0:
                if time.time() > deadline:
                    raise RuntimeError(f"probe {i} not searchable after 120s")
                time.sleep(poll_s)
            searchable.append((time.time() - started) * 1000)
            emitted[event["event_id"]] = started
            time.sleep(gen.rng.uniform(0, refresh_s))  # at a random phase of the refresh
            if (i + 1) % 50 == 0:
                say(f"publish→searchable {i + 1}/{probes}")
    finally:
        client.close()
    recorded = asyncio.run(recorded_latency(env, emitted))
    return {"publish_to_searchable_ms": summary(searchable, 50, 99),
            "publish_to_recorded_ms": summary(recorded, 50, 99)}


async def recorded_latency(env: dict[str, str], emitted: dict[str, float]) -> list[float]:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT event_id::text AS id, extract(epoch FROM recorded_at)"
                                " AS at FROM event_log WHERE event_id = ANY($1::uuid[])",
                                list(emitted))
    finally:
        await conn.close()
    return [(float(r["at"]) - emitted[r["id"]]) * 1000 for r in rows]


# ---- 4: faceted search
def search_queries(gen: Generator, count: int) -> list[tuple[dict[str, Any], Params]]:
    """Free text from a real version's words, 2-3 of its facet values and a metric range it
    passes: what someone looking for that kind of thing would type, never empty by design."""
    rng = gen.rng
    out: list[tuple[dict[str, Any], Params]] = []
    for _ in range(count):
        s = rng.choice(gen.corpus.seeds)
        words = sorted({w for w in (s["name"] + " " + s["description"]).replace("-", " ")
                        .replace("(", " ").replace(")", " ").replace(",", " ").split()
                        if len(w) > 2 and not w.isdigit() and w not in GENERIC})
        params: Params = [("q", " ".join(rng.sample(words, rng.choice((1, 1, 2)))))]
        facets = [(f, s[f]) for f in ("kind", "project", "license", "owner_team", "creator",
                                      "framework") if s[f]]
        facets += [("tag", t) for t in s["tags"][:1]]
        params += rng.sample(facets, rng.randint(2, 3))
        metric = rng.choice(("accuracy", "f1", "loss"))
        value = s["metrics"][metric]
        params.append(("metric", f"{metric}<={math.ceil((value + 0.1) * 100) / 100}"
                       if metric == "loss" else
                       f"{metric}>={math.floor((value - rng.uniform(0, 0.1)) * 100) / 100}"))
        sort = rng.choices(("relevance", "metric.accuracy:desc", "created"), (70, 20, 10))[0]
        out.append((s, [*params, ("sort", sort)]))
    return out


def search_latency(api: str, env: dict[str, str], token: str,
                   queries: list[tuple[dict[str, Any], Params]], warmup: int = 20
                   ) -> dict[str, Any]:
    """Each query timed, then checked (untimed): its seed version is on the page, or, if the
    page is full of others, the same query narrowed to the seed's created_at finds it."""
    timings, totals, on_page, missing = [], [], 0, []
    with api_client(api, token) as client:
        for i, (seed, params) in enumerate(queries):
            started = time.perf_counter()
            reply = client.get("/v1/search", params=params)
            elapsed = (time.perf_counter() - started) * 1000
            reply.raise_for_status()
            if i < warmup:
                continue
            answer = reply.json()
            timings.append(elapsed)
            totals.append(answer["total"])
            if any(hit.get("ref") == seed["ref"] for hit in answer["hits"]):
                on_page += 1
            elif not seed_matches(client, seed, params):
                missing.append({"seed": seed["ref"], "params": params})
    checked = len(timings)
    return {**summary(timings, 50, 95), "warmup": warmup,
            "hits_total_median": statistics.median(totals),
            "zero_hit_share": round(sum(1 for t in totals if t == 0) / len(totals), 3),
            "answers": {"checked": checked, "seed_on_first_page": on_page,
                        "seed_matched": checked - len(missing), "missing": missing[:5]},
            "engine_took_ms": engine_took(env, [q for _, q in queries[warmup:]])}


def seed_matches(client: httpx.Client, seed: dict[str, Any], params: Params) -> bool:
    """The query, narrowed to the millisecond the seed was created, has the seed."""
    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")

    narrowed = [*params, ("created_after", iso(seed["created_ms"])),
                ("created_before", iso(seed["created_ms"] + 1)), ("size", 100)]
    reply = client.get("/v1/search", params=narrowed)
    reply.raise_for_status()
    return any(hit.get("ref") == seed["ref"] for hit in reply.json()["hits"])


def engine_took(env: dict[str, str], queries: list[Params]) -> dict[str, Any]:
    """The same bodies the api sends, straight to the engine: its own `took` (a second pass,
    so caches are warmer than in the api pass)."""
    took = []
    with httpx.Client(timeout=30) as client:
        for params in queries:
            given: dict[str, list[str]] = {}
            for key, value in params:
                given.setdefault(key, []).append(str(value))
            req = build_request(
                q=given.pop("q", [None])[0], sort=given.pop("sort", ["relevance"])[0],
                metrics=given.pop("metric", []), filters=given)
            reply = client.post(f"{env['SEARCH_URL']}/{alias_of(env)}/_search",
                                json=search_body(req))
            reply.raise_for_status()
            took.append(float(reply.json()["took"]))
    return {**percentiles(took, 50, 95), "pass": "second"}


# ---- 5: lineage
def lineage_latency(api: str, token: str, corpus: Corpus, count: int, rng: random.Random,
                    warmup: int = 10, depth: int = 5) -> dict[str, Any]:
    """Each walk timed, then its node and edge sets compared (untimed) with the corpus's."""
    picked = [rng.choice(corpus.roots) for _ in range(count + warmup)]
    timings, nodes, edges, wrong = [], [], [], []
    with api_client(api, token) as client:
        for i, ref in enumerate(picked):
            started = time.perf_counter()
            reply = client.get(f"/v1/lineage/{ref}",
                               params={"direction": "both", "depth": depth})
            elapsed = (time.perf_counter() - started) * 1000
            reply.raise_for_status()
            if i < warmup:
                continue
            graph = reply.json()
            timings.append(elapsed)
            got_nodes = {n["id"] for n in graph["nodes"]}
            got_edges = {(e["from"], e["to"], e["relation"]) for e in graph["edges"]}
            nodes.append(len(got_nodes))
            edges.append(len(got_edges))
            want_nodes, want_edges = corpus.lineage(ref, depth)
            if (got_nodes, got_edges) != (want_nodes, want_edges):
                wrong.append({"root": ref, "nodes_missing": sorted(want_nodes - got_nodes)[:5],
                              "nodes_extra": sorted(got_nodes - want_nodes)[:5],
                              "edges_missing": len(want_edges - got_edges),
                              "edges_extra": len(got_edges - want_edges)})
    return {**summary(timings, 50, 95), "warmup": warmup, "direction": "both", "depth": depth,
            "roots_available": len(corpus.roots), "nodes_median": statistics.median(nodes),
            "nodes_max": max(nodes), "edges_median": statistics.median(edges),
            "edges_max": max(edges),
            "answers": {"checked": len(timings), "graph_equal": len(timings) - len(wrong),
                        "wrong": wrong[:5]}}


# ---- 6: facts
def machine(env: dict[str, str]) -> dict[str, Any]:
    engine = httpx.get(env["SEARCH_URL"], timeout=10).json().get("version", {})
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                      if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "search_engine": f"{engine.get('distribution', 'elasticsearch')} "
                             f"{engine.get('number', '?')}",
            "postgresql": asyncio.run(_pg_version(env["DATABASE_URL"])),
            "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}


ROOT = Path(__file__).resolve().parents[2]


def code_version(services_from: Path | None = None) -> dict[str, Any]:
    """Which code ran: the benchmark's checkout, and the services' (another with
    --services-from)."""
    return {**code_of(ROOT), "services": code_of(services_from or ROOT)}


async def _pg_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def corpus_facts(c: Corpus) -> dict[str, Any]:
    return {"versions": sum(c.kinds.values()), "by_kind": dict(c.kinds),
            "artifacts": len(c.versions), "projects": sum(1 for p in c.datasets if c.datasets[p]),
            "creators": len(CREATORS), "links": c.links, "deepest_version_chain": c.deepest_chain,
            "lineage_roots": len(c.roots)}


def run(n: int, probes: int, queries: int, lineage: int, seed: int,
        services_from: Path | None = None, user_publishes: int = 0, bulk_publishes: int = 0
        ) -> dict[str, Any]:
    from scripts.benchmarks import user_path

    with workspace(SERVICES, purge=True, services_from=services_from) as (env, services):
        api = services["api"].url
        say(f"workspace {env['CAIRN_TOPIC_PREFIX']} up: {', '.join(services)} ({api}); "
            f"logs in {services['api'].log_path.parent}")
        result: dict[str, Any] = {"benchmark": "discovery", "corpus_size": n,
                                  "code": code_version(services_from), "machine": machine(env),
                                  "services": list(services)}
        # ordinary users: a reader searches, a contributor to every project publishes
        reader = user_token(api, env["CAIRN_TOKEN"])
        publisher = user_token(api, env["CAIRN_TOKEN"], "bench-publisher", ("read", "publish"))
        configure_projects(api, env["CAIRN_TOKEN"], sorted(DOMAINS),
                           {"bench-publisher": "contributor"})
        settings = Settings(**env)
        emitter = Emitter(settings, "bench-discovery")
        gen = Generator(n, seed, env["CAIRN_TOPIC_PREFIX"])
        try:
            result["ingest"] = ingest(emitter, gen, env, CpuMeter(services))
            result["ingest_per_s"] = result["ingest"]["ingest_per_s"]
            result["ledger_drain_per_s"] = result["ingest"]["ledger_drain_per_s"]
            result["ingest_slices"] = result["ingest"].pop("ingest_slices")
            result["corpus"] = corpus_facts(gen.corpus)
            say(f"ingested in {result['ingest']['judged_s']}s; publishing {probes} probes")
            if probes:
                result.update(publish_latency(emitter, gen, env, probes))
            if queries:
                say(f"{queries} faceted searches")
                result["search_ms"] = search_latency(api, env, reader,
                                                     search_queries(gen, queries + 20))
            if lineage:
                say(f"{lineage} lineage queries")
                result["lineage_ms"] = lineage_latency(api, reader, gen.corpus, lineage,
                                                       gen.rng)
        finally:
            emitter.close()
        if user_publishes:
            say(f"user path: SDK over HTTP, {user_path.CLIENTS} clients")
            items = user_path.user_items(user_path.needed(user_publishes) + bulk_publishes,
                                         seed + 1)
            result["user_path"] = user_path.run(
                api, publisher, items, user_publishes, bulk_count=bulk_publishes,
                sdk_path=str(services_from.resolve() / "services") if services_from else None)
        result["memory_mb"] = memory(services)
        result["settings"] = {"search_refresh": settings.search_refresh, "seed": seed,
                              "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
        result["answers_ok"] = answers_ok(result)
        return result


def answers_ok(result: dict[str, Any]) -> bool:
    """Every checked answer was right: search seeds matched, lineage graphs equal, every
    user-path publish found."""
    search = result.get("search_ms", {}).get("answers")
    lineage = result.get("lineage_ms", {}).get("answers")
    users = [f["answers"] for f in result.get("user_path", {}).get("by_clients", [])]
    if "publish_many" in result.get("user_path", {}):
        users.append(result["user_path"]["publish_many"]["answers"])
    return ((search is None or search["seed_matched"] == search["checked"])
            and (lineage is None or lineage["graph_equal"] == lineage["checked"])
            and all(u["found"] == u["checked"] for u in users))


def top_level(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures first, where the issue's "done when" reads them."""
    head = {"ingest_per_s": result.get("ingest_per_s"),
            "ledger_drain_per_s": result.get("ledger_drain_per_s"),
            "publish_to_searchable_ms.p99": result.get("publish_to_searchable_ms", {}).get("p99"),
            "search_ms.p95": result.get("search_ms", {}).get("p95"),
            "lineage_ms.p95": result.get("lineage_ms", {}).get("p95")}
    return {**head, **result}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench discovery")
    parser.add_argument("--corpus", type=int, default=100_000, help="artifact versions to ingest")
    parser.add_argument("--probes", type=int, default=200, help="single publishes timed")
    parser.add_argument("--queries", type=int, default=300, help="faceted searches timed")
    parser.add_argument("--lineage", type=int, default=200, help="lineage queries timed")
    parser.add_argument("--user-publishes", type=int, default=200,
                        help="SDK publishes per client count (1, 8, 32; 0 skips the user path)")
    parser.add_argument("--bulk-publishes", type=int, default=1000,
                        help="versions sent by one Client.publish_many call (0 skips it)")
    parser.add_argument("--services-from", type=Path, default=None,
                        help="run the services from this checkout (e.g. a git worktree)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.corpus < 100:
        parser.error("--corpus must be at least 100")
    result = run(args.corpus, args.probes, args.queries, args.lineage, args.seed,
                 args.services_from, args.user_publishes, args.bulk_publishes)
    print(json.dumps(top_level(result), indent=2))
    if not result["answers_ok"]:
        say("some answers were wrong: see answers_ok and each figure's answers")
        sys.exit(1)


if __name__ == "__main__":
    main()
