"""`cairn lag`: how far behind each of Cairn's consumers is, straight from Kafka."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from cairn.cli.app import app, handled


@app.command("lag")
@handled
def lag(
    as_json: Annotated[bool, typer.Option("--json", help="Print plain JSON on stdout")] = False,
) -> None:
    """Consumer lag per service and topic: records Kafka holds that it has not processed."""
    from cairn.core.adapters.lag import consumer_lag
    from cairn.core.adapters.settings import Settings

    settings = Settings()
    rows = consumer_lag(settings.kafka_bootstrap_servers, settings.topic_prefix)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows]))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title="consumer lag", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("service", no_wrap=True)
    table.add_column("topic", no_wrap=True)
    for col in ("processed", "end", "behind"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        style = "green" if r.behind == 0 else "yellow" if r.behind < 1000 else "red"
        table.add_row(_short(r.group, settings.topic_prefix, "cairn-"),
                      _short(r.topic, settings.topic_prefix, "cairn."), str(r.committed),
                      str(r.end), f"[{style}]{r.behind}[/]")
    Console().print(table if rows else "no Cairn consumer groups yet")


def _short(name: str, prefix: str, family: str) -> str:
    """`cairn-indexer.cairn-versions` → `indexer.cairn-versions`: the part that differs."""
    return name.removeprefix(prefix).removeprefix(family)
