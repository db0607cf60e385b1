"""Populate an MLflow tracking server with the MLflow client, as a team would (run by the
MLflow virtualenv's python, never imported by pytest): two registered models of two
versions each, every version from its own run with params, a metric logged over three
steps, a dataset input (mlflow.log_input) and files; an alias per model; ranker v2 in
stage Staging.

Usage: mlflow_seed.py TRACKING_URI SCRATCH_DIR; prints one JSON line: per version its
model, version, run id, params, the metric's last value, the dataset's name and digest,
and the sha256 of each file."""

import hashlib
import json
import os
import sys

import mlflow
import pandas as pd
from mlflow import MlflowClient

uri, scratch = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = MlflowClient()
mlflow.set_experiment("cairn-import-test")
made = []
for model in ("Churn Classifier", "ranker"):
    client.create_registered_model(model, tags={"team": "growth"},
                                   description=f"{model}, imported by Cairn's test")
    for v in (1, 2):
        with mlflow.start_run() as run:
            params = {"lr": str(0.1 / v), "depth": str(3 + v)}
            mlflow.log_params(params)
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + v + 1), step=step)
            frame = pd.DataFrame({"x": [1, 2, v], "y": [0, 1, 0]})
            data = mlflow.data.from_pandas(frame, source=f"s3://lake/{model}/train-{v}.csv",
                                           name=f"{model} train")
            mlflow.log_input(data, context="training")
            folder = os.path.join(scratch, f"{model}-{v}")
            os.makedirs(os.path.join(folder, "sub"), exist_ok=True)
            files = {"model.bin": os.urandom(5000 * v),
                     "sub/config.json": json.dumps({"model": model, "v": v}).encode()}
            for path, content in files.items():
                with open(os.path.join(folder, path), "wb") as out:
                    out.write(content)
            mlflow.log_artifacts(folder, "model")
            version = client.create_model_version(
                model, f"runs:/{run.info.run_id}/model", run.info.run_id,
                tags={"reviewed": "yes"}, description=f"{model} v{v}")
            made.append({
                "model": model, "version": version.version, "run_id": run.info.run_id,
                "params": params, "loss": 1.0 / (2 + v + 1),
                "dataset": {"name": data.name, "digest": data.digest},
                "files": {p: hashlib.sha256(c).hexdigest() for p, c in files.items()}})
    client.set_registered_model_alias(model, "champion", "1")
client.transition_model_version_stage("ranker", "2", "Staging")  # deprecated, still kept
print(json.dumps(made))
