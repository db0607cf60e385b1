"""One search document per artifact version, built from a VersionState (pure, no I/O).

The indexer (changelog states, usage totals) and `cairn reindex` all build documents here,
so a version looks the same in the index whichever path wrote it last.

Every write is a `merge`: a scripted upsert that runs atomically on the engine, so two
sources never overwrite each other's part:

- the state part is ordered by `as_of`, the changelog seq the state is true at (a changelog
  record's seq, for its version and for the versions it took an alias from; the ledger's
  chain head when it read usage totals or a reindex read its snapshot). A state older than
  the one indexed is a no-op, so redeliveries and replays in any order end with the newest;
- the usage part only grows (the ledger's totals only grow), so each count is the larger of
  the indexed one and the incoming one; a state without usage keeps the indexed usage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cairn.core.domain.environments import environment_digest
from cairn.core.domain.identity import InvalidInput, parse_ref

DATASET_RELATIONS = ("trained_on", "derived_from", "uses")
RECOMMENDED = ("description", "license", "owner_team", "data_source", "tags", "card")
RECOMMENDED_BY_KIND = {"model": ("framework", "metrics"), "eval_log": ("metrics",)}
_MAX_FIELD_NAME = 200


def doc_id(project: str, name: str, version_number: int) -> str:
    return f"{project}/{name}@v{version_number}"


def field_name_ok(key: str) -> bool:
    """Whether a metric or param name can be a field path (`metrics.<key>`): an empty part
    (`a..b`, a leading or trailing dot) would make the engine refuse the whole document."""
    return 0 < len(key) <= _MAX_FIELD_NAME and all(part.strip() for part in key.split("."))


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _dataset(target: str | None) -> str | None:
    """`project/name` of a link target (any selector), or the digest of a `sha256:` one."""
    if not target:
        return None
    if target.startswith("sha256:"):
        return target
    try:
        return parse_ref(target).artifact
    except InvalidInput:
        return None


def completeness(kind: str, metadata: Mapping[str, Any]) -> float:
    """Share of the recommended descriptive fields that are filled in (0..1)."""
    wanted = RECOMMENDED + RECOMMENDED_BY_KIND.get(kind, ())
    return round(sum(1 for key in wanted if metadata.get(key)) / len(wanted), 4)


def _completeness(state: Mapping[str, Any], kind: str, metadata: Mapping[str, Any]) -> float:
    """The validator's score once it judged the version; until then our own estimate, so
    sorting and filtering by completeness work from the first publish."""
    judged = state.get("completeness")
    return float(judged) if judged is not None else completeness(kind, metadata)


# The engine's half of `merge`. `params`: as_of, doc (a version_document body without usage),
# usage (views, downloads) or null. Documents written before as_of existed count as oldest.
MERGE_SCRIPT = """
def src = ctx._source;
def had = src.usage;
boolean newer = src.as_of == null || params.as_of >= src.as_of;
long views = had == null ? 0L : ((Number) had.views).longValue();
long downloads = had == null ? 0L : ((Number) had.downloads).longValue();
boolean counted = false;
if (params.usage != null) {
  long v = ((Number) params.usage.views).longValue();
  long d = ((Number) params.usage.downloads).longValue();
  counted = v > views || d > downloads || had == null;
  if (v > views) { views = v; }
  if (d > downloads) { downloads = d; }
}
if (!newer && !counted) { ctx.op = 'noop'; return; }
if (newer) { src.clear(); src.putAll(params.doc); src.as_of = params.as_of; }
src.usage = ['views': views, 'downloads': downloads, 'total': views + downloads];
"""


def merge(state: Mapping[str, Any], as_of: int, usage: Mapping[str, Any] | None = None
          ) -> tuple[str, dict[str, Any]]:
    """(doc id, update body) writing a version's state as of `as_of` and, if given, its
    usage totals: see the module docstring for how it combines with what is indexed."""
    doc_id_, body = version_document(state)
    body.pop("usage")
    params = {"as_of": as_of, "doc": body,
              "usage": None if usage is None else usage_fields(usage)}
    return doc_id_, {"scripted_upsert": True, "upsert": {},
                     "script": {"lang": "painless", "source": MERGE_SCRIPT, "params": params}}


def usage_fields(usage: Mapping[str, Any] | None) -> dict[str, int]:
    views = int((usage or {}).get("views") or 0)
    downloads = int((usage or {}).get("downloads") or 0)
    return {"views": views, "downloads": downloads, "total": views + downloads}


def version_document(state: Mapping[str, Any], usage: Mapping[str, Any] | None = None
                     ) -> tuple[str, dict[str, Any]]:
    """(doc id, body) of a VersionState record as the changelog or PostgreSQL gives it."""
    content = state["content"]
    meta = content.get("metadata") or {}
    project, name, number = content["project"], content["name"], state["version_number"]
    links = content.get("links") or []
    metrics = {k: float(v) for k, v in (meta.get("metrics") or {}).items() if field_name_ok(k)}
    datasets = {_dataset(link.get("target")) for link in links
                if link.get("relation") in DATASET_RELATIONS}
    incoming = state.get("incoming") or []
    env = content.get("environment") or {}
    body = {
        "ref": doc_id(project, name, number),
        "artifact": f"{project}/{name}",
        "project": project,
        "name": name,
        "kind": content["kind"],
        "version_number": number,
        "digest": state["digest"],
        "stage": state.get("stage"),
        "status": state.get("status") or "active",
        "validation": state.get("validation") or "pending",
        "aliases": sorted(state.get("aliases") or []),
        "tags": sorted(set(meta.get("tags") or [])),
        "license": meta.get("license"),
        "creator": meta.get("creator"),
        "owner_team": meta.get("owner_team"),
        "framework": meta.get("framework"),
        "data_source": meta.get("data_source"),
        "description": meta.get("description"),
        "card": meta.get("card"),
        "datasets": sorted(d for d in datasets if d),
        "links": [{"relation": link["relation"], "target": link.get("target")}
                  for link in links if link.get("target")],
        # lineage neighbours as refs: what it links to, and the newest that link to it
        "made_from": [{"relation": link["relation"], "ref": link["target"]}
                      for link in links if link.get("target")],
        "made_into": [{"relation": i["relation"], "ref": i["source"]}
                      for i in incoming if i["relation"] != "evaluates"],
        "evaluated_by": [i["source"] for i in incoming if i["relation"] == "evaluates"],
        "metrics": metrics,
        "metric_names": sorted(metrics),
        "params": {k: _param_text(v) for k, v in (meta.get("params") or {}).items()
                   if field_name_ok(k) and v is not None},
        "created_at": int(state["created_at"]),
        "seq": int(state["updated_seq"]),
        "usage": usage_fields(usage),
        "completeness": _completeness(state, content["kind"], meta),
        # the changelog's metadata record has no legal_hold field; the state has
        "legal_hold": bool(state.get("legal_hold", meta.get("legal_hold"))),
        # a state before environments were stored by digest carries it whole: same digest
        "environment_digest": state.get("environment_digest") or environment_digest(env),
        "python": env.get("python"),
    }
    return body["ref"], body
