"""Artifact identity: canonical manifests, version digests, names, paths and references.

Pure functions only. A version's id is the sha256 of its canonical manifest (kind plus every
file's path, size and sha256), so the same content always gets the same id wherever it is
computed: in the SDK, the api or the ledger.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

KINDS = ("model", "dataset", "eval_log")
RELATIONS = ("trained_on", "evaluates", "derived_from", "produced_by", "generated_by", "uses")
STAGE_PATTERN = r"[a-z][a-z0-9_-]{0,31}"  # which stages exist is each project's ladder
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?$")
_HEX = re.compile(r"^[0-9a-f]+$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_STAGE = re.compile(f"^{STAGE_PATTERN}$")
MAX_COMPONENT_BYTES = 255  # a file or directory name (NAME_MAX)
MAX_PATH_BYTES = 4096  # a whole manifest path (PATH_MAX)


class InvalidInput(ValueError):
    """Input that a producer must fix; `reason` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_name(value: str, what: str = "name") -> str:
    if not _NAME.match(value):
        raise InvalidInput(
            f"invalid_{what}",
            f"{what} {value!r} must be 1-128 characters of a-z, 0-9, '.', '_' or '-', "
            "starting and ending with a letter or digit",
        )
    return value


def check_alias(value: str) -> str:
    if not _ALIAS.match(value) or value.startswith("v") and value[1:].isdigit():
        raise InvalidInput(
            "invalid_alias",
            f"alias {value!r} must start with a letter, use a-z, 0-9, '_' or '-', "
            "and must not look like a version number (v3)",
        )
    return value


def check_stage(value: str) -> str:
    """A stage name's syntax only: whether the project has that stage is its ladder's call
    (cairn.core.domain.lifecycle_rules), which the ledger checks in the transaction."""
    if not isinstance(value, str) or not _STAGE.match(value):
        raise InvalidInput("invalid_stage", f"stage {value!r} must start with a letter and use "
                           "at most 32 of a-z, 0-9, '_' or '-'")
    return value


def check_path(path: str) -> str:
    """A manifest path: relative, POSIX, normalised, never escaping the artifact root, and
    one that a file system can hold when it is pulled (check_path_length)."""
    if not path or "\\" in path or "\x00" in path:
        raise InvalidInput("invalid_path", f"file path {path!r} must be a non-empty POSIX path")
    check_path_length(path)
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("/"):
        raise InvalidInput("absolute_path", f"file path {path!r} must be relative")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise InvalidInput(
            "path_traversal", f"file path {path!r} must not contain '..', '.' or empty parts"
        )
    return path


def check_path_length(path: str) -> str:
    """Refuse what no common file system can hold (Linux NAME_MAX and PATH_MAX): a version
    whose paths pass here can be pulled; one that does not would fail at pull time."""
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise InvalidInput("path_too_long", f"file path {_clip(path)} is {size} bytes in "
                           f"UTF-8; at most {MAX_PATH_BYTES} are accepted: shorten it or "
                           "flatten its directories")
    for part in path.split("/"):
        length = len(part.encode("utf-8", "surrogatepass"))
        if length > MAX_COMPONENT_BYTES:
            raise InvalidInput("path_component_too_long", f"file path {_clip(path)} has a "
                               f"name ({_clip(part)}) of {length} bytes in UTF-8; a file or "
                               f"directory name may have at most {MAX_COMPONENT_BYTES}: "
                               "rename it")
    return path


def _clip(text: str, most: int = 60) -> str:
    return repr(text if len(text) <= most else f"{text[:most]}…")


def check_sha256(value: str) -> str:
    if len(value) != 64 or not _HEX.match(value):
        raise InvalidInput("invalid_sha256", f"{value!r} is not a lowercase hex sha256")
    return value


def check_kind(kind: str, allowed: Iterable[str] = KINDS) -> str:
    if kind not in allowed:
        raise InvalidInput("invalid_kind", f"kind {kind!r} must be one of {', '.join(allowed)}")
    return kind


def canonical_manifest(kind: str, files: Iterable[Mapping[str, Any]]) -> bytes:
    """The bytes a version digest is computed over: sorted, compact JSON, no metadata."""
    entries = sorted(
        ({"path": f["path"], "sha256": f["sha256"], "size": int(f["size"])} for f in files),
        key=lambda e: e["path"],
    )
    paths = [e["path"] for e in entries]
    if len(paths) != len(set(paths)):
        raise InvalidInput("duplicate_path", "a manifest lists the same path twice")
    body = {"files": entries, "kind": kind}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def manifest_digest(kind: str, files: Iterable[Mapping[str, Any]]) -> str:
    return hashlib.sha256(canonical_manifest(kind, files)).hexdigest()


@dataclass(frozen=True)
class Ref:
    """`project/name@v3`, `project/name@<digest prefix>`, `project/name:alias` or bare."""

    project: str
    name: str
    selector: str | None = None  # "v3", a digest prefix, or an alias; None means latest

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"

    def __str__(self) -> str:
        if self.selector is None:
            return self.artifact
        sep = "@" if is_version_selector(self.selector) else ":"
        return f"{self.artifact}{sep}{self.selector}"


def is_version_selector(selector: str) -> bool:
    return bool(re.match(r"^v\d+$", selector)) or (
        len(selector) >= 7 and bool(_HEX.match(selector))
    )


def parse_ref(text: str) -> Ref:
    match = re.match(r"^([^/@:\s]+)/([^/@:\s]+)(?:([@:])(\S+))?$", text.strip())
    if not match:
        raise InvalidInput(
            "invalid_ref",
            f"{text!r} is not a reference: use project/name@v3, project/name@<digest> "
            "or project/name:alias",
        )
    project, name, sep, selector = match.groups()
    check_name(project, "project")
    check_name(name)
    if sep == "@":
        selector = selector.removeprefix("sha256:")
        if not is_version_selector(selector):
            raise InvalidInput(
                "invalid_ref", f"{text!r}: after '@' give vN or at least 7 hex digits of a digest"
            )
    elif sep == ":":
        check_alias(selector)
    return Ref(project, name, selector)


def split_artifact(artifact: str) -> tuple[str, str]:
    ref = parse_ref(artifact)
    if ref.selector is not None:
        raise InvalidInput("invalid_artifact", f"{artifact!r} must be project/name")
    return ref.project, ref.name
