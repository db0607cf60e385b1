"""`cairn subscriptions add|list|show|rm|deliveries`: webhooks for a team's changes.

A subscription is checked by the SDK with the same pure check the api and the ledger use, so
a bad filter or URL is a one-line error (exit 2) before anything is sent. Every command needs a
token, reads too: subscriptions say where a team's notifications go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer

from cairn.cli import render
from cairn.cli.app import Group, app, client, handled, write

subs = typer.Typer(cls=Group, help="Webhooks that tell a team about the changes it cares about.",
                   no_args_is_help=True)
app.add_typer(subs, name="subscriptions")

Many = Annotated[list[str] | None, typer.Option(help="Repeatable; none means any",
                                                show_default=False)]
JsonOut = Annotated[bool, typer.Option("--json", help="Print plain JSON on stdout")]
SubId = Annotated[str, typer.Argument(metavar="ID", help="The subscription's id")]


class Format(StrEnum):
    json = "json"
    slack = "slack"


class State(StrEnum):
    delivered = "delivered"
    retrying = "retrying"
    dead = "dead"


@subs.command("add")
@handled
def add(
    team: Annotated[str, typer.Argument(metavar="TEAM")],
    url: Annotated[str, typer.Argument(metavar="URL", help="The webhook: http(s)://…")],
    project: Many = None, kind: Many = None, stage: Many = None, tag: Many = None,
    event_type: Annotated[list[str] | None, typer.Option(
        "--event-type", help="Published, StageChanged, AliasMoved, Verdict (also the "
        "validator's VerdictSet), ... (repeatable)",
        show_default=False)] = None,
    format: Annotated[Format, typer.Option(help="json, or slack for Slack")] = Format.json,
    description: Annotated[str | None, typer.Option(show_default=False)] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once accepted")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the ledger")] = 60.0,
    as_json: JsonOut = False,
) -> None:
    """Subscribe TEAM's webhook URL to the changes the filter options match."""
    from rich.text import Text

    accepted = write(lambda c: c.add_subscription(
        team, url, projects=project or [], kinds=kind or [], stages=stage or [], tags=tag or [],
        event_types=event_type or [], format=format.value, description=description,
        wait=not no_wait, timeout=timeout),
        lambda made: f"subscription {made['id']} for team {team}", wait=not no_wait,
        as_json=as_json)
    if as_json:
        return
    render.out.print(Text.assemble(("secret ", "bold"), accepted["secret"]), soft_wrap=True)
    render.out.print(Text(f"  verify deliveries with it: {accepted['signing']}. Only you can "
                          f"see it again: cairn subscriptions show {accepted['id']} --secret",
                          style="dim"), soft_wrap=True)


@subs.command("list")
@handled
def list_(
    team: Annotated[str | None, typer.Option(help="Only this team's", show_default=False)] = None,
    as_json: JsonOut = False,
) -> None:
    """Current subscriptions, newest first."""
    with client() as c:
        rows = c.subscriptions(team)
    if as_json:
        render.as_json(rows)
    elif not rows:
        render.out.print(f"no subscriptions{f' for team {team}' if team else ''}")
    else:
        subscriptions_list(rows)


@subs.command("show")
@handled
def show(
    sub_id: SubId,
    secret: Annotated[bool, typer.Option("--secret", help="Also print the signing secret "
                                         "(its owner only)")] = False,
    as_json: JsonOut = False,
) -> None:
    """One subscription, and where its deliveries stand."""
    from rich.text import Text

    with client() as c:
        detail = c.subscription(sub_id)
        if secret:
            detail["secret"] = c.subscription_secret(sub_id)
    if as_json:
        render.as_json(detail)
        return
    flt = _filter(detail.get("filter"))
    totals = ", ".join(f"{n} {s}" for s, n in sorted((detail.get("deliveries") or {}).items()))
    for key, value in (("id", detail["id"]), ("team", detail.get("team")),
                       ("url", detail.get("url")), ("format", detail.get("format")),
                       ("filter", flt), ("description", detail.get("description")),
                       ("owner", detail.get("owner")),
                       ("created", render.when(detail.get("created_at"))),
                       ("removed", "yes" if detail.get("removed") else None),
                       ("deliveries", totals or "none yet"), ("secret", detail.get("secret"))):
        if value:
            render.out.print(Text.assemble((f"{key:<12}", "bold cyan"), str(value)),
                             soft_wrap=True)


@subs.command("rm")
@handled
def rm(
    sub_id: SubId,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once accepted")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the ledger")] = 60.0,
) -> None:
    """Remove a subscription (its delivery log stays readable)."""
    write(lambda c: c.remove_subscription(sub_id, wait=not no_wait, timeout=timeout),
          f"subscription {sub_id} removed", wait=not no_wait)


@subs.command("test")
@handled
def test(sub_id: SubId, as_json: JsonOut = False) -> None:
    """Send one signed sample delivery now and show how the receiver answered (exit 1 if it
    did not answer 2xx). The sample is the newest change the filter matches."""
    with client() as c:
        got = c.test_subscription(sub_id)
    if as_json:
        render.as_json(got)
    else:
        render.fields({"target": got["target"], "event": got["event_type"],
                       "delivery": got["delivery"], "answer": got["status_code"],
                       "took": f"{got['duration_ms']:.0f} ms", "error": got["error"]})
    if not got["delivered"]:
        raise typer.Exit(1)
    if not as_json:
        render.ok(f"the receiver at {got['target']} took the sample delivery")


@subs.command("deliveries")
@handled
def deliveries(
    sub_id: SubId,
    state: Annotated[State | None, typer.Option(help="Only attempts that left this state",
                                                show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="Attempts per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The `next` of a previous page",
                                               show_default=False)] = None,
    as_json: JsonOut = False,
) -> None:
    """The delivery log: every attempt, newest first."""
    from rich.text import Text

    with client() as c:
        page = c.deliveries(sub_id, state=state.value if state else None, limit=limit,
                            cursor=cursor)
    if as_json:
        render.as_json(page)
        return
    if not page["deliveries"]:
        render.out.print(f"no deliveries for subscription {sub_id}")
        return
    render.out.print(deliveries_table(page["deliveries"]))
    if page.get("next"):
        render.out.print(Text(f"more: cairn subscriptions deliveries {sub_id} --cursor "
                              f"{page['next']}", style="dim"), soft_wrap=True)


def _filter(flt: Mapping[str, Sequence[str]] | None) -> str:
    parts = [f"{k}={','.join(v)}" for k, v in sorted((flt or {}).items()) if v]
    return " ".join(parts) or "everything"


def subscriptions_list(rows: Sequence[Mapping[str, Any]]) -> None:
    """One block per subscription (an id is 36 characters: a table would not fit 80
    columns), never wrapped, so each line stays greppable."""
    from rich.text import Text

    for r in rows:
        render.out.print(Text.assemble((r["id"], "bold"), "  ", (r.get("team") or "-", "cyan"),
                                       f"  {r.get('format')}  by {r.get('owner') or '-'}  "
                                       f"{render.when(r.get('created_at'))}"), soft_wrap=True)
        render.out.print(Text(f"    → {r.get('url')}"), soft_wrap=True)
        render.out.print(Text(f"    filter: {_filter(r.get('filter'))}", style="dim"),
                         soft_wrap=True)


STATE_STYLES = {"delivered": "green", "retrying": "yellow", "dead": "bold red"}


def deliveries_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Narrow enough for 80 columns: the answer is the status code, or the error when no
    answer came; the change and the answer fold, the rest never wraps."""
    from rich.text import Text

    table = render._table(f"{len(rows)} attempt{'s' * (len(rows) != 1)}, newest first")
    for col in ("when (UTC)", "seq", "change", "try", "answer", "state", "ms"):
        table.add_column(col, no_wrap=col not in ("change", "answer"), overflow="fold",
                         ratio=1 if col in ("change", "answer") else None)
    for r in rows:
        table.add_row(render.when(r.get("attempted_at"))[5:], str(r.get("seq")),
                      f"{r.get('event_type')} {r.get('artifact')}", str(r.get("attempt")),
                      str(r.get("status_code") or r.get("error") or "-"),
                      Text(str(r.get("state")), style=STATE_STYLES.get(r.get("state") or "", "")),
                      f"{float(r.get('duration_ms') or 0):.0f}")
    return table
