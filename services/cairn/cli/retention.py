"""`cairn retention set|show|remove|plan|apply` and `cairn archive|restore|delete|hold`.

A project's policy lives in the registry (the api, recorded by the ledger); files in the
repo's retention/ directory are how teams write and review them, and `retention set` loads
one. `plan` shows what would happen and why; `apply` does it and follows every request until
the ledger recorded or refused it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from cairn.cli import render
from cairn.cli.app import Group, app, client, command, handled
from cairn.sdk.errors import CairnError

retention = typer.Typer(cls=Group, help="Retention policies per project: plan and apply "
                        "archive and delete by policy.", no_args_is_help=True)
app.add_typer(retention, name="retention")

Project = Annotated[str, typer.Argument(metavar="PROJECT")]
Ref = Annotated[str, typer.Argument(metavar="REF", help="project/name@v3 or project/name:alias")]
Reason = Annotated[str | None, typer.Option(help="Why (kept in the audit log)",
                                            show_default=False)]
JsonOut = Annotated[bool, typer.Option("--json", help="Print plain JSON on stdout")]


@retention.command("set")
@handled
def set_policy(project: Project, file: Annotated[Path, typer.Argument(
        metavar="FILE", help="A policy file, e.g. retention/PROJECT.toml")]) -> None:
    """Store FILE as PROJECT's retention policy (checked here, recorded by the ledger)."""
    from cairn.core.domain.identity import check_name
    from cairn.sdk import retention as sdk

    policy = sdk.load_policy(file)
    with client() as c:
        status = sdk.set_policy(c, check_name(project, "project"), policy)
    render.written(f"retention policy of {project} set from {file} "
                   f"({len(policy['rules'])} rules)", status)


@retention.command("show")
@handled
def show_policy(project: Project, as_json: JsonOut = False) -> None:
    """The stored policy of PROJECT, who set it and when."""
    from rich.text import Text

    from cairn.sdk import retention as sdk

    with client() as c:
        stored = sdk.get_policy(c, project)
    if as_json:
        render.as_json(stored)
        return
    policy = stored["policy"]
    render.out.print(Text(f"{project}: {policy.get('description') or 'retention policy'} "
                          f"(set by {stored['actor']}, {render.when(stored['updated_at'])}; "
                          f"{'scheduled' if policy['scheduled'] else 'applied by hand only'})"))
    table = render._table(f"{len(policy['rules'])} rules")
    for col in ("rule", "action", "selects"):
        table.add_column(col, overflow="fold")
    for rule in policy["rules"]:
        table.add_row(rule["name"], rule["action"], _selectors(rule))
    render.out.print(table)


def _selectors(rule: Mapping[str, Any]) -> str:
    parts = [f"{key}={','.join(rule[key])}" for key in ("kinds", "stages", "tags", "statuses")
             if rule.get(key)]
    parts += [f"{key}={rule[key]}" for key in ("min_age_days", "keep_last", "unused_days")
              if rule.get(key) is not None]
    return " ".join(parts)


@retention.command("remove")
@handled
def remove_policy(project: Project) -> None:
    """Remove PROJECT's policy: nothing is planned or applied for it any more."""
    from cairn.sdk import retention as sdk

    with client() as c:
        render.written(f"retention policy of {project} removed", sdk.remove_policy(c, project))


@retention.command("plan")
@handled
def plan(project: Project, file: Annotated[Path | None, typer.Option(
        "--file", help="Plan this policy file instead of the stored policy (nothing is stored)",
        show_default=False)] = None, as_json: JsonOut = False) -> None:
    """What applying PROJECT's policy now would do, and why (nothing changes)."""
    from cairn.sdk import retention as sdk

    policy = sdk.load_policy(file) if file is not None else None
    with client() as c:
        result = sdk.plan(c, project, policy)
    if as_json:
        render.as_json(result)
    else:
        _steps(f"{project}: {len(result['actions'])} to change", result["actions"],
               result.get("protected") or ())


def _steps(title: str, steps: Sequence[Mapping[str, Any]],
           protected: Sequence[Mapping[str, Any]] = ()) -> None:
    table = render._table(title)
    table.add_column("ref", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("why", overflow="fold")
    for s in steps:
        table.add_row(s["ref"], s["action"], s["why"])
    render.out.print(table)
    if protected:
        kept = render._table(f"{len(protected)} protected (selected, never touched)")
        kept.add_column("ref", no_wrap=True)
        kept.add_column("would", no_wrap=True)
        kept.add_column("protected because", overflow="fold")
        for s in protected:
            kept.add_row(s["ref"], s["action"], "; ".join(s["protected"]))
        render.out.print(kept)


@retention.command("apply")
@handled
def apply(project: Project, as_json: JsonOut = False) -> None:
    """Archive and delete what PROJECT's policy selects now; each is an event by `archiver`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cairn.sdk import retention as sdk

    outcomes: dict[str, Any] = {}
    with client() as c:
        result = sdk.apply(c, project)
        requested = result["requested"]
        with Progress(TextColumn(f"applying {project}", style="bold", markup=False),
                      BarColumn(), MofNCompleteColumn(), console=render.err,
                      disable=as_json or not render.err.is_terminal) as bar:
            task = bar.add_task("requests", total=len(requested))

            def done(event_id: str, status: dict[str, Any] | CairnError) -> None:
                outcomes[event_id] = status
                bar.advance(task)

            sdk.wait_all(c, [r["event_id"] for r in requested], done)
    refused = {i: o for i, o in outcomes.items() if isinstance(o, CairnError)}
    if as_json:
        render.as_json({**result, "refused": {i: {"reason": e.reason, "message": e.message}
                                              for i, e in refused.items()}})
        return
    _steps(f"{project}: {len(requested) - len(refused)} of {len(requested)} applied",
           [r for r in requested if r["event_id"] not in refused], result["protected"])
    for event_id, exc in refused.items():
        render.fail(CairnError(exc.reason, f"event {event_id}: {exc.message}"))
    if refused:
        raise typer.Exit(1)


def _lifecycle(action: Callable[..., dict[str, Any]], ref: str, reason: str | None, past: str
               ) -> None:
    with client() as c:
        render.written(f"{ref} {past}", action(c, ref, reason))


@command()
def restore(ref: Ref, reason: Reason = None) -> None:
    """Make an archived version active again (its files come back from the archive tier)."""
    from cairn.sdk import retention as sdk

    _lifecycle(sdk.restore, ref, reason, "restored")


@command()
def archive(ref: Ref, reason: Reason = None) -> None:
    """Make a version read-only and move its files to the archive tier (restorable)."""
    from cairn.sdk import retention as sdk

    _lifecycle(sdk.archive, ref, reason, "archived")


@command()
def delete(ref: Ref, reason: Reason = None, yes: Annotated[bool, typer.Option(
        "--yes", help="Confirm: the files are removed for good")] = False) -> None:
    """Remove a version's files for good; its metadata and lineage stay as a tombstone."""
    from cairn.sdk import retention as sdk

    if not yes:
        raise CairnError("not_confirmed", f"deleting {ref} removes its files for good: "
                         "add --yes to confirm")
    _lifecycle(sdk.delete, ref, reason, "deleted")


@command()
def hold(ref: Ref, release: Annotated[bool, typer.Option(
        "--release", help="Lift the legal hold")] = False) -> None:
    """Put a version under legal hold (never archived or deleted), or --release it."""
    with client() as c:
        status = c.edit_metadata(ref, legal_hold=not release)
    render.written(f"{ref}: legal hold {'released' if release else 'set'}", status)
