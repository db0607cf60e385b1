"""Load the demo corpus through the SDK: three projects, lineage chains, metrics, stages, aliases.

Deterministic file contents make the corpus content-addressed and stable, and the run is
skipped when it is already there, so `scripts/stack up` can call it every time.
Usage: python -m scripts.demo [--force]   (CAIRN_API_URL and CAIRN_TOKEN from the environment)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from cairn import CairnError, Client

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / ".stack" / "demo-files"


def _write(rel: str, text: str) -> Path:
    path = FILES / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _csv(rows: int, columns: list[str], seed: int) -> str:
    rng, buf = random.Random(seed), io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for i in range(rows):
        writer.writerow([i, *[round(rng.random(), 4) for _ in columns[1:]]])
    return buf.getvalue()


def _dir(name: str, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        _write(f"{name}/{rel}", text)
    return FILES / name


CORPUS: list[dict[str, Any]] = [
    # vision: two dataset snapshots, a model per snapshot, an evaluation, a second model
    {"kind": "dataset", "ref": "vision/imagenet-mini", "seed": 1, "rows": 400,
     "meta": {"creator": "ana", "owner_team": "vision", "license": "CC-BY-4.0",
              "preprocessing": "resize 224, center crop",
              "data_source": "https://image-net.org", "description": "100-class ImageNet subset",
              "tags": ["images", "classification"],
              "data_splits": [{"name": "train", "rows": 320}, {"name": "val", "rows": 80}]}},
    {"kind": "dataset", "ref": "vision/imagenet-mini", "seed": 2, "rows": 420,
     "meta": {"creator": "ana", "owner_team": "vision", "license": "CC-BY-4.0",
              "data_source": "https://image-net.org",
              "description": "100-class ImageNet subset, relabelled",
              "tags": ["images", "classification"],
              "preprocessing": "resize 224, center crop, relabel noisy classes"}},
    {"kind": "model", "ref": "vision/resnet50", "seed": 3,
     "links": [("trained_on", "vision/imagenet-mini@v1")],
     "meta": {"creator": "ben", "owner_team": "vision", "framework": "pytorch",
              "license": "Apache-2.0",
              "params": {"lr": 0.1, "epochs": 90, "batch_size": 256, "optimizer": "sgd"},
              "metrics": {"top1": 0.761, "top5": 0.929}, "seeds": {"torch": 42}, "tags": ["cnn"]}},
    {"kind": "model", "ref": "vision/resnet50", "seed": 4,
     "links": [("trained_on", "vision/imagenet-mini@v2")],
     "stage": "production", "alias": "champion",
     "meta": {"creator": "ben", "owner_team": "vision", "framework": "pytorch",
              "license": "Apache-2.0",
              "params": {"lr": 0.1, "epochs": 120, "batch_size": 256, "optimizer": "sgd"},
              "metrics": {"top1": 0.774, "top5": 0.936}, "seeds": {"torch": 7}, "tags": ["cnn"]}},
    {"kind": "eval_log", "ref": "vision/resnet50-eval", "seed": 5,
     "links": [("evaluates", "vision/resnet50@v2")],
     "meta": {"creator": "cara", "owner_team": "vision", "metrics": {"top1": 0.772, "ece": 0.031},
              "license": "CC-BY-4.0",
              "description": "held-out evaluation of the champion", "tags": ["eval"]}},
    {"kind": "model", "ref": "vision/vit-small", "seed": 6,
     "links": [("trained_on", "vision/imagenet-mini@v2")],
     "stage": "staging",
     "meta": {"creator": "dev", "owner_team": "vision", "framework": "jax",
              "license": "Apache-2.0",
              "params": {"lr": 0.0005, "epochs": 300, "patch": 16}, "metrics": {"top1": 0.781},
              "seeds": {"jax": 0}, "tags": ["transformer"]}},
    # nlp: a dataset with an external source, a fine-tuned model, its evaluation
    {"kind": "dataset", "ref": "nlp/squad-v2", "seed": 7, "rows": 300,
     "meta": {"creator": "eli", "owner_team": "nlp", "license": "CC-BY-SA-4.0",
              "preprocessing": "answers kept as character spans",
              "data_source": "https://rajpurkar.github.io/SQuAD-explorer/",
              "tags": ["qa", "text"]}},
    {"kind": "model", "ref": "nlp/bert-base-qa", "seed": 8, "stage": "production", "alias": "prod",
     "links": [("trained_on", "nlp/squad-v2@v1"),
               ("produced_by", {"kind": "code", "url": "https://github.com/example/qa-train",
                                "commit": "4f1c2e9", "path": "train.py"})],
     "meta": {"creator": "eli", "owner_team": "nlp", "framework": "transformers",
              "license": "Apache-2.0",
              "params": {"lr": 3e-5, "epochs": 3, "max_len": 384},
              "metrics": {"f1": 0.764, "exact": 0.731},
              "seeds": {"python": 1234}, "tags": ["bert", "qa"]}},
    {"kind": "eval_log", "ref": "nlp/bert-base-qa-eval", "seed": 9,
     "links": [("evaluates", "nlp/bert-base-qa:prod")],
     "meta": {"creator": "fay", "owner_team": "nlp", "metrics": {"f1": 0.759}, "tags": ["eval"],
              "license": "CC-BY-SA-4.0"}},
    # fraud: raw → features → model (two versions) → backtest
    {"kind": "dataset", "ref": "fraud/transactions-2026q3", "seed": 10, "rows": 500,
     "meta": {"creator": "gus", "owner_team": "risk", "license": "LicenseRef-proprietary",
              "data_source": "warehouse.payments", "preprocessing": "card numbers dropped",
              "tags": ["tabular", "pii-free"]}},
    {"kind": "dataset", "ref": "fraud/transaction-features", "seed": 11, "rows": 500,
     "links": [("derived_from", "fraud/transactions-2026q3@v1")],
     "meta": {"creator": "gus", "owner_team": "risk",
              "preprocessing": "30-day aggregates, target encoding",
              "license": "LicenseRef-proprietary", "data_source": "fraud/transactions-2026q3",
              "tags": ["tabular", "features"]}},
    {"kind": "model", "ref": "fraud/xgb-fraud", "seed": 12,
     "links": [("trained_on", "fraud/transaction-features@v1")],
     "meta": {"creator": "hal", "owner_team": "risk", "framework": "xgboost",
              "license": "LicenseRef-proprietary",
              "params": {"max_depth": 6, "eta": 0.1, "rounds": 400}, "metrics": {"auc": 0.912},
              "seeds": {"xgb": 3}}},
    {"kind": "model", "ref": "fraud/xgb-fraud", "seed": 13,
     "links": [("trained_on", "fraud/transaction-features@v1")],
     "stage": "production", "alias": "champion",
     "meta": {"creator": "hal", "owner_team": "risk", "framework": "xgboost",
              "license": "LicenseRef-proprietary",
              "params": {"max_depth": 8, "eta": 0.05, "rounds": 900}, "metrics": {"auc": 0.931},
              "seeds": {"xgb": 3}}},
    {"kind": "eval_log", "ref": "fraud/xgb-fraud-backtest", "seed": 14,
     "links": [("evaluates", "fraud/xgb-fraud:champion")],
     "meta": {"creator": "ivy", "owner_team": "risk",
              "metrics": {"auc": 0.927, "precision_at_1pct": 0.64},
              "license": "LicenseRef-proprietary"}},
]


def _files(item: dict[str, Any]) -> list[Path]:
    name = item["ref"].replace("/", "__") + f"-{item['seed']}"
    if item["kind"] == "dataset":
        directory = _dir(name, {
            "train.csv": _csv(item["rows"], ["id", "x1", "x2", "label"], item["seed"]),
            "README.md": f"# {item['ref']}\n\n{item['meta'].get('description', '')}\n"})
        return sorted(directory.iterdir())
    if item["kind"] == "model":
        rng = random.Random(item["seed"])
        return [_write(f"{name}/weights.json", json.dumps([rng.random() for _ in range(256)])),
                _write(f"{name}/config.json",
                       json.dumps(item["meta"].get("params", {}), sort_keys=True))]
    return [_write(f"{name}/metrics.json", json.dumps(item["meta"]["metrics"], sort_keys=True))]


def _link(relation: str, target: Any) -> dict[str, Any]:
    return {"relation": relation, "external": target} if isinstance(target, dict) else \
        {"relation": relation, "target": target}


def load(client: Client, force: bool = False) -> int:
    if not force:
        try:
            client.versions("fraud", "xgb-fraud-backtest")
            print("demo corpus already loaded", file=sys.stderr)
            return 0
        except CairnError:
            pass
    promote = []
    for item in CORPUS:
        project, name = item["ref"].split("/")
        files = _files(item)
        stage = item.get("stage")
        result = client.publish(item["kind"], project, name, files, root=files[0].parent,
                                metadata=item["meta"],
                                links=[_link(r, t) for r, t in item.get("links", [])],
                                stage="staging" if stage == "production" else stage, wait=True)
        if item.get("alias"):
            client.set_alias(item["ref"], item["alias"], f"v{result.version_number}")
        if stage == "production":  # its gate needs a verdict and an evaluation: promote later
            promote.append(result.ref)
        print(f"published {result.ref}", file=sys.stderr)
    for ref in promote:
        _promote(client, ref)
    return len(CORPUS)


def _promote(client: Client, ref: str, patience_s: float = 120.0) -> None:
    """Move a version from staging to production once the validator has judged it (a version
    is published, then promoted: production's gate needs a valid verdict and an evaluation)."""
    deadline = time.monotonic() + patience_s
    while client.show(ref)["validation"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        client.set_stage(ref, "production")
        print(f"promoted {ref} to production", file=sys.stderr)
    except CairnError as exc:
        print(f"{ref} stays in staging: {exc}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo")
    parser.add_argument("--force", action="store_true", help="publish even if already loaded")
    args = parser.parse_args()
    load(Client(), force=args.force)


if __name__ == "__main__":
    main()
