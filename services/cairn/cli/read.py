"""Commands that read Cairn: show, versions, history, pull. `--json` prints plain JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cairn.cli import render
from cairn.cli.app import client, command

JsonOut = Annotated[bool, typer.Option("--json", help="Print plain JSON on stdout")]
Ref = Annotated[str, typer.Argument(
    metavar="REF", help="project/name@v3, project/name@<digest prefix> or project/name:alias")]


@command()
def show(ref: Ref, as_json: JsonOut = False) -> None:
    """A version: files, metadata, environment and lineage both ways."""
    with client() as c:
        render.either(c.show(ref), as_json, render.version_detail)


@command()
def versions(
    artifact: Annotated[str, typer.Argument(metavar="PROJECT/NAME")], as_json: JsonOut = False
) -> None:
    """Every version of an artifact, with stages and aliases."""
    with client() as c:
        render.either(c.versions(artifact), as_json, render.versions)


@command()
def history(ref: Ref, as_json: JsonOut = False) -> None:
    """Everything that happened to a version, oldest first (published, judged, staged,
    aliased, edited, linked, archived); each metadata edit with what it replaced (undo one
    with `cairn revert`)."""
    with client() as c:
        edits = {e["event_id"]: e for e in c.history(ref)}
        rows = [{**e, **edits.get(e["event_id"], {})} for e in c.events(ref)]
    render.either(rows, as_json, render.history)


@command()
def pull(
    ref: Ref,
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="Directory to restore into")],
    as_json: JsonOut = False,
) -> None:
    """Restore every file of a version under DEST, verified byte for byte."""
    with client() as c:
        paths = c.pull(ref, dest)
    render.either([str(p) for p in paths], as_json, lambda _: render.pulled(paths, dest))
