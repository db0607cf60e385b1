"""`cairn publish --from items.jsonl`: one version per line, published in bulk.

A line is a JSON object whose keys are `cairn publish`'s argument and option names:

    {"kind": "model", "artifact": "vision/resnet50", "paths": ["ckpt/step-1000.pt"],
     "metric": {"top1": 0.76}, "param": ["lr=0.1"], "tag": ["sweep-7"],
     "link": ["trained_on=vision/imnet@v1"], "directory": "/scratch/run-7"}

`kind`, `artifact` (PROJECT/NAME) and `paths` (a list, or one path) are required; `creator`,
`description`, `license`, `owner_team`, `data_source`, `framework`, `stage` and
`directory` (-C: paths are relative to it, else to the working directory) are strings;
`tag` and `link` lists of what the options take; `param`, `metric` and `seed` an object
{"k": value} or a list of "k=v". Blank lines and lines starting with # are skipped.

A line that is not such an object stops the command before anything is sent, naming its
line number; an item the SDK or the api refuses (a bad name, a missing file, a gate) is
reported on its line and the others are published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from cairn.cli import parsing
from cairn.core.domain.identity import InvalidInput
from cairn.sdk.bulk import Item, ItemResult
from cairn.sdk.errors import CairnError

Pairs = dict[str, Any] | list[str] | None


class Line(BaseModel):
    """One line of the file: `cairn publish`'s arguments and options by name."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: str
    artifact: str
    paths: list[str] | str
    creator: str | None = None
    description: str | None = None
    tag: list[str] | None = None
    param: Pairs = None
    metric: Pairs = None
    seed: Pairs = None
    link: list[str] | None = None
    stage: str | None = None
    license: str | None = None
    owner_team: str | None = None
    data_source: str | None = None
    framework: str | None = None
    directory: str | None = None


def _pairs(value: Pairs) -> list[str] | None:
    if isinstance(value, dict):
        return [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in value.items()]
    return value


def item_of(line: Line) -> Item:
    """The SDK item of a line; a value the options would refuse raises InvalidInput or
    CairnError (the item is refused, the others go on)."""
    project, _, name = line.artifact.partition("/")
    metadata = parsing.metadata(
        creator=line.creator, tags=line.tag, param=_pairs(line.param),
        metric=_pairs(line.metric), seed=_pairs(line.seed), description=line.description,
        license=line.license, owner_team=line.owner_team, data_source=line.data_source,
        framework=line.framework)
    paths = [line.paths] if isinstance(line.paths, str) else line.paths
    return Item(line.kind, project, name, paths, metadata=metadata,
                links=parsing.links(line.link), stage=line.stage, root=line.directory)


def read_lines(path: Path) -> list[tuple[int, Line]]:
    """(line number, Line) for every item; the first malformed line is a CairnError
    `invalid_option` naming its number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CairnError("invalid_option", f"--from {path}: cannot read it ({exc})") from None
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            out.append((number, Line.model_validate_json(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problem = f"{where}: {first['msg']}" if where else first["msg"]
            raise CairnError("invalid_option", f"{path}:{number}: {problem} (each line is one "
                             "JSON object; see `cairn publish --help`)") from None
    if not out:
        raise CairnError("invalid_option", f"--from {path}: the file holds no items")
    return out


def items(lines: Sequence[tuple[int, Line]]) -> tuple[list[Item | ItemResult], list[int]]:
    """Each line's item, or its refusal as an ItemResult (indexed by position), and the
    line numbers in the same order."""
    out: list[Item | ItemResult] = []
    for index, (_, line) in enumerate(lines):
        try:
            out.append(item_of(line))
        except (InvalidInput, CairnError) as exc:
            reason = exc.reason
            message = exc.message if isinstance(exc, CairnError) else str(exc)
            out.append(ItemResult(index, line.artifact, "refused", reason=reason,
                                  message=message, local=True))
    return out, [number for number, _ in lines]


def merged(prepared: Sequence[Item | ItemResult], sent: Sequence[ItemResult]
           ) -> list[ItemResult]:
    """The results of every line: those refused while reading, and those the SDK sent
    (`sent` answers the Items of `prepared`, in order)."""
    answers = iter(sent)
    out = []
    for index, given in enumerate(prepared):
        result = given if isinstance(given, ItemResult) else next(answers)
        out.append(ItemResult(**{**vars(result), "index": index}))
    return out


def report(results: Sequence[ItemResult], numbers: Sequence[int]) -> dict[str, Any]:
    """The --json form: counts, and one row per line."""
    rows = [{"line": n, **{k: v for k, v in vars(r).items() if k != "index"}}
            for r, n in zip(results, numbers, strict=True)]
    return {"items": len(rows), "recorded": sum(r.status == "recorded" for r in results),
            "accepted": sum(r.status == "accepted" for r in results),
            "refused": sum(r.status == "refused" for r in results), "results": rows}


def counts(results: Sequence[ItemResult]) -> Mapping[str, int]:
    found: dict[str, int] = {}
    for r in results:
        key = r.status if r.status != "recorded" else f"recorded ({r.outcome or 'applied'})"
        found[key] = found.get(key, 0) + 1
    return found


def show(results: Sequence[ItemResult], numbers: Sequence[int], source: Path) -> None:
    """A summary table (how many recorded, accepted, refused), then every item that is not
    recorded, by line: refused ones with their reason, accepted ones with their event."""
    from rich import box
    from rich.table import Table

    from cairn.cli import render

    summary = Table(title=f"{source}: {len(results)} items", title_justify="left",
                    title_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    summary.add_column("status")
    summary.add_column("items", justify="right")
    for status, n in counts(results).items():
        summary.add_row(status, str(n))
    render.out.print(summary)
    open_items = [(n, r) for r, n in zip(results, numbers, strict=True) if r.status != "recorded"]
    if not open_items:
        return
    detail = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("line", "artifact", "status", "reason", "message"):
        detail.add_column(column, overflow="fold")
    for n, r in open_items:
        detail.add_row(str(n), r.artifact or "", r.status, r.reason or "",
                       r.message if r.status == "refused" else f"event {r.event_id}")
    render.out.print(detail)
