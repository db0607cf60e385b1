"""A generated corpus with known distributions, as input events for the ledger.

Deterministic for a seed. Tests never compute expected answers from it: they ask the
ledger (tests/search_oracle.py); the distributions only make every facet have several
values, filters overlap, and some versions change after they were published.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from cairn.core.domain import payloads
from cairn.core.domain.events import new_event

from tests.ledger_helpers import fake_file

WORDS = ["resnet", "bert", "llama", "whisper", "xgb", "vit", "gpt", "t5", "clip", "unet"]
TAGS = ["nlp", "cv", "audio", "tabular", "baseline", "transformer", "cnn", "distilled",
        "quantized", "multilingual", "medical", "finance"]
LICENSES = ["mit", "apache-2.0", "cc-by-4.0", "bsd-3-clause", "proprietary", None]
FRAMEWORKS = ["pytorch", "tensorflow", "jax", "sklearn", "xgboost"]
TEAMS = ["vision", "language", "speech", "platform", "research", None]
CREATORS = [f"user{i:02d}" for i in range(20)]
KINDS = (["model", "dataset", "eval_log"], [5, 3, 2])
STAGES = ([None, "development", "staging", "production"], [60, 25, 10, 5])


def _metadata(rng: random.Random, kind: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "creator": rng.choice(CREATORS), "license": rng.choice(LICENSES),
        "owner_team": rng.choice(TEAMS), "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "description": f"{rng.choice(WORDS)} {kind} for {rng.choice(TAGS)} experiments",
    }
    if kind == "model":
        meta["framework"] = rng.choice(FRAMEWORKS)
        meta["params"] = {"lr": rng.choice([1e-3, 3e-4, 1e-4]), "epochs": rng.randint(1, 90)}
    if kind in ("model", "eval_log"):
        meta["metrics"] = {"accuracy": round(rng.uniform(0.5, 1.0), 4),
                           "loss": round(rng.uniform(0.01, 2.0), 4)}
    if kind == "dataset":
        meta["data_source"] = rng.choice(["s3://lake/raw", "kaggle", "internal-crawl"])
    return {k: v for k, v in meta.items() if v is not None}


def _published(project: str, name: str, kind: str, meta: dict[str, Any],
               links: list[dict[str, Any]], stage: str | None) -> dict[str, Any]:
    body = payloads.published(kind=kind, project=project, name=name, metadata_=meta,
                              files=[fake_file("model.bin", uuid.uuid4().bytes)],
                              links=links, stage=stage)
    return new_event(f"{project}/{name}", "Published", body, actor=meta["creator"], tool="corpus")


def _change(artifact: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return new_event(artifact, kind, body, actor="curator", tool="corpus")


def corpus_events(run: str, artifacts: int, seed: int = 4) -> list[dict[str, Any]]:
    """`artifacts` first versions, then about 5% second versions, 10% edits (3% set a legal
    hold), 10% verdicts, 3% archived and 1% deleted (per-artifact order is kept: events are
    keyed by artifact)."""
    rng = random.Random(seed)
    projects = [f"corpus-{run}-{i}" for i in range(8)]
    firsts: list[tuple[str, str, str]] = []
    datasets: list[str] = []
    events = []
    for i in range(artifacts):
        kind = rng.choices(*KINDS)[0]
        project = rng.choice(projects)
        name = f"{rng.choice(WORDS)}-{kind.replace('_', '-')}-{i:05d}"
        links = []
        if kind != "dataset" and datasets and rng.random() < 0.8:
            links.append({"relation": rng.choice(["trained_on", "uses"]),
                          "target": rng.choice(datasets[-50:])})
        if kind == "dataset" and datasets and rng.random() < 0.2:
            links.append({"relation": "derived_from", "target": rng.choice(datasets)})
        events.append(_published(project, name, kind, _metadata(rng, kind), links,
                                 rng.choices(*STAGES)[0]))
        firsts.append((project, name, kind))
        if kind == "dataset":
            datasets.append(f"{project}/{name}@v1")
    for project, name, kind in firsts:
        artifact, roll = f"{project}/{name}", rng.random()
        if roll < 0.05:
            events.append(_published(project, name, kind, _metadata(rng, kind), [], None))
        elif roll < 0.15:
            changes = {"tags": rng.sample(TAGS, 2), "license": rng.choice(LICENSES[:-1]),
                       **({"legal_hold": True} if roll < 0.08 else {})}
            events.append(_change(artifact, "MetadataEdited", {
                "version": "v1", "changes": json.dumps(changes), "reverts": None}))
        elif roll < 0.25:
            events.append(_change(artifact, "Verdict", {
                "version": "v1", "check": "schema", "reasons": [], "score": None,
                "status": rng.choice(["passed", "failed", "warning"])}))
        elif roll < 0.28:
            events.append(_change(artifact, "LifecycleRequested", {
                "version": "v1", "action": "archive", "reason": None}))
        elif roll < 0.29:
            events.append(_change(artifact, "LifecycleRequested", {
                "version": "v1", "action": "delete", "reason": "test"}))
    return events
