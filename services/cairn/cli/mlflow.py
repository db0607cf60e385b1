"""`cairn import-mlflow`: an MLflow tracking server's registered models into Cairn
(cairn.sdk.mlflow_import; the mapping is cairn.core.domain.mlflow_import)."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Annotated

import typer

from cairn.cli import render
from cairn.cli.app import client, command
from cairn.cli.read import JsonOut


@command(name="import-mlflow")
def import_mlflow(
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", metavar="URL", help="The MLflow tracking server (env "
        "MLFLOW_TRACKING_URI); credentials from MLFLOW_TRACKING_TOKEN or "
        "MLFLOW_TRACKING_USERNAME/PASSWORD", show_default=False)] = None,
    project: Annotated[str, typer.Option(
        "--project", help="The Cairn project the models and datasets go to")] = "mlflow",
    model: Annotated[list[str] | None, typer.Option(
        "--model", metavar="NAME", help="Only this registered model (repeat for several)",
        show_default=False)] = None,
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", metavar="NAME|ID", help="Only versions whose run is in this "
        "experiment (repeat for several)", show_default=False)] = None,
    as_json: JsonOut = False,
) -> None:
    """Import every registered model version (files with their sha256, run params and
    latest metrics, tags, aliases, dataset inputs linked trained_on); what is already here
    is skipped, so running it again adds only what is new. Exit 1 if anything was refused."""
    from cairn.sdk.mlflow_import import import_mlflow as run

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise typer.BadParameter("give --tracking-uri URL (or set MLFLOW_TRACKING_URI)")
    with client() as c:
        report = run(c, uri, project=project, models=model or (), experiments=experiment or ())
    render.either([asdict(o) for o in report.outcomes], as_json, lambda _: _summary(report))
    if report.refused:
        raise typer.Exit(1)


def _summary(report: object) -> None:
    from cairn.sdk.mlflow_import import Report

    assert isinstance(report, Report)
    outcomes = report.outcomes
    table = render._table(f"MLflow import: {report.count('imported')} imported, "
                          f"{report.count('skipped')} skipped (already here), "
                          f"{len(report.refused)} refused")
    for column in ("what", "mlflow", "here", "outcome"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(o.kind, o.source, o.ref or "-",
                      o.status + (f" ({o.reason})" if o.reason else ""))
    render.out.print(table)
    if not report.count("imported") and not report.refused:
        render.ok("nothing new to import: Cairn already has all of it")
