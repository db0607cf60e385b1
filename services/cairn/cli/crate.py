"""Commands that take versions out of Cairn: `cairn reproduce` (files plus what remakes
their environment) and `cairn export` (an RO-Crate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from cairn.cli import render
from cairn.cli.app import client, command
from cairn.cli.read import JsonOut, Ref
from cairn.core.domain.reproduce import Difference


@command()
def reproduce(
    ref: Ref,
    dest: Annotated[Path | None, typer.Argument(
        metavar="DIR", help="Where the files, requirements.txt, reproduce.json and "
        "README.md go (optional with --check)", show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Compare this interpreter's packages with the captured ones; "
        "exit 1 when they differ")] = False,
    as_json: JsonOut = False,
) -> None:
    """Pull a version's files (sha256-verified) into DIR/files and write what remakes its
    environment: pinned requirements, git remote and commit, seeds, and the steps."""
    if dest is None and not check:
        raise typer.BadParameter("give DIR, or --check to compare environments only")
    with client() as c:
        if dest is not None:
            made = c.reproduce(ref, dest)
            if not check:
                render.either(
                    {"ref": made.ref, "digest": made.digest, "dir": str(dest),
                     "files": [str(p) for p in made.files],
                     "written": [str(p) for p in made.written]}, as_json,
                    lambda _: render.ok(f"{made.ref}: {len(made.files)} files in "
                                        f"{dest}/files; steps in {dest}/README.md"))
        found = c.environment_differences(ref) if check else []
    if not check:
        return
    render.either([asdict(d) for d in found], as_json, lambda _: _differences(ref, found))
    if found:
        raise typer.Exit(1)


def _differences(ref: str, found: Sequence[Difference]) -> None:
    if not found:
        render.ok(f"this environment matches the one {ref} was made in")
        return
    table = render._table(f"{len(found)} difference{'s' * (len(found) != 1)} from {ref}")
    for column in ("package", "captured", "here"):
        table.add_column(column, overflow="fold")
    for d in found:
        table.add_row(d.package, d.captured or "-", d.here or "-")
    render.out.print(table)
