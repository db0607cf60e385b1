"""Build checked event payloads from what a user gives (SDK, CLI and api share these).

Missing optional fields get the Avro defaults, the version digest is computed here from the
manifest, and the same checks as the ledger's run before anything is emitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.domain import checks
from cairn.core.domain.identity import KINDS, InvalidInput, manifest_digest

METADATA_DEFAULTS: dict[str, Any] = {
    "owner_team": None,
    "license": None,
    "data_source": None,
    "preprocessing": None,
    "description": None,
    "card": None,
    "framework": None,
    "tags": [],
    "params": {},
    "metrics": {},
    "seeds": {},
    "data_splits": [],
}
ENVIRONMENT_DEFAULTS: dict[str, Any] = {
    "python": None,
    "packages": {},
    "os": None,
    "cpu": None,
    "accelerators": [],
    "container_image_digest": None,
    "git_commit": None,
    "git_dirty": None,
    "git_remote": None,
    "hostname": None,
}


def _record(
    given: Mapping[str, Any] | None, defaults: Mapping[str, Any], what: str
) -> dict[str, Any]:
    given = dict(given or {})
    unknown = set(given) - set(defaults) - {"creator"}
    if unknown:
        raise InvalidInput(
            "unknown_field", f"{what} has unknown fields: {', '.join(sorted(unknown))}"
        )
    return {**defaults, **given}


def metadata(given: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = _record(given, METADATA_DEFAULTS, "metadata")
    if not meta.get("creator"):
        raise InvalidInput("missing_creator", "metadata.creator is required (who made this?)")
    meta["metrics"] = {k: float(v) for k, v in meta["metrics"].items()}
    meta["seeds"] = {k: int(v) for k, v in meta["seeds"].items()}
    meta["data_splits"] = [
        {
            "name": s["name"],
            "rows": s.get("rows"),
            "fraction": s.get("fraction"),
            "selector": s.get("selector"),
        }
        for s in meta["data_splits"]
    ]
    return meta


def link(
    relation: str, target: str | None = None, external: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    ext = None
    if external is not None:
        ext = {
            "kind": external["kind"],
            "url": external["url"],
            "commit": external.get("commit"),
            "path": external.get("path"),
            "license": external.get("license"),
        }
    value = {"relation": relation, "target": target, "external": ext}
    checks.check_link(value)
    return value


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
) -> dict[str, Any]:
    entries = [
        {
            "path": f["path"],
            "size": int(f["size"]),
            "sha256": f["sha256"],
            "media_type": f.get("media_type"),
        }
        for f in files
    ]
    body = {
        "kind": kind,
        "project": project,
        "name": name,
        "digest": manifest_digest(kind, entries),
        "files": sorted(entries, key=lambda e: e["path"]),
        "metadata": metadata(metadata_),
        "environment": _record(environment, ENVIRONMENT_DEFAULTS, "environment"),
        "links": [link(lk["relation"], lk.get("target"), lk.get("external")) for lk in links],
        "stage": stage,
        "extra": json.dumps(dict(extra or {}), sort_keys=True),
    }
    checks.check_published(f"{project}/{name}", body, kinds)
    return body
