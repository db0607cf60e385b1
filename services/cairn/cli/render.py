"""Everything the CLI prints: rich tables on stdout, plain JSON for --json, errors on stderr.

Errors are one line (`error: <what to fix> [reason]`), never wrapped, so scripts can grep
them; --json output is plain `json.dumps`, never rich, so it always parses.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.sdk.errors import CairnError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from cairn.sdk.publish import PublishResult

T = TypeVar("T")
# stdout and stderr consoles, made on first use (module __getattr__ below): rich costs ~60 ms
# to import, which `cairn --help` must not pay (issue 12). User text like "[x]" is never markup.
out: Console
err: Console


def __getattr__(name: str) -> Console:
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = globals()[name] = Console(stderr=name == "err", highlight=False, markup=False)
    return made


def _console(name: str) -> Console:
    """`out` or `err` as the module holds it now (a test may have replaced it)."""
    held: Console | None = globals().get(name)
    return held if held is not None else __getattr__(name)


def _out() -> Console:
    return _console("out")


def _err() -> Console:
    return _console("err")


def as_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def either(data: T, json_wanted: bool, view: Callable[[T], None]) -> None:
    """`--json` prints `data` as plain JSON, else `view` shows it: the switch every read
    command makes, made one way."""
    if json_wanted:
        as_json(data)
    else:
        view(data)


def fail(exc: CairnError) -> None:
    from rich.text import Text

    _err().print(Text.assemble(("error: ", "bold red"), exc.message, (f" [{exc.reason}]", "dim")),
                 soft_wrap=True)


def warn(message: str, reason: str) -> None:
    """Something the user should know that is not a failure (exit code stays 0)."""
    from rich.text import Text

    _err().print(Text.assemble(("warning: ", "bold yellow"), message, (f" [{reason}]", "dim")),
                 soft_wrap=True)


def ok(message: str) -> None:
    from rich.text import Text

    _out().print(Text.assemble(("✔ ", "bold green"), message), soft_wrap=True)


def plain(value: Any) -> str:
    """A value as a person reads it, never a Python repr: '-' for nothing, yes/no, lists
    joined, a mapping as `key=value` pairs (`ana=maintainer, bob=viewer`)."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" if not isinstance(v, Mapping) else f"{k}: ({plain(v)})"
                         for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def fields(data: Mapping[str, Any]) -> None:
    """A record (whoami, a project) as aligned `key  value` lines."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in data.items():
        grid.add_row(str(key).replace("_", " "), plain(value))
    _out().print(grid)


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def when(value: Any) -> str:
    """Timestamps arrive as ISO text or epoch milliseconds; show both the same way."""
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat()
    return str(value or "-").replace("T", " ")[:19]


def published(result: PublishResult) -> None:
    short = result.digest[:12]
    if result.ref is None:
        ok(f"accepted {result.artifact} (sha256:{short}…), event {result.event_id}; "
           "not waiting for the ledger")
    elif result.outcome == "duplicate":
        ok(f"{result.ref} already has this content (sha256:{short}…); nothing changed")
    else:
        ok(f"published {result.ref} (sha256:{short}…)")


def written(what: str, status: Mapping[str, Any]) -> None:
    seq = f" (seq {status['seq']})" if status.get("seq") is not None else ""
    state = "recorded" if status.get("status") == "recorded" else "accepted"
    ok(f"{what}: {state}{seq}")


def pulled(paths: Sequence[Path], dest: Path) -> None:
    total = sum(p.stat().st_size for p in paths)
    ok(f"restored {len(paths)} file{'s' * (len(paths) != 1)} ({size(total)}) into {dest}")


def version_detail(d: Mapping[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    meta, env = d.get("metadata") or {}, d.get("environment") or {}
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold cyan", no_wrap=True)
    head.add_column(overflow="fold")  # digests and refs are never cut short
    rows = [
        ("ref", d.get("ref")), ("kind", d.get("kind")), ("digest", f"sha256:{d.get('digest')}"),
        ("stage", d.get("stage")), ("status", d.get("status")),
        ("legal hold", "held: never archived or deleted" if d.get("legal_hold") else "no"),
        ("validation", d.get("validation")), ("completeness", _score(d.get("completeness"))),
        ("aliases", ", ".join(d.get("aliases") or [])),
        ("created", f"{when(d.get('created_at'))} by {d.get('created_by') or '-'}"),
        ("creator", meta.get("creator")), ("description", meta.get("description")),
        ("tags", ", ".join(meta.get("tags") or [])), ("license", meta.get("license")),
        ("params", _pairs(meta.get("params"))), ("metrics", _pairs(meta.get("metrics"))),
        ("seeds", _pairs(meta.get("seeds"))),
        ("python", env.get("python")), ("os", env.get("os")),
        ("git", _git(env)), ("image", env.get("container_image_digest")),
    ]
    for key, value in rows:
        if value not in (None, "", "sha256:None"):
            head.add_row(key, Text(str(value)))
    _out().print(head)
    _out().print(files_table(d.get("files") or []))
    if d.get("links_out") or d.get("links_in"):
        _out().print(links_table(d))
    if d.get("verdicts"):
        verdicts(d["verdicts"])


MARKS = {"passed": ("✔", "green"), "warning": ("!", "yellow"), "failed": ("✘", "bold red")}


def verdict(ref: str, judged: Mapping[str, Any], waited: float) -> None:
    """After a publish: valid, or invalid with the checks that failed or warned and why."""
    from rich.text import Text

    state = judged.get("validation")
    if state == "pending":
        warn(f"no verdict on {ref} within {waited:g}s (the validator may be down or not judge "
             f"this project): see `cairn show {ref}` later", "verdict_pending")
        return
    flagged = [v for v in judged.get("verdicts") or [] if v.get("status") != "passed"]
    if state == "valid":
        ok(f"{ref} is valid" + (" (with warnings)" if flagged else ""))
    else:
        _out().print(Text.assemble(("✘ ", "bold red"), f"{ref} is invalid: fix what the "
                                   "checks below say and publish again"), soft_wrap=True)
    if flagged:
        verdicts(flagged)


def verdicts(rows: Sequence[Mapping[str, Any]]) -> None:
    """One line per check, then one per reason: never wrapped, so every reason stays whole
    and greppable however narrow the terminal."""
    from rich.text import Text

    _out().print(Text("checks", style="bold"))
    width = max(len(str(v.get("check"))) for v in rows)
    for v in rows:
        mark, style = MARKS.get(v.get("status") or "", ("?", "dim"))
        _out().print(Text.assemble(f"  {mark} ", (str(v.get("check")).ljust(width), style),
                                   f"  {v.get('status')}"), soft_wrap=True)
        for reason in v.get("reasons") or []:
            _out().print(Text(f"      {reason}"), soft_wrap=True)


def _score(value: Any) -> str | None:
    return None if value is None else f"{float(value):.2f}"


def _pairs(mapping: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()))


def _git(env: Mapping[str, Any]) -> str | None:
    if not env.get("git_commit"):
        return None
    dirty = " (dirty)" if env.get("git_dirty") else ""
    return f"{env['git_commit'][:12]}{dirty} {env.get('git_remote') or ''}".strip()


def _table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                 show_edge=False, pad_edge=False, collapse_padding=True)


def files_table(files: Sequence[Mapping[str, Any]]) -> Table:
    table = _table(f"{len(files)} file{'s' * (len(files) != 1)}")
    table.add_column("path", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("sha256", style="dim", no_wrap=True)
    table.add_column("media type")
    for f in files:
        table.add_row(f["path"], size(f.get("size")), str(f.get("sha256", ""))[:16],
                      f.get("media_type") or "-")
    return table


def links_table(d: Mapping[str, Any]) -> Table:
    table = _table("lineage")
    table.add_column("", no_wrap=True)
    table.add_column("relation", style="magenta", no_wrap=True)
    table.add_column("artifact", overflow="fold")
    for link in d.get("links_out") or []:  # what this version was made from
        target = (link.get("target") or {}).get("ref") or link.get("target_ref") or \
            (link.get("external") or {}).get("url", "-")
        table.add_row("upstream", link.get("relation"), str(target))
    for link in d.get("links_in") or []:  # what was made from this version
        table.add_row("downstream", link.get("relation"),
                      str((link.get("source") or {}).get("ref")))
    return table


def versions(summary: Mapping[str, Any]) -> None:
    by_version: dict[Any, list[str]] = {}
    for alias, number in (summary.get("aliases") or {}).items():
        by_version.setdefault(number, []).append(alias)
    table = _table(f"{summary.get('project')}/{summary.get('name')} ({summary.get('kind')})")
    for col in ("version", "digest", "stage", "status", "validation", "aliases", "created",
                "by"):
        table.add_column(col, no_wrap=col in ("version", "digest", "created"))
    for v in summary.get("versions") or []:
        n = v.get("version_number")
        table.add_row(f"v{n}", str(v.get("digest", ""))[:8], v.get("stage") or "-",
                      v.get("status") or "-", v.get("validation") or "-",
                      ", ".join(sorted(by_version.get(n, []))), when(v.get("created_at"))[:10],
                      v.get("created_by") or "-")
    _out().print(table)


def history(rows: Sequence[Mapping[str, Any]]) -> None:
    """One row per ledger entry of the version, oldest first; an edit also shows its full
    event id (revert needs it) and old → new under it."""
    from rich.text import Text

    table = _table(f"{len(rows)} event{'s' * (len(rows) != 1)}")
    for col in ("seq", "when", "event", "by", "detail"):
        table.add_column(col, no_wrap=col != "detail", overflow="fold")
    edits = [r for r in rows if r.get("event_type") == "MetadataEdited"]
    for r in rows:
        detail = r.get("detail") or ""
        if r.get("event_type") == "MetadataEdited":
            detail = f"reverts {r['reverts']}" if r.get("reverts") else \
                ", ".join(sorted(r.get("changes") or {}))
        table.add_row(str(r.get("seq")), when(r.get("recorded_at"))[:19], r.get("event_type"),
                      str(r.get("actor") or "-"), detail)
    _out().print(table)
    for r in edits:
        head = Text.assemble((f"edit at seq {r.get('seq')}", "bold"),
                             f"  event {r.get('event_id')}")
        if r.get("reverts"):
            head.append(f"  (reverts {r['reverts']})", style="yellow")
        _out().print(head, soft_wrap=True)
        changes, previous = r.get("changes") or {}, r.get("previous") or {}
        for key in sorted(changes if isinstance(changes, dict) else {}):
            _out().print(Text(f"    {key}: {json.dumps(previous.get(key), ensure_ascii=False)} → "
                              f"{json.dumps(changes[key], ensure_ascii=False)}"), soft_wrap=True)
    if edits:
        _out().print(Text("undo an edit with: cairn revert REF EVENT", style="dim"))
