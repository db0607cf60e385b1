"""`cairn search`: find versions through the SDK's Client.search; a table of hits and a
facet summary.

The SDK checks filters with the same pure parser the api uses, so a malformed filter is a
one-line error (exit 2) before any request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli import render
from cairn.cli.app import client, command

if TYPE_CHECKING:  # the SDK and rich load when a search runs, not for `cairn --help`
    from rich.table import Table
    from rich.text import Text

    from cairn.sdk.search import FacetCount, Hit, Neighbour, SearchResult

Many = Annotated[list[str] | None, typer.Option(show_default=False)]
SUMMARY_FACETS = ("kind", "project", "stage", "tag", "validation", "framework", "license",
                  "dataset", "owner_team", "creator", "legal_hold")


@command()
def search(
    q: Annotated[str | None, typer.Argument(metavar="[TEXT]", help="Words to find")] = None,
    kind: Many = None, project: Many = None, stage: Many = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeatable")] = None,
    legal_hold: Annotated[bool | None, typer.Option(
        "--legal-hold/--no-legal-hold", help="Only versions under legal hold (or not)",
        show_default=False)] = None,
    filter: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", help="kind=model, license=mit, dataset=p/name, metric.accuracy>=0.9,"
        " ... (repeatable)")] = None,
    any_: Annotated[list[str] | None, typer.Option(
        "--any", help="Filters joined by |, any of which may match: tag=nlp|kind=dataset"
        " (OR across facets; repeatable, each must match)", show_default=False)] = None,
    created_after: Annotated[str | None, typer.Option(help="ISO date")] = None,
    created_before: Annotated[str | None, typer.Option(help="ISO date")] = None,
    sort: Annotated[str, typer.Option(
        help="relevance, created[:asc], usage or metric.NAME[:asc|:desc]")] = "relevance",
    page: int = 1,
    size: int = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the api's answer as JSON")] = False,
) -> None:
    """Search artifact versions by text, facets, metric ranges and dates."""
    with client() as c:  # the SDK checks every criterion before anything is sent
        found = c.search(q, kind=kind, project=project, stage=stage, tag=tag,
                         legal_hold=legal_hold, filter=filter, any=any_,
                         created_after=created_after,
                         created_before=created_before, sort=sort, page=page, size=size)
    if as_json:
        render.as_json(found.answer)
        return
    render.out.print(hits_table(found, sort))
    for line in lineage_lines(found.hits):
        render.out.print(line, soft_wrap=True)
    for line in facet_lines(found.facets):
        render.out.print(line, soft_wrap=True)
    for warning in found.answer.get("warnings") or ():  # e.g. a metric no version has
        render.warn(warning["message"], warning["reason"])


def _metrics(metrics: Mapping[str, Any], sort: str) -> str:
    first = sort.partition(":")[0].removeprefix("metric.") if sort.startswith("metric.") else None
    names = sorted(metrics, key=lambda n: (n != first, n))[:3]
    return "\n".join(f"{n}={metrics[n]:g}" for n in names)  # one a line: narrow, never cut


# Columns after the ref, most useful first: a narrow terminal drops them from the end
# (never cuts a ref or a metric value), and they print in this order.
COLUMNS = ("metrics", "kind", "stage", "valid", "tags", "created", "hold", "used")
GAP = 2  # what a column costs beside its text


def _cells(h: Hit, sort: str) -> dict[str, str]:
    return {"metrics": _metrics(h.metrics, sort), "kind": h.kind or "-",
            "stage": h.stage or "-", "valid": h.validation or "-",
            "tags": ", ".join(h.tags), "created": render.when(h.created_at or None)[:10],
            "hold": "held" if h.legal_hold else "-", "used": str(h.usage.get("total", 0))}


def fitting(widths: Mapping[str, int], room: int) -> list[str]:
    """The columns (of COLUMNS, in that order) that fit in `room` whole, most useful first;
    an empty one (no hit has tags, metrics) is left out."""
    chosen: list[str] = []
    for col in COLUMNS:
        need = widths[col] + GAP
        if widths[col] and need <= room:
            chosen.append(col)
            room -= need
    return [c for c in COLUMNS if c in chosen]


def hits_table(found: SearchResult, sort: str, width: int | None = None) -> Table:
    """The hits in `width` columns (the terminal's): the ref always whole, then as many other
    columns as fit whole, dropping the least useful first."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    hits, total, page, size = found.hits, found.total, found.page, found.size
    shown = f"{(page - 1) * size + 1}–{(page - 1) * size + len(hits)}" if hits else "0"
    title = f"{total} match{'es' * (total != 1)} (showing {shown})"
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True,
                  min_width=len(title))  # a narrow table (no hits) must not fold its title
    rows = [_cells(h, sort) for h in hits]
    longest = max((len(h.ref) for h in hits), default=7)
    widths = {c: max((len(line) for r in rows if r[c] != "-" for line in r[c].split("\n")),
                     default=0) for c in COLUMNS}
    widths = {c: max(w, len(c)) if w else 0 for c, w in widths.items()}
    room = (width or render.out.width) - max(longest, 7) - GAP
    columns = fitting(widths, room)
    table.add_column("version", no_wrap=True)
    for col in columns:
        table.add_column(col, no_wrap=True, justify="right" if col == "used" else "left")
    for h, r in zip(hits, rows, strict=True):
        table.add_row(Text(h.ref), *(Text(r[c] or "-") for c in columns))
    return table


NEIGHBOURS_SHOWN = 3


def _refs(line: Text, label: str, refs: Sequence[str]) -> None:
    line.append(f"  {label} ", style="dim")
    line.append(", ".join(refs[:NEIGHBOURS_SHOWN]))
    if len(refs) > NEIGHBOURS_SHOWN:
        line.append(f" +{len(refs) - NEIGHBOURS_SHOWN}", style="dim")


def _with_relation(neighbours: Sequence[Neighbour]) -> list[str]:
    return [f"{n.ref} ({n.relation})" for n in neighbours]


def lineage_lines(hits: Sequence[Hit]) -> list[Text]:
    """One line per hit that has lineage neighbours, after the table (a column would not fit
    80 columns): `p/model@v1  from p/data@v1 (trained_on)  into …  evaluated by p/eval@v1`."""
    from rich.text import Text

    lines = []
    for h in hits:
        if not (h.made_from or h.made_into or h.evaluated_by):
            continue
        line = Text(h.ref, style="bold")
        for label, refs in (("from", _with_relation(h.made_from)),
                            ("into", _with_relation(h.made_into)),
                            ("evaluated by", h.evaluated_by)):
            if refs:
                _refs(line, label, refs)
        lines.append(line)
    return [Text("lineage", style="bold cyan"), *lines] if lines else []


def facet_lines(facets: Mapping[str, Sequence[FacetCount]]) -> list[Text]:
    """One line per facet with values: `kind  model 12 · dataset 4`."""
    from rich.text import Text

    lines = []
    for name in SUMMARY_FACETS:
        buckets = facets.get(name) or []
        if not buckets:
            continue
        line = Text.assemble((f"{name:<11}", "bold cyan"))
        for i, b in enumerate(buckets[:8]):
            line.append(" · " if i else "")
            line.append(b.value)
            line.append(f" {b.count}", style="dim")
        if len(buckets) > 8:
            line.append(f" · +{len(buckets) - 8} more", style="dim")
        lines.append(line)
    return lines
