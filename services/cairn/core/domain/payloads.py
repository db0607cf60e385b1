"""Build checked event payloads from what a user gives (SDK, CLI and api share these).

A publish is built from two parts, each checked once: a `Draft` (everything but the files:
names, kind, metadata, environment, links, stage, extra), which the SDK makes before it
hashes a file, and `file_entries` (the manifest); `assembled(draft, entries)` joins them
into the Published record with its digest, and `published(...)` does all three at once.
Missing optional fields get the Avro defaults (event_types.DEFAULTS, generated from the
schemas). The ledger runs checks.check_published
again, since Kafka accepts anything from anyone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from cairn.core.domain import checks
from cairn.core.domain.event_types import (
    DEFAULTS,
    DataSplit,
    Environment,
    ExternalRef,
    FileEntry,
    Link,
    Metadata,
    Published,
)
from cairn.core.domain.identity import (
    KINDS,
    InvalidInput,
    check_kind,
    check_name,
    check_stage,
    manifest_digest,
)


def defaults(record: type) -> dict[str, Any]:
    """A fresh copy of the Avro defaults of `record` (a generated TypedDict)."""
    return copy.deepcopy(DEFAULTS.get(record.__name__, {}))


def _pick(record: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `record` from `given`, its defaults for those left out (a required one
    left out is a KeyError); other keys are dropped."""
    fallback = defaults(record)
    return {k: given[k] if k in given or k not in fallback else fallback[k]
            for k in record.__annotations__}


def _record(given: Mapping[str, Any] | None, record: type, what: str) -> dict[str, Any]:
    """`given` over the defaults of `record`; a field the schema does not have is refused."""
    given = dict(given or {})
    unknown = set(given) - set(record.__annotations__)
    if unknown:
        raise InvalidInput(
            "unknown_field", f"{what} has unknown fields: {', '.join(sorted(unknown))}"
        )
    return {**defaults(record), **given}


def metadata(given: Mapping[str, Any] | None) -> Metadata:
    meta = _record(given, Metadata, "metadata")
    if not meta.get("creator"):
        raise InvalidInput("missing_creator", "metadata.creator is required (who made this?)")
    meta["metrics"] = {k: float(v) for k, v in meta["metrics"].items()}
    meta["seeds"] = {k: int(v) for k, v in meta["seeds"].items()}
    meta["data_splits"] = [_pick(DataSplit, s) for s in meta["data_splits"]]
    return cast(Metadata, meta)


def environment(given: Mapping[str, Any] | None) -> Environment:
    return cast(Environment, _record(given, Environment, "environment"))


def link(
    relation: str, target: str | None = None, external: Mapping[str, Any] | None = None
) -> Link:
    ext = None if external is None else cast(ExternalRef, _pick(ExternalRef, external))
    value: Link = {"relation": relation, "target": target, "external": ext}
    checks.check_link(value)
    return value


@dataclass(frozen=True)
class Draft:
    """A Published but its files, checked: what a publish can get wrong before any file is
    read. `extra` stays an object here (the api's request carries it so); the event
    carries it as JSON text."""

    kind: str
    project: str
    name: str
    metadata: Metadata
    environment: Environment
    links: list[Link]
    stage: str | None
    extra: dict[str, Any]  # free-form, validated per kind by the validator
    version_number: int | None = None  # an import's requested number (project admins only)
    as_recorded: bool = False  # an admin's import: the stage without the target's gates

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"

    def request(self, files: Sequence[FileEntry], receipts: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
        """The JSON of POST /v1/artifacts (nulls left out of files and links), with the
        receipts of the blobs just uploaded, if any."""
        return ({"receipts": dict(receipts)} if receipts else {}) | {
            "kind": self.kind, "project": self.project, "name": self.name,
            "files": [{k: v for k, v in f.items() if v is not None} for f in files],
            "metadata": self.metadata, "environment": self.environment,
            "links": [{k: v for k, v in lk.items() if v is not None} for lk in self.links],
            "stage": self.stage, "extra": self.extra,
        } | ({"version_number": self.version_number} if self.version_number is not None
             else {}) | ({"as_recorded": True} if self.as_recorded else {})


def draft(
    *,
    kind: str,
    project: str,
    name: str,
    metadata_: Mapping[str, Any],
    environment_: Mapping[str, Any] | None = None,
    links: Sequence[Mapping[str, Any]] = (),
    stage: str | None = None,
    extra: Mapping[str, Any] | None = None,
    kinds: tuple[str, ...] = KINDS,
    version_number: int | None = None,
    as_recorded: bool = False,
) -> Draft:
    """Every part of a publish but its files, normalised and checked once."""
    meta = metadata(metadata_)
    env = environment(environment_)
    link_list = [link(lk["relation"], lk.get("target"), lk.get("external")) for lk in links]
    check_name(project, "project")
    check_name(name)
    check_kind(kind, kinds)
    if not meta["creator"].strip():
        raise InvalidInput("missing_creator", "metadata.creator is required")
    if stage is not None:
        check_stage(stage)
    extra_ = dict(extra or {})
    checks.check_json_object(json.dumps(extra_), "extra")
    checks.check_version_number(version_number)
    return Draft(kind, project, name, meta, env, link_list, stage, extra_, version_number,
                 bool(as_recorded))


def file_entries(files: Sequence[Mapping[str, Any]], max_files: int = 10_000
                 ) -> list[FileEntry]:
    """The manifest: checked entries sorted by path."""
    entries = [cast(FileEntry, {**_pick(FileEntry, f), "size": int(f["size"])}) for f in files]
    checks.check_files(entries, max_files)
    return sorted(entries, key=lambda e: e["path"])


def assembled(draft_: Draft, entries: list[FileEntry]) -> Published:
    """The Published record of a checked draft and its checked `file_entries`."""
    return {
        "kind": draft_.kind,
        "project": draft_.project,
        "name": draft_.name,
        "digest": manifest_digest(draft_.kind, entries),
        "files": entries,
        "metadata": draft_.metadata,
        "environment": draft_.environment,
        "links": draft_.links,
        "stage": draft_.stage,
        "extra": json.dumps(draft_.extra, sort_keys=True),
        "version_number": draft_.version_number,
        "as_recorded": draft_.as_recorded,
    }


def published(
    *,
    kind: str,
    project: str,
    name: str,
    files: Sequence[Mapping[str, Any]],
    metadata_: Mapping[str, Any],
    environment: Mapping[str, Any] | None = None,
    links: Sequence[Mapping[str, Any]] = (),
    stage: str | None = None,
    extra: Mapping[str, Any] | None = None,
    kinds: tuple[str, ...] = KINDS,
    version_number: int | None = None,
    as_recorded: bool = False,
) -> Published:
    """A checked Published record from what a user gives, in one call."""
    return assembled(
        draft(kind=kind, project=project, name=name, metadata_=metadata_,
              environment_=environment, links=links, stage=stage, extra=extra, kinds=kinds,
              version_number=version_number, as_recorded=as_recorded),
        file_entries(files),
    )
