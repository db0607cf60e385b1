"""`cairn audit verify`: recompute the ledger's hash chain from PostgreSQL, then compare the
tables the api serves with what the chain rebuilds.

An operator's command: it reads the database directly (DATABASE_URL), not through the api,
so a compromised api cannot vouch for a tampered log; whoever runs it holds the database's
credentials, a site administrator's. The table comparison is on by default: an "intact" that
never looked at the rows the api serves said nothing about them (a stage set to production by
hand passed), and it costs one more pass over the log; `--chain-only` skips it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cairn.cli.app import Group, app, handled

audit = typer.Typer(cls=Group, help="Check the integrity of the ledger.", no_args_is_help=True)
app.add_typer(audit, name="audit")
SHOWN = 200  # differences printed as a table; --json gives every one kept


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@audit.command("verify")
@handled
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    chain_only: Annotated[bool, typer.Option(
        "--chain-only", help="Check the hash chain only, not the tables rebuilt from it")] = False,
) -> None:
    """Recompute every hash of the event log and compare every version, alias, verdict,
    metadata edit and configuration item with what the log says; exit 1 on any difference.

    Each entry is checked by the chain format it was recorded with; entries from before
    format 2 (whose hash leaves out the state snapshot) are counted in the report."""
    import asyncio  # loaded when run, not for --help

    from rich.console import Console

    from cairn.core.adapters.settings import Settings  # pydantic: loaded when run, not for --help
    from cairn.readmodel.audit import verify as run

    report = asyncio.run(run(Settings().database_url, tables=not chain_only))
    chain, state = report.chain, report.state
    if as_json:
        out: dict[str, Any] = {
            "ok": report.ok, "entries": chain.entries, "first_bad_seq": chain.first_bad_seq,
            "problem": chain.problem, "legacy_entries": chain.legacy, "tables": None}
        if state is not None:
            out["tables"] = {"ok": state.ok, "rows": state.rows, "differences": state.total,
                             "named": [d.as_dict() for d in state.differences]}
        typer.echo(json.dumps(out, default=str))
    elif not chain.ok:
        Console(stderr=True).print(f"[red]✗ tampering detected[/] at seq {chain.first_bad_seq}: "
                                   f"{chain.problem}")
    else:
        Console().print(f"[green]✓[/] hash chain intact: {chain.entries} entries verified")
        if chain.legacy:
            Console().print(f"  {chain.legacy} of them were recorded before chain format 2:"
                            " their hash does not cover the state snapshot", style="dim")
        if state is not None and state.ok:
            rows = ", ".join(f"{n} {table}" for table, n in state.rows.items())
            Console().print(f"[green]✓[/] tables match the log: {rows}")
        elif state is not None:
            _print_differences(state)
    if not report.ok:
        raise typer.Exit(1)


def _print_differences(state: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    err = Console(stderr=True)
    err.print(f"[red]✗ {state.total} table value{'s' * (state.total != 1)} the log does not "
              "vouch for[/] (edited outside the ledger):")
    table = Table("table", "key", "column", "log says", "table holds")
    for d in state.differences[:SHOWN]:
        table.add_row(d.table, d.key, d.column, _text(d.expected), _text(d.found))
    err.print(table)
    if state.total > SHOWN:
        err.print(f"… and {state.total - SHOWN} more (--json lists up to 10,000)")
