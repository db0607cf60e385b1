"""`cairn reindex`: rebuild the search index from the ledger and move the alias to it.

An operator's command like `cairn audit verify`: it reads PostgreSQL (DATABASE_URL) and
writes the engine (SEARCH_URL, SEARCH_ENGINE) directly. Searches keep working throughout:
the alias points at the old index until the new one is complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from cairn.cli import render
from cairn.cli.app import app, handled
from cairn.sdk.errors import CairnError


@app.command("reindex")
@handled
def reindex(
    keep_old: Annotated[bool, typer.Option(
        "--keep-old", help="Keep the previous index (to compare, or to move the alias back)")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Rebuild the search index from the ledger into a new index, then move the alias."""
    import asyncio  # loaded when run, not for --help

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from cairn.core.adapters.settings import Settings  # pydantic: loaded when run, not for --help
    from cairn.search.errors import SearchRefused, SearchUnavailable
    from cairn.search.reindex import rebuild_index

    settings = Settings()
    with Progress(TextColumn("reindex", style="bold", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=render.err, disable=as_json or not render.err.is_terminal) as bar:
        task = bar.add_task("versions", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = asyncio.run(rebuild_index(settings, progress, keep_old=keep_old))
        except (SearchUnavailable, SearchRefused) as exc:
            raise CairnError("search_unavailable", f"{settings.search_engine} at "
                             f"{settings.search_url}: {exc}; run it again (the alias moves "
                             "only to a complete index)") from None
    if as_json:
        typer.echo(json.dumps(asdict(report)))
        return
    old = ", ".join(report.old) or "none"
    render.ok(f"{report.alias} → {report.index}: {report.versions} versions "
              f"(+{report.caught_up} caught up) in {report.seconds:g} s; previous index: {old}"
              f"{' (deleted)' if report.deleted_old else ''}")
