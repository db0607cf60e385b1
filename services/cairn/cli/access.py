"""Signing in and access control: `cairn login|logout|whoami`, `cairn token ...`,
`cairn project show|set|member|team`, `cairn user|team|service-account set` (administrators)
and `cairn audit log`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli import app as cli
from cairn.cli import parsing, render
from cairn.cli.app import Group, app, client, command, handled, write
from cairn.cli.audit import audit
from cairn.sdk.errors import CairnError

if TYPE_CHECKING:
    from rich.table import Table

JsonOut = Annotated[bool, typer.Option("--json", help="Print plain JSON on stdout")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the ledger recorded it")]
ROLES_HELP = "viewer, contributor, maintainer, admin; none removes"


def _show(data: Mapping[str, Any], as_json: bool) -> None:
    render.either(data, as_json, render.fields)


@command("login")
def login(
    token: Annotated[str | None, typer.Option(
        help="The token (default: read from stdin, or asked for without echo)",
        show_default=False)] = None,
) -> None:
    """Check a token against the api and store it for the CLI and SDK (mode 600)."""
    if token is None:
        token = typer.prompt("token", hide_input=True) if sys.stdin.isatty() \
            else sys.stdin.readline()
    token = token.strip()
    if not token:
        raise CairnError("missing_token", "give a token: cairn token create (as someone who "
                         "has one), or ask an administrator", local=True)
    from cairn.sdk import credentials
    from cairn.sdk.client import Client

    with Client(cli._given.api_url, token) as c:
        me = c.whoami()
        url = c.api_url
    path = credentials.save(url, token)
    render.ok(f"logged in to {url} as {me['name']} ({me['kind']}); the token is in {path}")


@command("logout")
def logout() -> None:
    """Forget the stored token."""
    from cairn.sdk import credentials

    gone = credentials.forget()
    render.ok(f"removed {credentials.config_path()}" if gone else "no stored token")


@command("whoami")
def whoami(as_json: JsonOut = False) -> None:
    """Who the api takes you for: name, teams, scopes, roles in projects."""
    with client() as c:
        _show(c.whoami(), as_json)


tokens = typer.Typer(cls=Group, help="API tokens: made, listed and revoked.", no_args_is_help=True)
app.add_typer(tokens, name="token")


@tokens.command("create")
@handled
def token_create(
    owner: Annotated[str | None, typer.Option(help="A service account you own, or (admins) "
                                              "anyone; default: you", show_default=False)] = None,
    scope: Annotated[list[str] | None, typer.Option(help="read, publish, maintain, admin "
                                                    "(repeatable; default read and publish)",
                                                    show_default=False)] = None,
    expires_in_days: Annotated[int, typer.Option(help="1 to 3650")] = 90,
    description: Annotated[str | None, typer.Option(show_default=False)] = None,
    wait: Wait = True, as_json: JsonOut = False,
) -> None:
    """Make a token; it is printed once and never again."""
    made = write(lambda c: c.create_token(owner, scope or ["read", "publish"], expires_in_days,
                                          description, wait=wait), lambda made: (
        f"token {made['id']} for {made['owner']} ({', '.join(made['scopes'])}, "
        f"until {render.when(made['expires_at'])})"), wait=wait, as_json=as_json)
    if as_json:
        return
    from rich.text import Text

    render.out.print(made["token"], soft_wrap=True)
    render.out.print(Text("shown once: store it now (cairn login --token …)", style="dim"))


@tokens.command("list")
@handled
def token_list(owner: Annotated[str | None, typer.Option(show_default=False)] = None,
               as_json: JsonOut = False) -> None:
    """Your tokens (or OWNER's): ids, scopes, expiry, revoked; never the secrets."""
    with client() as c:
        rows = c.tokens(owner)
    if as_json:
        render.as_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked"] else "expired" if r["expired"] else "active"
        render.out.print(f"{r['id']}  {r['owner']}  {','.join(r['scopes'])}  {state}  until "
                         f"{render.when(r['expires_at'])}  {r.get('description') or ''}")


@tokens.command("revoke")
@handled
def token_revoke(token_id: Annotated[str, typer.Argument(metavar="ID")], wait: Wait = True
                 ) -> None:
    """Revoke a token for good."""
    write(lambda c: c.revoke_token(token_id, wait=wait), f"token {token_id} revoked", wait=wait)


projects = typer.Typer(cls=Group, help="Project visibility, members and roles.",
                       no_args_is_help=True)
app.add_typer(projects, name="project")
Project = Annotated[str, typer.Argument(metavar="PROJECT")]


def _project(c: Any, project: str) -> dict[str, Any]:
    current = c.project(project)
    return {"visibility": current["visibility"], "members": current.get("members") or {},
            "teams": current.get("teams") or {},
            "read_only_after_days": current.get("read_only_after_days"),
            "description": current.get("description"), "lifecycle": current.get("lifecycle")}


def _put_project(project: str, change: dict[str, Any], wait: bool) -> None:
    with client() as c:
        body = {**_project(c, project), **change}
    write(lambda c: c.set_project(project, body, wait=wait), f"project {project}", wait=wait)


@projects.command("show")
@handled
def project_show(project: Project, as_json: JsonOut = False) -> None:
    """Visibility, your role, and (to members) members and teams."""
    with client() as c:
        _show(c.project(project), as_json)


@projects.command("set")
@handled
def project_set(
    project: Project,
    visibility: Annotated[str | None, typer.Option(help="public or private",
                                                   show_default=False)] = None,
    read_only_after_days: Annotated[int | None, typer.Option(
        help="Versions older than this refuse edits and stage moves; -1 removes",
        show_default=False)] = None,
    description: Annotated[str | None, typer.Option(show_default=False)] = None,
    stages: Annotated[str | None, typer.Option(
        help="The stage ladder in order, e.g. development,staging,canary,production "
             "(archived always follows)", show_default=False)] = None,
    gate: Annotated[list[str] | None, typer.Option(
        help="STAGE=ROLE[+valid][+evaluation]: what entering STAGE needs (STAGE=none "
             "removes it); repeat for more stages", show_default=False)] = None,
    protected_aliases: Annotated[str | None, typer.Option(
        help="Aliases only maintainers may move, e.g. prod,champion", show_default=False)
    ] = None,
    wait: Wait = True,
) -> None:
    """Change a project's settings (admins of the project; administrators the first time)."""
    change: dict[str, Any] = {}
    if stages is not None or gate or protected_aliases is not None:
        with client() as c:
            current = _project(c, project)["lifecycle"]
        change["lifecycle"] = parsing.lifecycle(current, stages=stages, gates=gate,
                                                protected_aliases=protected_aliases)
    if visibility is not None:
        change["visibility"] = visibility
    if read_only_after_days is not None:
        change["read_only_after_days"] = None if read_only_after_days < 0 else \
            read_only_after_days
    if description is not None:
        change["description"] = description
    _put_project(project, change, wait)


def _grant(project: str, field: str, name: str, role: str, wait: bool) -> None:
    with client() as c:
        current = _project(c, project)
    held = dict(current[field])
    if role == "none":
        held.pop(name, None)
    else:
        held[name] = role
    _put_project(project, {field: held}, wait)


@projects.command("member")
@handled
def project_member(project: Project, name: str, role: Annotated[str, typer.Argument(
        help=ROLES_HELP)], wait: Wait = True) -> None:
    """Give a user or service account a role in the project (or none)."""
    _grant(project, "members", name, role, wait)


@projects.command("team")
@handled
def project_team(project: Project, team: str, role: Annotated[str, typer.Argument(
        help=ROLES_HELP)], wait: Wait = True) -> None:
    """Give a team a role in the project (or none)."""
    _grant(project, "teams", team, role, wait)


@command("user")
def user_set(
    name: str, admin: Annotated[bool, typer.Option(help="A registry administrator")] = False,
    disabled: Annotated[bool, typer.Option(help="Refuse all of its tokens")] = False,
    display_name: Annotated[str | None, typer.Option(show_default=False)] = None,
    email: Annotated[str | None, typer.Option(show_default=False)] = None, wait: Wait = True,
) -> None:
    """Create or change a user (administrators)."""
    write(lambda c: c.set_user(name, admin=admin, disabled=disabled, display_name=display_name,
                               email=email, wait=wait), f"user {name}", wait=wait)


@command("team")
def team_set(name: str, member: Annotated[list[str] | None, typer.Option(
        help="Repeatable: the whole member list", show_default=False)] = None,
        description: Annotated[str | None, typer.Option(show_default=False)] = None,
        wait: Wait = True) -> None:
    """Create a team or replace its members (administrators)."""
    write(lambda c: c.set_team(name, member or [], description, wait=wait), f"team {name}",
          wait=wait)


@command("service-account")
def service_account_set(
    name: str, owner: Annotated[str | None, typer.Option(help="The user who manages its "
                                                         "tokens", show_default=False)] = None,
    trusted: Annotated[bool, typer.Option(help="May publish to Kafka for other actors")] = False,
    disabled: bool = False, description: Annotated[str | None, typer.Option(
        show_default=False)] = None, wait: Wait = True,
) -> None:
    """Create or change a service account (administrators)."""
    write(lambda c: c.set_service_account(name, owner=owner, trusted=trusted, disabled=disabled,
                                          description=description, wait=wait),
          f"service account {name}", wait=wait)


@audit.command("log")
@handled
def audit_log(
    project: Annotated[str | None, typer.Option(show_default=False)] = None,
    actor: Annotated[str | None, typer.Option(show_default=False)] = None,
    action: Annotated[list[str] | None, typer.Option(help="Event types, e.g. StageChanged, "
                                                     "AccessDenied (repeatable)",
                                                     show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="ISO time", show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="ISO time", show_default=False)] = None,
    limit: int = 50, as_json: JsonOut = False,
) -> None:
    """Who did what, newest first (administrators; a project's maintainers with --project)."""
    with client() as c:
        page = c.audit_log(project=project, actor=actor, actions=action or [], since=since,
                           until=until, limit=limit)
    render.either(page, as_json, lambda p: render.out.print(audit_table(p["entries"])))


def audit_table(entries: Sequence[Mapping[str, Any]]) -> Table:
    """The audit log with headers; the subject column (a ref, a config key or a refused
    request) folds rather than pushing the others off an 80-column terminal."""
    table = render._table(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    for col, justify in (("seq", "right"), ("when", "left"), ("actor", "left"),
                         ("action", "left"), ("outcome", "left")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("subject", overflow="fold")
    table.add_column("detail", overflow="fold")
    for e in entries:
        what = e["ref"] or e["subject"]
        if e["denial"]:
            what = f"{e['denial']['method']} {e['denial']['path']} → {e['denial']['status']}"
        table.add_row(str(e["seq"]), render.when(e["recorded_at"]), e["actor"], e["action"],
                      e["outcome"], what, e.get("detail") or "")
    return table
