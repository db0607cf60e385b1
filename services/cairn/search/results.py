"""Engine answers → Cairn's response shapes, and suggestions as a user types (pure).

Suggestions match word prefixes through the `*.suggest` edge n-gram subfields (a `match`
query, so typed text is never a pattern); tags and metric names are then counted with a
terms aggregation and kept only when one of their words starts with what was typed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.domain.identity import InvalidInput
from cairn.search.query import (
    FACETS,
    HIDDEN_STATUS,
    SHARED,
    MetricRange,
    SearchRequest,
    hidden_clause,
)

SUGGEST_FIELDS = {"name": "name", "tag": "tags", "metric": "metric_names"}
_WORD = re.compile(r"[^\W_]+")
_CANDIDATES = 200


def search_response(reply: Mapping[str, Any], req: SearchRequest) -> dict[str, Any]:
    hits = reply["hits"]
    aggs = reply.get("aggregations", {})
    facets = {
        facet: [{"value": b.get("key_as_string", b["key"]), "count": b["doc_count"]}  # bool: "true"
                for b in (aggs.get(facet) or aggs.get(SHARED) or {}).get(facet, {})
                .get("buckets", [])]
        for facet in FACETS
    }
    return {
        "total": hits["total"]["value"],
        "page": req.page,
        "size": req.size,
        "hits": [{**h["_source"], "id": h["_id"], "score": h.get("_score")}
                 for h in hits["hits"]],
        "facets": facets,
    }


def check_suggest(prefix: str, field: str, size: int) -> None:
    if field not in SUGGEST_FIELDS:
        raise InvalidInput("invalid_field", f"field {field!r}: suggest name, tag or metric")
    if not words(prefix) or len(prefix) > 100:
        raise InvalidInput("invalid_prefix", "prefix needs a letter or digit (at most 100 "
                           "characters)")
    if not 1 <= size <= 50:
        raise InvalidInput("invalid_page", "size must be 1..50")


def words(text: str) -> list[str]:
    """Roughly what the `cairn_query` analyzer makes of text: lower-cased letters and digits."""
    return _WORD.findall(text.lower())


def suggest_body(prefix: str, field: str, size: int = 10,
                 hidden_projects: tuple[str, ...] = ()) -> dict[str, Any]:
    check_suggest(prefix, field, size)
    visible = {"bool": {"must_not": [{"term": {"status": HIDDEN_STATUS}}]}}
    match = {"match": {f"{SUGGEST_FIELDS[field]}.suggest": {"query": prefix, "operator": "and"}}}
    query = {"bool": {"must": [match], "filter": [visible, *hidden_clause(hidden_projects)]}}
    if field == "name":
        return {"query": query, "size": size, "collapse": {"field": "artifact"},
                "sort": ["_score", {"usage.total": "desc"}, {"artifact": "asc"}],
                "_source": ["artifact", "project", "name", "kind"]}
    return {"query": query, "size": 0, "aggs": {"values": {"terms": {
        "field": SUGGEST_FIELDS[field], "size": _CANDIDATES}}}}


def _starts(value: str, typed: list[str]) -> bool:
    got = words(value)
    return all(any(w.startswith(t) for w in got) for t in typed)


def suggest_response(reply: Mapping[str, Any], prefix: str, field: str, size: int = 10
                     ) -> dict[str, Any]:
    if field == "name":
        found = [{"value": h["_source"]["artifact"], "kind": h["_source"].get("kind")}
                 for h in reply["hits"]["hits"]]
    else:
        typed = words(prefix)
        buckets = reply.get("aggregations", {}).get("values", {}).get("buckets", [])
        found = [{"value": b["key"], "count": b["doc_count"]} for b in buckets
                 if _starts(b["key"], typed)][:size]
    return {"field": field, "prefix": prefix, "suggestions": found}


def metric_names_asked(req: SearchRequest) -> list[str]:
    """The metrics a search filters or sorts by: a name no visible version has matches
    nothing, and the user should be told so rather than see 0 hits or an unsorted list."""
    key = req.sort.strip().partition(":")[0]
    sorted_by = [key.removeprefix("metric.")] if key.startswith("metric.") else []
    in_any = {m.name for group in req.any_of for m in group if isinstance(m, MetricRange)}
    return sorted({m.name for m in req.metrics} | in_any | set(sorted_by))


def _visible(hidden_projects: tuple[str, ...]) -> dict[str, Any]:
    visible = {"bool": {"must_not": [{"term": {"status": HIDDEN_STATUS}}]}}
    return {"bool": {"filter": [visible, *hidden_clause(hidden_projects)]}}


def metrics_hits_leave_open(asked: Sequence[str], req: SearchRequest, total: int
                            ) -> list[str]:
    """The asked metrics a search's own answer does not prove some visible version has.

    Each metric filter is a term or range clause every hit passed, and hits are visible
    versions only: with one hit those metrics exist, and the presence query (a count over
    the whole index, one more request per search) is needed only for the rest."""
    proven = {m.name for m in req.metrics} if total > 0 else set()
    return [name for name in asked if name not in proven]


def metric_presence_body(asked: Sequence[str], hidden_projects: tuple[str, ...] = ()
                         ) -> dict[str, Any]:
    """How many visible versions have each asked metric: one cheap `exists` count each."""
    return {"size": 0, "track_total_hits": False, "query": _visible(hidden_projects),
            "aggs": {f"m{i}": {"filter": {"exists": {"field": f"metrics.{name}"}}}
                     for i, name in enumerate(asked)}}


def missing_metrics(reply: Mapping[str, Any], asked: Sequence[str]) -> list[str]:
    aggs = reply.get("aggregations", {})
    return [name for i, name in enumerate(asked) if not aggs.get(f"m{i}", {}).get("doc_count")]


def known_metrics_body(hidden_projects: tuple[str, ...] = ()) -> dict[str, Any]:
    """Metric names of the versions the caller may see, most common first (for hints)."""
    return {"size": 0, "query": _visible(hidden_projects),
            "aggs": {"values": {"terms": {"field": SUGGEST_FIELDS["metric"],
                                          "size": _CANDIDATES}}}}


def unknown_metric_warnings(reply: Mapping[str, Any], missing: Sequence[str]
                            ) -> list[dict[str, str]]:
    """One warning per metric no visible version has, naming the closest known names."""
    known = [b["key"] for b in
             reply.get("aggregations", {}).get("values", {}).get("buckets", [])]
    warnings = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = (f"; did you mean {' or '.join(close)}?" if close
                else f"; metrics there are: {', '.join(known[:8])}" if known
                else "; no version has metrics yet")
        warnings.append({"reason": "unknown_metric",
                         "message": f"no version you can see has a metric {name!r}{hint}"})
    return warnings
