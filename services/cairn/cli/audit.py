"""`cairn audit verify`: recompute the ledger's hash chain from PostgreSQL.

An operator's command: it reads the database directly (DATABASE_URL), not through the api,
so a compromised api cannot vouch for a tampered log.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

from cairn.cli.app import app, handled
from cairn.core.settings import Settings

audit = typer.Typer(help="Check the integrity of the ledger.", no_args_is_help=True)
app.add_typer(audit, name="audit")


@audit.command("verify")
@handled
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Recompute every hash of the event log; exit 1 at the first entry that does not match.

    Each entry is checked by the chain format it was recorded with; entries from before
    format 2 (whose hash leaves out the state snapshot) are counted in the report."""
    from cairn.ledger.audit import verify_chain

    report = asyncio.run(verify_chain(Settings().database_url))
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "entries": report.entries,
                               "first_bad_seq": report.first_bad_seq, "problem": report.problem,
                               "legacy_entries": report.legacy}))
    elif report.ok:
        Console().print(f"[green]✓[/] hash chain intact: {report.entries} entries verified")
        if report.legacy:
            Console().print(f"  {report.legacy} of them were recorded before chain format 2:"
                            " their hash does not cover the state snapshot", style="dim")
    else:
        Console(stderr=True).print(f"[red]✗ tampering detected[/] at seq {report.first_bad_seq}: "
                                   f"{report.problem}")
    if not report.ok:
        raise typer.Exit(1)
