"""Pictures in files: `cairn plot` (metrics across versions, drawn here with matplotlib) and
the file writing `cairn lineage --output` shares (that graph is drawn by the api's Graphviz,
so a laptop without Graphviz still gets one).

The format comes from the file name and is checked before anything is fetched; a file is
written whole or not at all (a temporary file beside it, then renamed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

import typer

from cairn.cli import render
from cairn.cli.app import client, command
from cairn.cli.read import JsonOut
from cairn.core.domain.identity import InvalidInput

Output = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write a picture; the format is the file's suffix",
    show_default=False)]


def output_format(path: Path, formats: Collection[str]) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        raise InvalidInput("invalid_output", f"{path}: name a file ending in "
                           f"{' or '.join('.' + f for f in formats)}")
    return fmt


def save(path: Path, data: bytes, what: str, as_json: bool, **extra: Any) -> None:
    """Write `data` to `path` whole, then say so (as JSON with --json)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if as_json:
        render.as_json({"output": str(path), "format": path.suffix.lstrip(".").lower(),
                        "bytes": len(data), **extra})
    else:
        render.ok(f"wrote {path} ({render.size(len(data))}): {what}")


@command()
def plot(
    artifact: Annotated[str, typer.Argument(metavar="PROJECT/NAME")],
    metrics: Annotated[list[str], typer.Argument(
        metavar="METRIC...", help="Names in the versions' metrics, e.g. accuracy loss")],
    output: Output = None,
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", metavar="PROJECT/NAME",
        help="Another artifact's line on the same panels (repeat for more)")] = None,
    as_json: JsonOut = False,
) -> None:
    """Each METRIC across the versions of an artifact (x = version number), stars on
    versions promoted past their project's first stage (staging, production, ...) or under
    an alias (prod, champion, ...)."""
    if output is None and not as_json:
        raise InvalidInput("missing_output", "give --output plot.png (or .svg), or --json for "
                           "the numbers")
    from cairn.core.adapters import metric_plot  # matplotlib's wrapper: loaded when drawing

    fmt = output_format(output, metric_plot.FORMATS) if output else None
    with client() as c:
        found = c.metric_series(artifact, metrics, compare or [])
    numbers = [s.as_json() for s in found]
    if output is None or fmt is None:
        render.as_json({"series": numbers})
        return
    metric_names = ", ".join(dict.fromkeys(s.metric for s in found))
    versions = {a: len({p.version for s in found if s.artifact == a for p in s.points})
                for a in dict.fromkeys(s.artifact for s in found)}
    where = "; ".join(f"{a} ({n} version{'s' * (n != 1)})" for a, n in versions.items())
    save(output, metric_plot.draw(found, fmt), f"{metric_names} of {where}", as_json,
         series=numbers)
