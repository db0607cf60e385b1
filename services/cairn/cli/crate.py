"""Commands that take versions out of Cairn: `cairn reproduce` (files plus what remakes
their environment) and `cairn export` (an RO-Crate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

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


@command()
def export(
    target: Annotated[str, typer.Argument(
        metavar="REF|PROJECT", help="One version (project/name@v3, :alias) or a whole project")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="OUT", help="A .zip, or a directory", show_default=False)],
    with_lineage: Annotated[int, typer.Option(
        "--with-lineage", metavar="N", min=0, max=10,
        help="Add the versions up to N lineage links away, either way")] = 0,
    no_files: Annotated[bool, typer.Option(
        "--no-files", help="Only the metadata: each file points at its blob on the api")
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Write an RO-Crate (ro-crate-metadata.json) of versions: files with sha256, metadata,
    environment, stages, aliases, verdicts and lineage as provenance; ids kept."""
    with client() as c:
        done = c.export(target, output, with_lineage=with_lineage, files=not no_files)
    render.either(
        {"out": str(done.out), "refs": done.refs, "files": done.files, "bytes": done.bytes,
         "metadata_only": done.metadata_only},
        as_json, lambda _: render.ok(
            f"{len(done.refs)} versions, {done.files} files ({render.size(done.bytes)}) in "
            f"{done.out}" + (f"; metadata only (archived or deleted): "
                             f"{', '.join(done.metadata_only)}" if done.metadata_only else "")))


@command(name="import")
def import_(
    src: Annotated[Path, typer.Argument(metavar="CRATE", help="A .zip or a directory that "
                                        "`cairn export` wrote")],
    project_map: Annotated[list[str] | None, typer.Option(
        "--project-map", metavar="FROM=TO", help="Import project FROM's versions into TO "
        "(repeat for several)")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", help="Where a crate another tool wrote goes (each of its files or "
        "directories a dataset)", show_default=False)] = None,
    renumber: Annotated[bool, typer.Option(
        "--renumber", help="Take the target's next version numbers instead of the crate's "
        "(keeping them needs the admin role on the target project)")] = False,
    as_recorded: Annotated[bool, typer.Option(
        "--as-recorded", help="Record each stage as the crate has it, without the target's "
        "gates (admins only; the audit log shows it)")] = False,
    max_members: Annotated[int, typer.Option(
        "--max-members", min=1, help="Refuse an archive with more members")] = 100_000,
    max_bytes: Annotated[int, typer.Option(
        "--max-bytes", min=1, help="Refuse an archive unpacking to more bytes")] = 64 * 1024**3,
    as_json: JsonOut = False,
) -> None:
    """Publish the versions of a crate again (ordinary publish path): digests, version
    numbers, metadata, environment, links, aliases and stages kept; exit 1 if any version
    was refused."""
    renamed = dict(_pair(p) for p in project_map or [])
    with client() as c:
        done = c.import_crate(src, project_map=renamed, project=project,
                              keep_numbers=not renumber, as_recorded=as_recorded,
                              max_members=max_members, max_bytes=max_bytes)
    render.either([asdict(d) for d in done], as_json, lambda _: _imported(done))
    if any(d.ref is None and d.status != "skipped" for d in done):
        raise typer.Exit(1)


def _pair(text: str) -> tuple[str, str]:
    before, eq, after = text.partition("=")
    if not eq or not before or not after:
        raise typer.BadParameter(f"{text!r}: give FROM=TO")
    return before, after


def _imported(done: Sequence[Any]) -> None:
    table = render._table(f"{len(done)} version{'s' * (len(done) != 1)} imported")
    for column in ("crate", "here", "outcome"):
        table.add_column(column, overflow="fold")
    for d in done:
        outcome = d.status + (f" ({d.reason})" if d.reason else "")
        table.add_row(d.source, d.ref or "-", outcome + (" renumbered" if d.renumbered else ""))
    render.out.print(table)
