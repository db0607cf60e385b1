"""Pure checks of incoming payloads: what the ledger refuses, with a reason code.

The SDK and api run the same checks before emitting, so most bad input never reaches
Kafka; the ledger runs them again because Kafka accepts anything from anyone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.domain.identity import (
    KINDS,
    RELATIONS,
    InvalidInput,
    check_kind,
    check_name,
    check_path,
    check_sha256,
    check_stage,
    manifest_digest,
    parse_ref,
    split_artifact,
)

EDITABLE = {
    "description": str,
    "card": str,
    "license": str,
    "owner_team": str,
    "data_source": str,
    "preprocessing": str,
    "framework": str,
    "tags": list,
    "legal_hold": bool,  # true: retention and lifecycle requests never archive or delete it
}
LIFECYCLE_ACTIONS = ("archive", "restore", "delete")
VERDICT_STATUSES = ("passed", "failed", "warning")


def check_published(
    artifact: str, body: Mapping[str, Any], kinds: tuple[str, ...] = KINDS, max_files: int = 10_000
) -> None:
    project, name = split_artifact(artifact)
    check_name(body["project"], "project")
    check_name(body["name"])
    if (body["project"], body["name"]) != (project, name):
        raise InvalidInput(
            "key_mismatch",
            f"event key {artifact} differs from the payload's {body['project']}/{body['name']}",
        )
    check_kind(body["kind"], kinds)
    files = body["files"]
    check_files(files, max_files)
    digest = manifest_digest(body["kind"], files)
    if digest != body["digest"]:
        raise InvalidInput(
            "digest_mismatch", f"digest {body['digest']} is not the manifest's sha256 ({digest})"
        )
    if not body["metadata"]["creator"].strip():
        raise InvalidInput("missing_creator", "metadata.creator is required")
    for link in body["links"]:
        check_link(link)
    if body.get("stage") is not None:
        check_stage(body["stage"])
    check_json_object(body.get("extra") or "{}", "extra")
    check_version_number(body.get("version_number"))


def check_version_number(number: object) -> None:
    """A requested version number (an import's): None, or a whole number from 1."""
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)
                               or number < 1):
        raise InvalidInput("invalid_version_number",
                           f"version_number {number!r} is not a whole number >= 1")


def check_files(files: Sequence[Mapping[str, Any]], max_files: int = 10_000) -> None:
    """A version's file list: at least one, at most `max_files`, each path, sha256 and size
    well formed."""
    if not files:
        raise InvalidInput("no_files", "an artifact version needs at least one file")
    if len(files) > max_files:
        raise InvalidInput("too_many_files", f"{len(files)} files exceed the limit of {max_files}")
    for f in files:
        check_path(f["path"])
        check_sha256(f["sha256"])
        if f["size"] < 0:
            raise InvalidInput("invalid_size", f"{f['path']}: size must not be negative")


def check_link(link: Mapping[str, Any]) -> None:
    if link["relation"] not in RELATIONS:
        raise InvalidInput(
            "invalid_relation",
            f"relation {link['relation']!r} must be one of {', '.join(RELATIONS)}",
        )
    if (link.get("target") is None) == (link.get("external") is None):
        raise InvalidInput("invalid_link", "a link needs exactly one of target or external")
    if link.get("target") is not None:
        target = link["target"]
        if target.startswith("sha256:"):
            check_sha256(target.removeprefix("sha256:"))
        else:
            parse_ref(target)
    else:
        ext = link["external"]
        if ext["kind"] not in ("code", "data"):
            raise InvalidInput("invalid_external", "external.kind must be code or data")
        if not ext["url"].startswith(("https://", "http://", "git@", "s3://", "gs://", "file:",
                                      "openlineage://")):  # a job run (core.domain.openlineage)
            raise InvalidInput("invalid_external", f"external.url {ext['url']!r} is not a URL")


def check_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("invalid_json", f"{what} must be a JSON object")
    return value


def check_metadata_changes(text: str) -> dict[str, Any]:
    changes = check_json_object(text, "changes")
    if not changes:
        raise InvalidInput("empty_edit", "a metadata edit must change at least one field")
    for key, value in changes.items():
        if key not in EDITABLE:
            raise InvalidInput(
                "not_editable",
                f"{key!r} cannot be edited; editable fields: {', '.join(sorted(EDITABLE))}",
            )
        kind = EDITABLE[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise InvalidInput("invalid_edit", f"{key} must be true or false")
        elif kind is list:
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise InvalidInput("invalid_edit", f"{key} must be a list of strings")
        elif value is not None and not isinstance(value, str):
            raise InvalidInput("invalid_edit", f"{key} must be a string or null")
    return changes


def check_verdict(body: Mapping[str, Any]) -> None:
    if body["status"] not in VERDICT_STATUSES:
        raise InvalidInput(
            "invalid_verdict", f"status must be one of {', '.join(VERDICT_STATUSES)}"
        )
    score = body.get("score")
    if score is not None and not 0.0 <= score <= 1.0:
        raise InvalidInput("invalid_score", f"score {score} must be between 0 and 1")


def check_lifecycle(body: Mapping[str, Any]) -> None:
    if body["action"] not in LIFECYCLE_ACTIONS:
        raise InvalidInput(
            "invalid_action", f"action must be one of {', '.join(LIFECYCLE_ACTIONS)}"
        )
