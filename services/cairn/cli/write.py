"""Commands that change Cairn: publish, alias, stage, edit, revert.

Every option is parsed and checked before a client is made, so bad input fails with a clear
one-line message before any file is hashed or any request is sent.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cairn.cli import parsing, render
from cairn.cli.app import client, command
from cairn.core.domain.identity import split_artifact
from cairn.sdk.errors import CairnError

VERDICT_WAIT_S = 30.0  # the validator judges within a second or two when it is up

Many = Annotated[list[str] | None, typer.Option(show_default=False)]
Text = Annotated[str | None, typer.Option(show_default=False)]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout")]


class Via(StrEnum):
    http = "http"
    kafka = "kafka"


@command()
def publish(
    kind: Annotated[str | None, typer.Argument(
        metavar="KIND", help="model, dataset or eval_log", show_default=False)] = None,
    artifact: Annotated[str | None, typer.Argument(
        metavar="PROJECT/NAME", show_default=False)] = None,
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH...", help="Files and directories, relative to the working directory "
        "(or -C DIR); a directory's files keep its name as a prefix. Or NAME=PATH each, "
        "PATH anywhere (absolute too), its files named NAME/... in the version",
        show_default=False)
    ] = None,
    from_file: Annotated[str | None, typer.Option(
        "--from", metavar="ITEMS.JSONL", show_default=False, help=(
            "Publish many versions, one per line: a JSON object whose keys are this "
            "command's arguments and options (kind, artifact, paths; creator, description, "
            "tag, param, metric, seed, link, stage, license, owner_team, data_source, "
            "framework, directory), e.g. {\"kind\": \"model\", \"artifact\": \"p/n\", "
            "\"paths\": [\"model.pt\"], \"metric\": {\"top1\": 0.7}}. A malformed line "
            "stops before anything is sent; a refused item is reported by its line and "
            "the exit code is 1, the others are published"))] = None,
    creator: Annotated[str | None, typer.Option(help="Who made it (default: your user name)",
                                                show_default=False)] = None,
    description: Text = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeatable")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v, repeatable")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="k=number")] = None,
    seed: Annotated[list[str] | None, typer.Option("--seed", help="k=integer")] = None,
    link: Annotated[list[str] | None, typer.Option(
        "--link", help="relation=project/name@vN (or relation=code:URL / data:URL)")] = None,
    stage: Annotated[str | None, typer.Option(
        help="Publish into this stage; it meets the stage's gate, so a gated one such as "
        "production is refused: publish, then `cairn stage REF production` once the "
        "verdict is valid", show_default=False)] = None,
    license: Text = None,
    owner_team: Text = None,
    data_source: Text = None,
    framework: Text = None,
    directory: Annotated[str | None, typer.Option(
        "-C", "--directory", help="Resolve PATHs from here instead of the working directory",
        show_default=False)] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once accepted")] = False,
    wait_verdict: Annotated[bool | None, typer.Option(
        "--wait-verdict/--no-wait-verdict", show_default=False,
        help="Wait for the validator's verdict and say why a version is invalid (default: "
        "on a terminal)")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 unless the verdict is valid (waits for it)")] = False,
    via: Annotated[Via, typer.Option(help="Send the event through the api or to Kafka")] = Via.http,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds to wait for the ledger (default: 60, with --from 600)",
        show_default=False)] = None,
    as_json: JsonOut = False,
) -> None:
    """Publish files as a new version of PROJECT/NAME (the same content is the same version),
    or many versions at once with --from ITEMS.JSONL."""
    if from_file is not None:
        per_item = (creator, description, tag, param, metric, seed, link, stage, license,
                    owner_team, data_source, framework, directory)
        if kind or artifact or paths or any(v is not None for v in per_item):
            raise CairnError("invalid_option", "with --from ITEMS.JSONL, each line gives the "
                             "kind, artifact, paths and options of its item: give none here")
        publish_many(Path(from_file), via, wait=not no_wait, timeout=timeout or 600.0,
                     as_json=as_json)
        return
    if not (kind and artifact and paths):
        raise CairnError("invalid_option", "give KIND PROJECT/NAME PATH... (or --from "
                         "ITEMS.JSONL)")
    project, name = split_artifact(artifact)
    metadata = parsing.metadata(
        creator=creator, tags=tag, param=param, metric=metric, seed=seed,
        description=description, license=license, owner_team=owner_team,
        data_source=data_source, framework=framework)
    links = parsing.links(link)
    from cairn.sdk import files as local_files  # hashing and paths: not for `cairn --help`

    files = parsing.named_files(paths, directory)
    local_files.plan(files, directory)  # refuse bad paths before making a client
    judging = not no_wait and (strict or (wait_verdict if wait_verdict is not None
                                          else sys.stdout.isatty()))
    judged: dict[str, Any] | None = None
    with client(via.value) as c:
        result = c.publish(kind, project, name, files, metadata=metadata, links=links,
                           stage=stage, root=directory, wait=not no_wait,
                           timeout=timeout or 60.0)
        if not as_json:
            render.published(result)
        if judging and result.ref is not None:
            with render.err.status("waiting for the validator's verdict…"):
                judged = c.wait_verdict(result.ref, timeout=VERDICT_WAIT_S)
    if as_json:
        render.as_json({**asdict(result), **({"validation": judged["validation"],
                                               "verdicts": judged.get("verdicts") or []}
                                              if judged else {})})
    elif judged is not None and result.ref is not None:
        render.verdict(result.ref, judged, VERDICT_WAIT_S)
    if strict and (judged is None or judged.get("validation") != "valid"):
        raise typer.Exit(1)


def publish_many(source: Path, via: Via, *, wait: bool, timeout: float, as_json: bool
                 ) -> None:
    """`publish --from`: every line read and checked, the items published in bulk, a
    summary; exit code 1 when any item was refused or is not recorded."""
    from cairn.cli import publish_from  # the SDK's bulk path loads only when used
    from cairn.sdk.bulk import ItemResult

    lines = publish_from.read_lines(source)
    prepared, numbers = publish_from.items(lines)
    to_send = [i for i in prepared if not isinstance(i, ItemResult)]
    with client(via.value) as c:
        sent = c.publish_many(to_send, wait=wait, timeout=timeout) if to_send else []
    results = publish_from.merged(prepared, sent)
    if as_json:
        render.as_json(publish_from.report(results, numbers))
    else:
        publish_from.show(results, numbers, source)
    if any(r.status == "refused" or (wait and r.status != "recorded") for r in results):
        raise typer.Exit(1)


@command()
def alias(
    artifact: Annotated[str, typer.Argument(metavar="PROJECT/NAME")],
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. prod, champion")],
    version: Annotated[str | None, typer.Argument(metavar="[VERSION]",
                                                  help="v3, 3 or a digest prefix")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias")] = False,
) -> None:
    """Point ALIAS at VERSION (aliases move; versions never change), or --delete it."""
    if delete == (version is not None):
        raise CairnError("invalid_option", "give a VERSION to move the alias to, or --delete "
                         "without a VERSION to remove it")
    with client() as c:
        if delete:
            render.written(f"{artifact}:{name} removed", c.remove_alias(artifact, name))
        else:
            status = c.set_alias(artifact, name, version)
            render.written(f"{artifact}:{name} → {version}", status)


@command()
def stage(
    ref: Annotated[str, typer.Argument(metavar="REF", help="project/name@v3 or :alias")],
    to: Annotated[str, typer.Argument(
        metavar="STAGE", help="a stage of the project's ladder (by default development, "
        "staging, production; archived always)")],
) -> None:
    """Move a version to a stage: one step forward, back to any earlier one, or to archived.

    The ledger refuses a stage the project's ladder lacks, a skipped stage and a gate not
    met, and this prints why (`cairn project show PROJECT` shows the ladder)."""
    with client() as c:
        render.written(f"{ref} is now in {to}", c.set_stage(ref, to))


@command()
def edit(
    ref: Annotated[str, typer.Argument(metavar="REF")],
    description: Text = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replaces the tags")] = None,
    license: Text = None,
    owner_team: Text = None,
    data_source: Text = None,
    framework: Text = None,
    preprocessing: Text = None,
    card: Annotated[str | None, typer.Option(help="A Markdown file: the model or dataset card",
                                             show_default=False)] = None,
) -> None:
    """Edit descriptive metadata (audited; content never changes)."""
    changes = parsing.changes(
        tags=tag, card=card, description=description, license=license,
        owner_team=owner_team, data_source=data_source, framework=framework,
        preprocessing=preprocessing)
    with client() as c:
        status = c.edit_metadata(ref, **changes)
    render.written(f"{ref}: {', '.join(sorted(changes))} edited, event {status.get('event_id')}",
                   status)


@command()
def revert(
    ref: Annotated[str, typer.Argument(metavar="REF")],
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID",
                                            help="The edit to undo (see `cairn history`)")],
) -> None:
    """Undo one metadata edit."""
    with client() as c:
        render.written(f"{ref}: edit {event_id} reverted", c.revert(ref, event_id))
